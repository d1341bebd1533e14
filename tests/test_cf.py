"""Tests of mtrec_lib.cf: hand examples, a loop-by-loop Surprise reference, top-N models, validation."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

from mtrec_lib import cf, metrics

# A matrix small enough to check by hand (the notebook's example). 0 = not rated.
#            i1 i2 i3 i4
TINY = np.array(
    [
        [5, 3, 0, 1],  # u1
        [4, 0, 0, 1],  # u2
        [1, 1, 0, 5],  # u3
        [0, 1, 5, 4],  # u4
    ],
    dtype=float,
)


def tiny_frame() -> pd.DataFrame:
    u, i = np.nonzero(TINY)
    return pd.DataFrame(
        {"user_id": [f"u{x + 1}" for x in u], "item_id": [f"i{x + 1}" for x in i], "rating": TINY[u, i]}
    )


# --------------------------------------------------------------------------- similarity by hand


def test_similarities_by_hand():
    r = tiny_frame()
    cos = cf.similarity_matrix(r, "cosine")
    # u1, u2 co-rate i1, i4: (5*4 + 1*1) / sqrt((25 + 1) * (16 + 1))
    assert cos.loc["u1", "u2"] == pytest.approx(21 / math.sqrt(26 * 17))
    # u1, u3 co-rate i1, i2, i4
    assert cos.loc["u1", "u3"] == pytest.approx((5 + 3 + 5) / math.sqrt(35 * 27))
    pea = cf.similarity_matrix(r, "pearson")
    a, b = np.array([5, 3, 1.0]), np.array([1, 1, 5.0])
    assert pea.loc["u1", "u3"] == pytest.approx(np.corrcoef(a, b)[0, 1])
    msd = cf.similarity_matrix(r, "msd")
    assert msd.loc["u1", "u2"] == pytest.approx(1 / (((5 - 4) ** 2 + 0) / 2 + 1))
    # u2 and u4 share only i4: Pearson over one point has zero variance -> 0.
    assert pea.loc["u2", "u4"] == 0.0
    assert np.allclose(np.diag(cos), 1.0) and np.allclose(cos, cos.T)
    # min_support: u2-u4 have one co-rated item only.
    assert cf.similarity_matrix(r, "cosine", min_support=2).loc["u2", "u4"] == 0.0
    items = cf.similarity_matrix(r, "cosine", user_based=False)
    # i1, i4 co-rated by u1, u2, u3: (5 + 4 + 5) / sqrt((25 + 16 + 1) * (1 + 1 + 25))
    assert items.loc["i1", "i4"] == pytest.approx(14 / math.sqrt(42 * 27))


# --------------------------------------------------------------------------- reference implementation


def _reference(
    train: pd.DataFrame, test: pd.DataFrame, sim_name, user_based, k, centered, min_support=1, shrinkage=100
):
    """Surprise's KNNBasic / KNNWithMeans, loop by loop (similarities.pyx, knns.py)."""
    rows = list(train[["user_id", "item_id", "rating"]].itertuples(index=False))
    xr, yr = {}, {}
    for u, i, r in rows:
        x, y = (u, i) if user_based else (i, u)
        xr.setdefault(x, []).append((y, r))
        yr.setdefault(y, []).append((x, r))
    mu = float(np.mean([r for *_, r in rows]))
    means = {x: np.mean([r for _, r in v]) for x, v in xr.items()}
    if sim_name == "pearson_baseline":
        n_u, n_i = train.user_id.nunique(), train.item_id.nunique()
        enc_u = {v: j for j, v in enumerate(pd.unique(train.user_id))}
        enc_i = {v: j for j, v in enumerate(pd.unique(train.item_id))}
        bu = np.zeros(n_u)
        bi = np.zeros(n_i)
        ur_, ir_ = {}, {}
        for u, i, r in rows:
            ur_.setdefault(enc_u[u], []).append((enc_i[i], r))
            ir_.setdefault(enc_i[i], []).append((enc_u[u], r))
        for _ in range(10):
            for i in range(n_i):
                bi[i] = sum(r - mu - bu[u] for u, r in ir_[i]) / (10 + len(ir_[i]))
            for u in range(n_u):
                bu[u] = sum(r - mu - bi[i] for i, r in ur_[u]) / (15 + len(ur_[u]))
        bx = {u: bu[j] for u, j in enc_u.items()} if user_based else {i: bi[j] for i, j in enc_i.items()}
        by = {i: bi[j] for i, j in enc_i.items()} if user_based else {u: bu[j] for u, j in enc_u.items()}

    def sim(a, b):
        if a == b:
            return 1.0
        da, db = dict(xr[a]), dict(xr[b])
        common = [y for y in da if y in db]
        n = len(common)
        ms = max(2, min_support) if sim_name == "pearson_baseline" else min_support
        if n < ms or n == 0:
            return 0.0
        ra, rb = np.array([da[y] for y in common]), np.array([db[y] for y in common])
        if sim_name == "msd":
            return 1 / (np.sum((ra - rb) ** 2) / n + 1)
        if sim_name == "cosine":
            return float(ra @ rb / math.sqrt((ra @ ra) * (rb @ rb)))
        if sim_name == "pearson":
            num = n * (ra @ rb) - ra.sum() * rb.sum()
            den = math.sqrt((n * (ra @ ra) - ra.sum() ** 2) * (n * (rb @ rb) - rb.sum() ** 2))
            return 0.0 if den == 0 else num / den
        pa = np.array([da[y] - (mu + bx[a] + by[y]) for y in common])
        pb = np.array([db[y] - (mu + bx[b] + by[y]) for y in common])
        den = math.sqrt((pa @ pa) * (pb @ pb))
        return (0.0 if den == 0 else float(pa @ pb / den)) * (n - 1) / (n - 1 + shrinkage)

    lo, hi = train.rating.min(), train.rating.max()
    out = []
    for u, i in test[["user_id", "item_id"]].itertuples(index=False):
        x, y = (u, i) if user_based else (i, u)
        if x not in xr or y not in yr:
            out.append(mu)
            continue
        nb = heapq.nlargest(k, [(x2, sim(x, x2), r) for x2, r in yr[y]], key=lambda t: t[1])
        s_sim = s_r = 0.0
        n_used = 0
        for x2, s, r in nb:
            if s > 0:
                s_sim += s
                s_r += s * ((r - means[x2]) if centered else r)
                n_used += 1
        if centered:
            est = means[x] + (s_r / s_sim if n_used >= 1 else 0.0)
        else:
            est = s_r / s_sim if n_used >= 1 else mu
        out.append(min(hi, max(lo, est)))
    return np.array(out)


