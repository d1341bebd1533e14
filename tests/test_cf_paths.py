"""mtrec_lib.cf: the readable k-NN path (knn_estimate, algorithm="loop") equals the fast one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtrec_lib import cf

pytestmark = pytest.mark.filterwarnings("ignore:.*not seen in fit:UserWarning")  # unseen ids are asked on purpose


def test_knn_estimate_by_hand():
    sims, ratings = np.array([0.9, 0.5, -0.2, 0.5]), np.array([4.0, 2.0, 1.0, 5.0])
    # k=2: 0.9 and the *first* 0.5 (a tie at the cut goes to the neighbour listed first).
    assert cf.knn_estimate(sims, ratings, k=2) == pytest.approx((0.9 * 4 + 0.5 * 2) / 1.4)
    assert cf.knn_estimate(sims, ratings, k=3) == pytest.approx((0.9 * 4 + 0.5 * 2 + 0.5 * 5) / 1.9)
    # The negative neighbour is among the k=4 nearest but does not vote.
    assert cf.knn_estimate(sims, ratings, k=4) == cf.knn_estimate(sims, ratings, k=3)
    means = np.array([3.0, 3.0, 3.0, 4.0])
    centred = cf.knn_estimate(sims, ratings, k=3, neighbour_means=means, own_mean=2.0)
    assert centred == pytest.approx(2.0 + (0.9 * 1 + 0.5 * -1 + 0.5 * 1) / 1.9)
    assert np.isnan(cf.knn_estimate(sims, ratings, k=2, min_k=3))  # only 2 can vote
    assert np.isnan(cf.knn_estimate(np.array([-0.5, 0.0]), np.array([1.0, 2.0])))  # nobody positive
    assert np.isnan(cf.knn_estimate(np.zeros(0), np.zeros(0)))  # no rater at all


def _movielens_sized(seed=0, n_users=943, n_items=1682, n=100_000, integer=True):
    """Random ratings of MovieLens 100K's shape, and queries with unseen ids and duplicates."""
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, size=n, replace=False)
    rating = rng.integers(1, 6, n).astype(float) if integer else rng.uniform(0.5, 5.0, n)
    train = pd.DataFrame({"user_id": pairs // n_items, "item_id": pairs % n_items, "rating": rating})
    test = pd.DataFrame({"user_id": rng.integers(0, n_users + 5, 2500), "item_id": rng.integers(0, n_items + 5, 2500)})
    return train, pd.concat([test, test.iloc[:10]], ignore_index=True)


@pytest.mark.parametrize("sim_name", ["msd", "cosine", "pearson", "pearson_baseline"])
@pytest.mark.parametrize("cls", [cf.UserKNN, cf.ItemKNN], ids=lambda c: c.__name__)
def test_loop_equals_fast_on_movielens_sized_data(sim_name, cls):
    train, test = _movielens_sized(integer=sim_name != "cosine")  # cosine on real-valued ratings
    fast = cls(k=40, similarity=sim_name).fit(train)
    loop = cls(k=40, similarity=sim_name, algorithm="loop").fit(train)
    for params in ({}, {"centered": True}, {"k": 3}, {"k": 3, "centered": True, "min_k": 2}):
        got_fast = fast.set_params(**params).predict(test)
        got_loop = loop.set_params(**params).predict(test)
        np.testing.assert_allclose(got_loop, got_fast, rtol=0, atol=1e-10, err_msg=str(params))
        assert np.isfinite(got_fast).all()


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("cls", [cf.UserKNN, cf.ItemKNN], ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "rows, queries, params",
    [
        # one rating: the only neighbour of anybody is nobody
        ([(1, 1, 4.0)], [(1, 1), (2, 1), (1, 2)], {}),
        # all ratings equal: Pearson is 0 everywhere, every known pair falls back
        ([(u, i, 3.0) for u in range(4) for i in range(3)], [(0, 1), (3, 2)], {"similarity": "pearson"}),
        # ties in similarity (identical users) with k=1: the earlier-listed rater wins
        ([(0, 0, 4.0), (1, 0, 4.0), (2, 0, 4.0), (2, 9, 1.0), (1, 9, 5.0)], [(0, 9)], {"k": 1}),
        # k larger than the number of raters, opposite tastes (negative Pearson)
        (
            [(0, 0, 5.0), (0, 1, 1.0), (1, 0, 1.0), (1, 1, 5.0), (1, 2, 4.0), (2, 0, 5.0), (2, 1, 2.0), (2, 2, 2.0)],
            [(0, 2), (0, 2), (2, 2)],
            {"similarity": "pearson", "k": 10},
        ),
        # min_k larger than any neighbourhood
        ([(0, 0, 5.0), (1, 0, 4.0), (1, 1, 2.0), (2, 1, 3.0)], [(0, 1), (2, 0)], {"min_k": 3}),
        # no query at all
        ([(0, 0, 5.0), (1, 0, 4.0)], [], {}),
    ],
    ids=["one-rating", "constant", "ties-k1", "negative", "min_k", "empty"],
)
def test_loop_equals_fast_on_edge_cases(rows, queries, params, cls, centered):
    train = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    test = pd.DataFrame(queries, columns=["user_id", "item_id"]).astype("int64")
    fast = cls(centered=centered, **params).fit(train).predict(test)
    loop = cls(centered=centered, algorithm="loop", **params).fit(train).predict(test)
    assert fast.shape == loop.shape == (len(test),)
    np.testing.assert_allclose(loop, fast, rtol=0, atol=1e-10)


def test_loop_path_is_the_documented_formula():
    # Ann's rating of Heat (the notebook's example): k=2 Pearson neighbours Bob and Eve.
    log = pd.DataFrame(
        [
            ("Ann", "Alien", 5),
            ("Ann", "Brazil", 1),
            ("Bob", "Alien", 4),
            ("Bob", "Brazil", 2),
            ("Bob", "Heat", 2),
            ("Eve", "Alien", 5),
            ("Eve", "Brazil", 2),
            ("Eve", "Heat", 1),
            ("Dan", "Alien", 1),
            ("Dan", "Brazil", 5),
            ("Dan", "Heat", 5),
        ],
        columns=["user_id", "item_id", "rating"],
    ).astype({"rating": float})
    knn = cf.UserKNN(k=2, similarity="pearson", algorithm="loop").fit(log)
    sim = cf.similarity_matrix(log, "pearson").loc["Ann", ["Bob", "Eve", "Dan"]].to_numpy()
    assert sim.tolist() == [1.0, 1.0, -1.0]
    assert knn.predict(pd.DataFrame({"user_id": ["Ann"], "item_id": ["Heat"]}))[0] == pytest.approx(1.5)
