"""Tests of mtrec_lib.rerank: MMR and fast greedy DPP against naive references, the frame API, errors."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtrec_lib import rerank as rr


# --------------------------------------------------------------------------- naive references
def naive_mmr(scores: np.ndarray, sim: np.ndarray, n: int, lam: float) -> list[int]:
    """MMR written as in the paper: a loop over candidates, max over the chosen set.

    Exact ties (e.g. every item at lambda 0 before the first pick) go to the higher score.
    """
    chosen: list[int] = []
    for _ in range(min(n, len(scores))):
        best, best_val = None, (-np.inf, -np.inf)
        for i in range(len(scores)):
            if i in chosen:
                continue
            red = max((sim[i, j] for j in chosen), default=0.0)
            val = (lam * scores[i] - (1 - lam) * red, scores[i])
            if val > best_val:
                best, best_val = i, val
        chosen.append(best)
    return chosen


def naive_dpp(scores: np.ndarray, sim: np.ndarray, n: int, alpha: float, eps: float = 1e-10) -> list[int]:
    """Greedy MAP by recomputing log det L[Y + i] from scratch (numpy slogdet) at every step.

    L = diag(exp(alpha r)) S diag(exp(alpha r)); an item whose squared residual in S,
    det S[Y + i] / det S[Y], is below eps is not eligible; stop when none is left.
    """
    q = np.exp(alpha * scores)
    kernel = q[:, None] * sim * q[None, :]
    chosen: list[int] = []
    logdet_s = 0.0
    for _ in range(n):
        best, best_val, best_s = None, -np.inf, None
        for i in range(len(scores)):
            if i in chosen:
                continue
            idx = chosen + [i]
            sign_s, ld_s = np.linalg.slogdet(sim[np.ix_(idx, idx)])
            if sign_s <= 0 or ld_s - logdet_s < np.log(eps):
                continue
            _, ld_l = np.linalg.slogdet(kernel[np.ix_(idx, idx)])
            if ld_l > best_val:
                best, best_val, best_s = i, ld_l, ld_s
        if best is None:
            break
        chosen.append(best)
        logdet_s = best_s
    return chosen


def random_psd(rng: np.random.Generator, n_items: int, rank: int) -> np.ndarray:
    b = rng.normal(size=(n_items, rank))
    return b @ b.T / rank


# --------------------------------------------------------------------------- MMR
def test_doctests():
    result = doctest.testmod(rr)
    assert result.attempted >= 10 and result.failed == 0


@given(st.lists(st.integers(0, 5), min_size=1, max_size=30), st.integers(1, 40))
@settings(max_examples=60, deadline=None)
def test_mmr_lambda_one_is_sorting_by_score(values, n):
    # Integer scores: many exact ties, which must keep the input order (a stable sort).
    scores = np.array(values, dtype=float)
    sim = random_psd(np.random.default_rng(len(values)), len(values), 4)
    got = rr.mmr(scores, sim, n, lambda_=1.0)
    assert got.tolist() == np.argsort(-scores, kind="stable")[:n].tolist()


@given(st.integers(0, 10_000), st.integers(2, 25), st.integers(1, 12), st.floats(0.0, 1.0))
@settings(max_examples=60, deadline=None)
def test_mmr_matches_the_papers_loop(seed, n_items, n, lam):
    rng = np.random.default_rng(seed)
    scores = rng.uniform(size=n_items)
    sim = rr.cosine_similarity(rng.uniform(size=(n_items, 5)))
    assert rr.mmr(scores, sim, n, lambda_=lam).tolist() == naive_mmr(scores, sim, n, lam)


def test_mmr_by_hand():
    # Item 1 is a near-copy of item 0; at lambda 0.5 the comedy (item 2) goes second:
    # item 1: 0.5 * 0.8 - 0.5 * 0.95 = -0.075 < item 2: 0.5 * 0.3 - 0 = 0.15.
    sim = np.array([[1, 0.95, 0], [0.95, 1, 0], [0, 0, 1.0]])
    assert rr.mmr([0.9, 0.8, 0.3], sim, 3, lambda_=0.5).tolist() == [0, 2, 1]
    assert rr.mmr([0.9, 0.8, 0.3], sim, 3, lambda_=1.0).tolist() == [0, 1, 2]
    assert rr.mmr([0.9, 0.8, 0.3], sim, 10).tolist() == [0, 2, 1]  # n capped at N


# --------------------------------------------------------------------------- DPP
@given(st.integers(0, 10_000), st.integers(2, 25), st.integers(1, 12), st.floats(0.0, 0.95))
@settings(max_examples=60, deadline=None)
def test_dpp_fast_greedy_equals_naive_greedy(seed, n_items, n, theta):
    rng = np.random.default_rng(seed)
    sim = random_psd(rng, n_items, int(rng.integers(1, n_items + 3)))  # full rank or not
    scores = rng.uniform(size=n_items)
    alpha = theta / (2 * (1 - theta))
    got = rr.dpp_greedy(scores, sim, n, theta=theta)
    assert got.tolist() == naive_dpp(scores, sim, n, alpha)
    # theta and the kernel's alpha are two names of one trade-off
    assert rr.dpp_greedy(scores, sim, n, alpha=alpha).tolist() == got.tolist()


@pytest.mark.parametrize("rank", [1, 3, 7])
def test_dpp_stops_at_the_rank_of_the_kernel(rank):
    rng = np.random.default_rng(rank)
    sim = random_psd(rng, 40, rank)
    scores = rng.uniform(size=40)
    got = rr.dpp_greedy(scores, sim, 20, theta=0.7)
    assert len(got) == rank  # n > rank: stops, no NaN, no repeats
    assert len(set(got.tolist())) == rank
    assert np.linalg.matrix_rank(sim[np.ix_(got, got)]) == rank
    full = rr.dpp_greedy(scores, sim, 20, theta=0.7, ridge=0.05)  # the identity gives every item room
    assert len(full) == 20 and len(set(full.tolist())) == 20


def test_dpp_features_equal_their_cosine_matrix():
    rng = np.random.default_rng(3)
    feats = (rng.uniform(size=(30, 6)) < 0.3).astype(float)  # genre-like flags, some rows all zero
    feats[4] = 0.0
    scores = rng.uniform(size=30)
    for ridge in (0.0, 0.2):
        a = rr.dpp_greedy(scores, feats, 10, theta=0.6, ridge=ridge)
        b = rr.dpp_greedy(scores, rr.cosine_similarity(feats), 10, theta=0.6, ridge=ridge)
        assert a.tolist() == b.tolist()
    assert rr.mmr(scores, feats, 10).tolist() == rr.mmr(scores, rr.cosine_similarity(feats), 10).tolist()


def test_dpp_extremes_and_determinism():
    rng = np.random.default_rng(5)
    sim = random_psd(rng, 50, 50)
    scores = rng.normal(size=50)
    assert rr.dpp_greedy(scores, sim, 10, theta=1.0).tolist() == np.argsort(-scores)[:10].tolist()
    # theta near 1: still the model's order on a well-conditioned kernel
    assert rr.dpp_greedy(scores, sim, 10, theta=0.9999).tolist() == np.argsort(-scores)[:10].tolist()
    # theta = 0: relevance plays no part beyond breaking the first tie of a unit diagonal
    unit = rr.cosine_similarity(rng.normal(size=(50, 60)))
    assert rr.dpp_greedy(scores, unit, 5, theta=0.0)[0] == int(np.argmax(scores))
    shuffled = rr.dpp_greedy(scores[::-1], unit[::-1, ::-1], 5, theta=0.0)
    assert sorted(49 - shuffled[1:]) == sorted(rr.dpp_greedy(scores, unit, 5, theta=0.0)[1:])
    assert rr.dpp_greedy(scores, sim, 10).tolist() == rr.dpp_greedy(scores, sim, 10).tolist()


# --------------------------------------------------------------------------- top_k_per_user
def test_top_k_per_user_by_hand_with_ties_and_a_short_user():
    log = pd.DataFrame(
        {
            "user_id": ["b", "a", "b", "a", "b", "a", "c"],
            "item_id": [1, 2, 3, 4, 5, 6, 7],
            "score": [0.5, 0.2, 0.9, 0.7, 0.5, 0.7, 0.1],
        },
        index=[40, 41, 42, 43, 44, 45, 46],
    )
    out = rr.top_k_per_user(log, "score", k=2)
    # users in order of first appearance (b, a, c), each by rank; "b" ties at 0.5 between rows 40
    # and 44 and "a" at 0.7 between rows 43 and 45: the earlier row wins; "c" has one row only
    assert out.index.tolist() == [42, 40, 43, 45, 46]
    assert out["rank"].tolist() == [1, 2, 1, 2, 1]
    pd.testing.assert_frame_equal(out.drop(columns="rank"), log.loc[[42, 40, 43, 45, 46]])
    # scores as an array in row order, or as a Series aligned on the index (here over more rows)
    by_array = rr.top_k_per_user(log.drop(columns="score"), log["score"].to_numpy(), k=2)
    pd.testing.assert_frame_equal(by_array, out.drop(columns="score"))
    wider = pd.concat([log["score"], pd.Series([9.0], index=[99])]).iloc[::-1]  # other order, extra row
    pd.testing.assert_frame_equal(rr.top_k_per_user(log, wider, k=2), out)
    # k larger than every list: everything, ranked; an existing rank column is replaced
    full = rr.top_k_per_user(log.assign(rank=0), "score", k=10)
    assert full.index.tolist() == [42, 40, 44, 43, 45, 41, 46]
    assert full["rank"].tolist() == [1, 2, 3, 1, 2, 3, 1]
    # the same selection as sorting the whole log by score with a stable sort
    ranked = log.sort_values("score", ascending=False, kind="stable").groupby("user_id").head(2)
    assert sorted(out.index) == sorted(ranked.index)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(-3, 3)), min_size=1, max_size=40), st.integers(1, 5))
def test_top_k_per_user_matches_a_stable_sort(rows, k):
    log = pd.DataFrame(rows, columns=["user_id", "score"]).astype({"score": float})
    out = rr.top_k_per_user(log, "score", k=k)
    ranked = log.sort_values("score", ascending=False, kind="stable").groupby("user_id").head(k)
    assert sorted(out.index) == sorted(ranked.index)
    for _, g in out.groupby("user_id"):
        assert g["score"].is_monotonic_decreasing and g["rank"].tolist() == list(range(1, len(g) + 1))
        tied = g.groupby("score").apply(lambda t: t.index.is_monotonic_increasing, include_groups=False)
        assert tied.all()


def test_top_k_per_user_bad_input_names_the_problem():
    log = pd.DataFrame({"user_id": [1, 1, 2], "score": [0.1, 0.2, 0.3]})
    with pytest.raises(ValueError, match="'user_id'"):
        rr.top_k_per_user(log.rename(columns={"user_id": "user"}), "score")
    with pytest.raises(ValueError, match="'user_id'"):
        rr.top_k_per_user(log.assign(user_id=[1, None, 2]), "score")
    with pytest.raises(ValueError, match="'pctr'"):
        rr.top_k_per_user(log, "pctr")
    with pytest.raises(ValueError, match="'score'"):
        rr.top_k_per_user(log.assign(score=["x", "y", "z"]), "score")
    with pytest.raises(ValueError, match="NaN"):
        rr.top_k_per_user(log, [0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match="2 values for 3"):
        rr.top_k_per_user(log, [0.1, 0.2])
    with pytest.raises(ValueError, match="index label 2"):
        rr.top_k_per_user(log, log["score"].iloc[:2])
    with pytest.raises(ValueError, match="unique index"):
        rr.top_k_per_user(log, pd.Series([0.1, 0.2, 0.3], index=[0, 0, 1]))
    with pytest.raises(ValueError, match="k must be"):
        rr.top_k_per_user(log, "score", k=0)
    with pytest.raises(TypeError, match="DataFrame"):
        rr.top_k_per_user(log.to_numpy(), "score")


# --------------------------------------------------------------------------- frame API
def make_candidates(seed: int = 0, n_users: int = 6, n_items: int = 40, per_user: int = 15):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        k = per_user if u != 2 else 4  # one user with fewer candidates than n
        items = rng.choice(n_items, k, replace=False)
        rows += [(f"u{u}", f"i{i}", float(s)) for i, s in zip(items, rng.normal(size=k))]
    cands = pd.DataFrame(rows, columns=["user_id", "item_id", "score"])
    flags = (rng.uniform(size=(n_items, 5)) < 0.35).astype(int)
    flags[np.arange(n_items), rng.integers(0, 5, n_items)] = 1  # every item has a feature
    feats = pd.DataFrame(flags, index=[f"i{i}" for i in range(n_items)], columns=list("abcde"))
    return cands, feats


def test_rerank_full_relevance_keeps_the_models_order():
    cands, feats = make_candidates()
    expected = (
        cands.sort_values(["user_id", "score"], ascending=[True, False], kind="stable").groupby("user_id").head(10)
    )
    for kw in ({"method": "mmr", "lambda_": 1.0}, {"method": "dpp", "theta": 1.0}):
        out = rr.rerank(cands, feats, n=10, **kw)
        assert list(out.columns) == ["user_id", "item_id", "score", "rank"]
        got = out.sort_values(["user_id", "rank"])
        assert got["item_id"].tolist() == expected["item_id"].tolist()
        assert (
            out.groupby("user_id")["rank"].apply(list)
            == out.groupby("user_id")["rank"].apply(lambda r: list(range(1, len(r) + 1)))
        ).all()
    assert len(out[out["user_id"] == "u2"]) == 4


@pytest.mark.parametrize(
    "method,kw", [("mmr", {"lambda_": 0.4}), ("dpp", {"theta": 0.6, "ridge": 0.1}), ("dpp", {"theta": 0.3})]
)
def test_rerank_equals_the_single_list_functions(method, kw):
    cands, feats = make_candidates(1)
    out = rr.rerank(cands, feats, method, n=8, batch_size=4, fill=False, **kw)  # several batches
    for user, group in cands.groupby("user_id", sort=False):
        g = group.sort_values("score", ascending=False, kind="stable")
        s = g["score"].to_numpy()
        rel = (s - s.min()) / (s.max() - s.min())
        f = feats.loc[g["item_id"]].to_numpy()
        if method == "mmr":
            idx = rr.mmr(rel, f, 8, kind="features", **kw)
        else:
            idx = rr.dpp_greedy(rel, f, 8, kind="features", **kw)
        mine = out[out["user_id"] == user].sort_values("rank")
        assert mine["item_id"].tolist() == g["item_id"].to_numpy()[idx].tolist()
        assert mine["score"].tolist() == g["score"].to_numpy()[idx].tolist()  # original scores kept


def test_rerank_similarity_frame_equals_features_and_fill():
    cands, feats = make_candidates(2)
    sim = pd.DataFrame(rr.cosine_similarity(feats.to_numpy()), index=feats.index, columns=feats.index)
    for method, kw in (("mmr", {"lambda_": 0.3}), ("dpp", {"theta": 0.5})):
        a = rr.rerank(cands, feats, method, n=10, **kw)
        b = rr.rerank(cands, sim, method, n=10, **kw)
        pd.testing.assert_frame_equal(a, b)
    # 5 binary features: rank <= 5, so without fill the DPP lists stop short of 10 ...
    short = rr.rerank(cands, feats, "dpp", n=10, theta=0.5, fill=False)
    assert short.groupby("user_id").size().max() <= 5
    # ... and fill tops them up with the best remaining candidates, after the DPP's picks
    filled = rr.rerank(cands, feats, "dpp", n=10, theta=0.5)
    sizes = filled.groupby("user_id").size()
    assert (sizes[sizes.index != "u2"] == 10).all() and sizes["u2"] == 4
    for user, g in short.groupby("user_id"):
        assert filled[filled["user_id"] == user].head(len(g))["item_id"].tolist() == g["item_id"].tolist()
    assert rr.rerank(cands, feats, "dpp", n=10).equals(rr.rerank(cands, feats, "dpp", n=10))


# --------------------------------------------------------------------------- errors
def test_bad_input_is_a_value_error_naming_the_problem():
    cands, feats = make_candidates()
    with pytest.raises(ValueError, match="'score'"):
        rr.rerank(cands.drop(columns="score"), feats)
    with pytest.raises(ValueError, match="'score'"):
        rr.rerank(cands.assign(score=np.nan), feats)
    with pytest.raises(ValueError, match="user_id"):
        rr.rerank(pd.concat([cands, cands.head(1)]), feats)
    with pytest.raises(ValueError, match="method"):
        rr.rerank(cands, feats, method="xquad")
    with pytest.raises(ValueError, match="lambda_"):
        rr.rerank(cands, feats, lambda_=1.5)
    with pytest.raises(ValueError, match="lambda_"):
        rr.rerank(cands, feats, method="dpp", lambda_=0.5)
    with pytest.raises(ValueError, match="theta"):
        rr.rerank(cands, feats, method="mmr", theta=0.5)
    with pytest.raises(ValueError, match="not both"):
        rr.dpp_greedy([1.0, 2.0], np.eye(2), 1, theta=0.5, alpha=1.0)
    with pytest.raises(ValueError, match="item_id 'i0'"):
        rr.rerank(cands.assign(item_id="i0").drop_duplicates(["user_id", "item_id"]), feats.drop(index="i0"))
    with pytest.raises(ValueError, match="'b'"):
        rr.rerank(cands, feats.assign(b=feats["b"].astype(float).where(feats["b"] > 0)))
    with pytest.raises(ValueError, match="n must be"):
        rr.mmr([1.0, 2.0], np.eye(2), 0)
    with pytest.raises(ValueError, match="symmetric"):
        rr.dpp_greedy([1.0, 2.0], np.array([[1.0, 0.5], [0.0, 1.0]]), 1)
    with pytest.raises(ValueError, match="one row per score"):
        rr.mmr([1.0, 2.0, 3.0], np.eye(2), 1)
    with pytest.raises(ValueError, match="scores"):
        rr.dpp_greedy([1.0, np.inf], np.eye(2), 1)
    sim = pd.DataFrame(np.eye(len(feats)), index=feats.index, columns=feats.index)
    sim.iloc[0, 1] = 0.5
    with pytest.raises(ValueError, match="symmetric"):
        rr.rerank(cands, sim, "dpp")
    with pytest.raises(TypeError, match="DataFrame"):
        rr.rerank(cands, feats.to_numpy())