def _random_ratings(seed, n_users=25, n_items=18, n=220):
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, size=n, replace=False)
    df = pd.DataFrame(
        {"user_id": pairs // n_items, "item_id": pairs % n_items, "rating": rng.integers(1, 6, n).astype(float)}
    )
    test = pd.DataFrame({"user_id": rng.integers(0, n_users + 2, 60), "item_id": rng.integers(0, n_items + 2, 60)})
    return df, test  # test holds unseen users/items and duplicated pairs


@pytest.mark.filterwarnings("ignore:.*not seen in fit:UserWarning")  # the test rows hold unseen ids on purpose
@pytest.mark.parametrize("sim_name", ["msd", "cosine", "pearson", "pearson_baseline"])
@pytest.mark.parametrize("user_based", [True, False])
@pytest.mark.parametrize("centered", [False, True])
def test_knn_equals_surprise_reference(sim_name, user_based, centered):
    train, test = _random_ratings(hash((sim_name, user_based, centered)) % 1000)
    for k in (1, 3, 40):  # k=1, 3: ties at the k-th similarity happen and must break alike
        model = (cf.UserKNN if user_based else cf.ItemKNN)(k=k, similarity=sim_name, centered=centered)
        got = model.fit(train).predict(test)
        want = _reference(train, test, sim_name, user_based, k, centered)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_knn_matches_scikit_surprise_when_installed():
    surprise = pytest.importorskip("surprise")
    train, test = _random_ratings(7, n_users=60, n_items=40, n=900)
    data = surprise.Dataset.load_from_df(train, surprise.Reader(rating_scale=(1, 5)))
    ts = data.construct_trainset(data.raw_ratings)
    for centered, algo_cls in [(False, surprise.KNNBasic), (True, surprise.KNNWithMeans)]:
        for name in ("msd", "pearson"):
            algo = algo_cls(k=5, sim_options={"name": name}, verbose=False).fit(ts)
            want = np.array([algo.predict(u, i).est for u, i in test.itertuples(index=False)])
            got = cf.UserKNN(k=5, similarity=name, centered=centered, rating_scale=(1, 5)).fit(train).predict(test)
            np.testing.assert_allclose(got, want, atol=1e-12)


def test_tie_breaking_prefers_earlier_training_rows():
    # u0 is equally similar (msd, one identical rating) to u1 and u2; with k=1 the
    # neighbour listed first among the raters of item 9 wins, as in Surprise.
    rows = [("u0", 1, 4.0), ("u1", 1, 4.0), ("u2", 1, 4.0), ("u2", 9, 1.0), ("u1", 9, 5.0)]
    train = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    q = pd.DataFrame({"user_id": ["u0"], "item_id": [9]})
    assert cf.UserKNN(k=1).fit(train).predict(q)[0] == 1.0
    assert cf.UserKNN(k=1).fit(train.iloc[[0, 1, 2, 4, 3]]).predict(q)[0] == 5.0


def test_fallbacks_are_documented_values():
    r = tiny_frame()
    mu = r.rating.mean()
    q = pd.DataFrame({"user_id": ["new", "u1", "u2"], "item_id": ["i1", "new", "i3"]})
    with pytest.warns(
        UserWarning,
        match=r"1 of 3 rows have a user_id not seen in fit \(1 user\) and 1 of 3 rows "
        r"have an item_id not seen in fit \(1 item\); they get the global mean",
    ):
        basic = cf.UserKNN(k=2, similarity="pearson").fit(r).predict(q)
    # unknown user / unknown item: global mean; u2's only rater of i3 (u4) has
    # Pearson 0 with u2, so no positive neighbour: global mean too.
    np.testing.assert_allclose(basic, [mu, mu, mu])
    with pytest.warns(UserWarning, match="not seen in fit"):
        centered = cf.UserKNN(k=2, similarity="pearson", centered=True).fit(r).predict(q)
    np.testing.assert_allclose(centered, [mu, mu, r[r.user_id == "u2"].rating.mean()])


def test_predictions_clipped_to_rating_scale():
    train = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [1, 2, 1, 2], "rating": [5.0, 1.0, 1.0, 5.0]})
    train = pd.concat([train, pd.DataFrame({"user_id": [3, 3], "item_id": [1, 3], "rating": [5.0, 5.0]})])
    m = cf.UserKNN(centered=True, rating_scale=(1, 5)).fit(train)
    assert m.predict(pd.DataFrame({"user_id": [3], "item_id": [2]}))[0] <= 5.0
    assert cf.UserKNN(rating_scale=(2, 3)).fit(train).predict(train).max() <= 3.0


# --------------------------------------------------------------------------- matrix factorisation


def test_biased_mf_recovers_low_rank_ratings_and_is_deterministic():
    rng = np.random.default_rng(0)
    n_u, n_i = 120, 80
    truth = (
        3
        + rng.normal(0, 0.5, (n_u, 1))
        + rng.normal(0, 0.5, (1, n_i))
        + rng.normal(0, 0.6, (n_u, 2)) @ rng.normal(0, 0.6, (2, n_i))
    )
    mask = rng.random((n_u, n_i)) < 0.3
    u, i = np.nonzero(mask)
    df = pd.DataFrame({"user_id": u, "item_id": i, "rating": truth[u, i]})
    test_mask = ~mask
    tu, ti = np.nonzero(test_mask)
    test = pd.DataFrame({"user_id": tu, "item_id": ti, "rating": truth[tu, ti]})
    mf = cf.BiasedMF(n_factors=4, n_epochs=15, reg=0.05, seed=1).fit(df)
    err = metrics.rmse(test.rating, mf.predict(test))
    base = metrics.rmse(test.rating, np.full(len(test), df.rating.mean()))
    assert err < 0.5 * base
    again = cf.BiasedMF(n_factors=4, n_epochs=15, reg=0.05, seed=1).fit(df).predict(test)
    np.testing.assert_array_equal(mf.predict(test), again)
    # Unknown user: mu + b_i; unknown item: mu + b_u; both unknown: mu.
    q = pd.DataFrame({"user_id": [-1, 0, -1], "item_id": [0, -1, -1]})
    bi, bu = mf.item_bias_[mf.item_ids_.get_loc(0)], mf.user_bias_[mf.user_ids_.get_loc(0)]
    want = [mf.global_mean_ + bi, mf.global_mean_ + bu, mf.global_mean_]
    with pytest.warns(
        UserWarning,
        match=r"BiasedMF.predict\(df\): 2 of 3 rows have a user_id not seen in fit "
        r"\(1 user\) and 2 of 3 rows have an item_id",
    ):
        np.testing.assert_allclose(mf.predict(q), np.clip(want, df.rating.min(), df.rating.max()))


# --------------------------------------------------------------------------- top-N


def _implicit(seed=0, n_users=60, n_items=30):
    rng = np.random.default_rng(seed)
    pop = 1 / np.arange(1, n_items + 1)
    rows = set()
    for u in range(n_users):
        for i in rng.choice(n_items, size=rng.integers(2, 10), replace=False, p=pop / pop.sum()):
            rows.add((u, int(i)))
    return pd.DataFrame(sorted(rows), columns=["user_id", "item_id"])


@pytest.mark.parametrize(
    "model",
    [
        cf.Popularity(),
        cf.ItemTopN(k=5),
        cf.ItemTopN(k=5, similarity="conditional_probability"),
        cf.EASE(lam=10.0),
        cf.ItemKNN(k=5),
        cf.UserKNN(k=5),
        cf.BiasedMF(n_factors=2),
    ],
    ids=lambda m: type(m).__name__,
)
def test_recommend_frame_contract(model):
    train = _implicit().assign(rating=4.0)
    recs = model.fit(train).recommend([0, 1, 999], n=5)
    assert list(recs.columns) == ["user_id", "item_id", "score", "rank"]
    assert recs.groupby("user_id")["rank"].apply(list).tolist() == [[1, 2, 3, 4, 5]] * 3
    assert (recs.groupby("user_id")["score"].diff().dropna() <= 0).all()
    seen = set(map(tuple, train[["user_id", "item_id"]].to_numpy()))
    assert not any((u, i) in seen for u, i in recs[["user_id", "item_id"]].to_numpy())
    # An unseen user gets the most popular items.
    top_pop = train.item_id.value_counts().index[:5].tolist()
    assert sorted(recs[recs.user_id == 999].item_id) == sorted(top_pop)
    keep_seen = model.recommend([0], n=40, exclude_seen=False)
    assert len(keep_seen) == train.item_id.nunique()


def test_topk_item_similarity_against_dense_and_blocks():
    x = sp.csr_matrix(_implicit(3).pipe(lambda d: (np.ones(len(d)), (d.user_id, d.item_id))))
    b = x.toarray()
    xn = b / np.linalg.norm(b, axis=1, keepdims=True)
    dense = xn.T @ xn
    norm = np.sqrt(np.diag(dense))
    dense = dense / norm[:, None] / norm[None, :]
    np.fill_diagonal(dense, 0)
    k = 4
    got = cf.topk_item_similarity(x, k=k, normalize=False).toarray()
    for row, want in zip(got, dense):
        kth = np.sort(want)[-k]
        assert np.count_nonzero(row) <= k
        np.testing.assert_allclose(row[row > 0], want[row > 0])
        assert (row[want > kth] > 0).all()  # everything strictly above the k-th value is kept
    normed = cf.topk_item_similarity(x, k=k)
    np.testing.assert_allclose(np.asarray(normed.sum(1)).ravel()[np.diff(normed.indptr) > 0], 1.0)
    tiny_blocks = cf.topk_item_similarity(x, k=k, block_entries=1)
    assert (abs(tiny_blocks - normed)).max() < 1e-15
    # Conditional probability by the formula, without row normalisation.
    cp = cf.topk_item_similarity(
        x, k=30, similarity="conditional_probability", alpha=0.5, row_normalize=False, normalize=False
    )
    co = b.T @ b
    f = b.sum(0)
    want = co / f[:, None] / f[None, :] ** 0.5
    np.fill_diagonal(want, 0)
    np.testing.assert_allclose(cp.toarray(), want)


def test_ease_closed_form():
    train = _implicit(4)
    model = cf.EASE(lam=5.0).fit(train)
    x = model.seen_.toarray()
    g = x.T @ x + 5.0 * np.eye(x.shape[1])
    # Column j of B minimises ||x_j - X b||^2 + lam ||b||^2 with b_j = 0 (a direct check).
    for j in (0, 3, 7):
        others = np.delete(np.arange(x.shape[1]), j)
        bj = np.linalg.solve(g[np.ix_(others, others)], x[:, others].T @ x[:, j])
        np.testing.assert_allclose(model.weights_[others, j], bj, atol=1e-10)
        assert model.weights_[j, j] == 0


def test_item_topn_beats_popularity_on_structured_data():
    # Two taste groups: the group's own items are the relevant ones.
    rng = np.random.default_rng(5)
    rows = []
    for u in range(200):
        g = u % 2
        items = rng.choice(np.arange(20) + 20 * g, size=8, replace=False)
        rows += [(u, int(i)) for i in items]
    rows += [(u, 40) for u in range(0, 200, 3)]  # one globally popular item
    df = pd.DataFrame(rows, columns=["user_id", "item_id"])
    test = df.groupby("user_id").tail(3)
    train = df.drop(test.index)
    p_item = metrics.precision_at_k(cf.ItemTopN(k=10).fit(train).recommend(n=5), test, k=5)
    p_pop = metrics.precision_at_k(cf.Popularity().fit(train).recommend(n=5), test, k=5)
    p_ease = metrics.precision_at_k(cf.EASE(lam=10).fit(train).recommend(n=5), test, k=5)
    assert p_item > p_pop + 0.1 and p_ease > p_pop + 0.1


# --------------------------------------------------------------------------- validation and API


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda d: d.assign(rating=d.rating.astype(str) + "*"), "numeric"),
        (lambda d: d.assign(rating=np.where(d.index == 0, np.nan, d.rating)), "NaN"),
        (lambda d: d.iloc[:0], "empty"),
        (lambda d: d.drop(columns="rating"), "rating"),
        (lambda d: pd.concat([d, d.iloc[:1]]), "repeat"),
    ],
)
def test_bad_training_frames(bad, match):
    r = tiny_frame()
    for model in (cf.UserKNN(), cf.ItemKNN(), cf.BiasedMF()):
        with pytest.raises(ValueError, match=match):
            model.fit(bad(r))


def test_bad_parameters_and_unfitted():
    r = tiny_frame()
    with pytest.raises(ValueError, match="similarity"):
        cf.UserKNN(similarity="jaccard").fit(r)
    with pytest.raises(ValueError, match="k must be"):
        cf.UserKNN(k=0).fit(r)
    with pytest.raises(ValueError, match="lam"):
        cf.EASE(lam=0).fit(r)
    with pytest.raises(ValueError, match="unknown algorithm 'slow'"):
        cf.UserKNN(algorithm="slow").fit(r)
    with pytest.raises(NotFittedError, match="UserKNN is not fitted yet; call fit first"):
        cf.UserKNN().predict(r)
    with pytest.raises(ValueError, match="missing column"):
        cf.UserKNN().fit(r).predict(r.drop(columns="item_id"))


def test_sklearn_conventions():
    m = cf.UserKNN(k=7, similarity="cosine")
    assert m.get_params()["k"] == 7 and m.set_params(k=3).k == 3
    assert not hasattr(m, "similarity_")  # the constructor only stores parameters
    assert m.fit(tiny_frame()) is m
    assert cf.ItemTopN().fit(_implicit()).similarity_.format == "csr"


@pytest.mark.slow
def test_movielens_100k_reference_numbers():
    import mtrec_lib as mt

    r = mt.data.load_movielens_100k(progress=False).ratings
    idx = np.random.RandomState(0).permutation(len(r))
    test, train = r.iloc[idx[:20_000]], r.iloc[idx[20_000:]]
    with pytest.warns(UserWarning, match="40 of 20000 rows have an item_id not seen in fit"):  # one per call
        assert metrics.rmse(test.rating, cf.UserKNN(k=40).fit(train).predict(test)) < 0.99
        assert metrics.rmse(test.rating, cf.UserKNN(k=40, centered=True).fit(train).predict(test)) < 0.96
        assert metrics.rmse(test.rating, cf.BiasedMF().fit(train).predict(test)) < 0.934
    tr, te = mt.data.split(r, method="stratified", test_size=0.25, seed=42)
    recs = cf.EASE(lam=500).fit(tr).recommend(te.user_id.unique(), n=10)
    assert metrics.precision_at_k(recs, te, 10) >= 0.412
    assert metrics.ndcg_at_k(recs, te, 10) >= 0.475


def test_ties_at_the_cut_go_to_the_earlier_items():
    # Items 10..15 are each bought by one user, so Popularity scores them all 1: a list of 3
    # must take the three earliest in the model's item order, whatever numpy's selection does.
    train = pd.DataFrame({"user_id": [0, 1, 2, 3, 4, 5, 6, 6], "item_id": [15, 14, 13, 12, 11, 10, 10, 99]})
    model = cf.Popularity().fit(train)
    order = list(model.item_ids_)
    recs = model.recommend([7], n=3)  # an unseen user: most popular items
    assert recs.item_id.tolist()[0] == 10  # bought twice: first
    tied = [i for i in order if i not in (10,)][:2]  # then the two earliest of the ties
    assert recs.item_id.tolist()[1:] == tied

    # The same choice on a hand example with an excluded (seen) item: scores fixed per user.
    class Fixed(cf.Popularity):
        def _score(self, codes):
            return np.array([[0.0, 1.0, 1.0, 1.0, 9.0], [5.0, 0.0, 0.0, 0.0, 0.0]])[codes]

    fixed = Fixed().fit(
        pd.DataFrame({"user_id": ["a", "b"], "item_id": [14, 13]}).pipe(
            lambda d: pd.concat([d, pd.DataFrame({"user_id": ["c"] * 3, "item_id": [10, 11, 12]})])
        )
    )
    assert fixed.item_ids_.tolist() == [14, 13, 10, 11, 12]
    # a: 12 first (9.0), then the earliest of 13, 10, 11 (tied at 1.0); b has seen 13: 14 (5.0), then 10.
    recs = fixed.recommend(["a", "b"], n=2)
    assert recs[["user_id", "item_id", "rank"]].to_numpy().tolist() == [
        ["a", 12, 1],
        ["a", 13, 2],
        ["b", 14, 1],
        ["b", 10, 2],
    ]
