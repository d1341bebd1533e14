"""Multi-objective fusion: ``pareto_front``, expected GMV in ``list_quality``, ``fusion_sweep``."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

import mtrec_lib as mt
import mtrec_lib.pipeline as pl
from mtrec_lib.pipeline import ShopTruth, fuse_scores, fusion_sweep, list_quality, pareto_front
from mtrec_lib.rerank import top_k_per_user


def test_doctests():
    result = doctest.testmod(pl, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 5 and result.failed == 0


# --------------------------------------------------------------------------- pareto_front
def test_pareto_front_two_objectives_by_hand():
    pts = pd.DataFrame({"x": [3.0, 2.0, 1.0, 2.0, 0.5, 3.0], "y": [1.0, 2.0, 3.0, 1.5, 0.5, 0.5]})
    # row 3 (2, 1.5) loses to row 1 (2, 2): equal x, lower y; row 4 loses to everything;
    # row 5 (3, 0.5) loses to row 0 (3, 1): equal on x is not enough to survive
    assert pareto_front(pts, ["x", "y"]).tolist() == [True, True, True, False, False, False]
    # the order of the objectives does not matter
    assert pareto_front(pts, ["y", "x"]).tolist() == [True, True, True, False, False, False]
    # one objective: only the rows with its maximum
    assert pareto_front(pts, ["x"]).tolist() == [True, False, False, False, False, True]


def test_pareto_front_duplicates_are_both_kept_and_both_dropped_together():
    pts = pd.DataFrame({"x": [1.0, 1.0, 0.0], "y": [1.0, 1.0, 2.0]})
    assert pareto_front(pts, ["x", "y"]).tolist() == [True, True, True]
    beaten = pd.DataFrame({"x": [1.0, 1.0, 2.0], "y": [1.0, 1.0, 2.0]})
    assert pareto_front(beaten, ["x", "y"]).tolist() == [False, False, True]


def test_pareto_front_single_point_empty_frame_and_index():
    assert pareto_front(pd.DataFrame({"x": [5.0], "y": [-1.0]}), ["x", "y"]).tolist() == [True]
    empty = pareto_front(pd.DataFrame({"x": [], "y": []}, dtype=float), ["x", "y"])
    assert empty.dtype == bool and empty.shape == (0,)
    # the mask is positional, whatever the index
    pts = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]}, index=["b", "a"])
    assert pareto_front(pts, ["x", "y"]).tolist() == [False, True]


def test_pareto_front_three_objectives():
    pts = pd.DataFrame(
        {"clicks": [1.0, 2.0, 1.0, 1.0, 2.0], "purchases": [1.0, 1.0, 2.0, 1.0, 1.0], "gmv": [1.0, 1.0, 1.0, 2.0, 0.5]}
    )
    # row 0 is beaten by each of 1, 2, 3; row 4 by row 1 (equal clicks and purchases, less GMV).
    assert pareto_front(pts, ["clicks", "purchases", "gmv"]).tolist() == [False, True, True, True, False]
    # on clicks and purchases alone, rows 1 and 4 tie and row 3 ties with row 0
    assert pareto_front(pts, ["clicks", "purchases"]).tolist() == [False, True, True, False, True]


def test_pareto_front_minimize_mirrors_maximize():
    rng = np.random.default_rng(3)
    pts = pd.DataFrame(rng.integers(0, 4, size=(60, 3)).astype(float), columns=["a", "b", "c"])
    flipped = pts.assign(c=-pts["c"])
    assert (pareto_front(pts, ["a", "b"], minimize=["c"]) == pareto_front(flipped, ["a", "b", "c"])).all()
    assert pareto_front(pts, [], minimize=["a"]).tolist() == (pts["a"] == pts["a"].min()).tolist()


def test_pareto_front_matches_a_loop_on_random_points_and_blocks():
    rng = np.random.default_rng(0)
    pts = pd.DataFrame(rng.integers(0, 6, size=(600, 3)).astype(float), columns=["a", "b", "c"])  # > one block
    x = pts.to_numpy()
    expected = [not any((q >= p).all() and (q > p).any() for q in x) for p in x]
    assert pareto_front(pts, ["a", "b", "c"]).tolist() == expected


def test_pareto_front_errors():
    pts = pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, np.nan], "name": ["a", "b"]})
    with pytest.raises(ValueError, match="at least one objective"):
        pareto_front(pts, [])
    with pytest.raises(ValueError, match="lists of column names"):
        pareto_front(pts, "x")
    with pytest.raises(ValueError, match="'x' is listed more than once"):
        pareto_front(pts, ["x"], minimize=["x"])
    with pytest.raises(ValueError, match="missing column 'z'"):
        pareto_front(pts, ["x", "z"])
    with pytest.raises(ValueError, match="'y' has 1 missing value"):
        pareto_front(pts, ["x", "y"])
    with pytest.raises(ValueError, match="'name'"):
        pareto_front(pts, ["x", "name"])


# --------------------------------------------------------------------------- expected GMV
@pytest.fixture(scope="module")
def shop():
    return mt.data.simulate_shop(n_users=60, n_items=40, n_impressions=4_000, seed=0, ctr=0.1, cvr=0.1)


@pytest.fixture(scope="module")
def truth(shop):
    return ShopTruth(shop)


def test_shop_truth_knows_the_shops_prices(shop, truth):
    assert truth.prices_.to_dict() == shop.items.set_index("item_id")["price"].to_dict()


def test_expected_gmv_is_purchase_probability_times_price_summed_per_list(truth):
    recs = pd.DataFrame({"user_id": [0, 0, 0, 5, 5], "item_id": [3, 7, 1, 7, 20], "rank": [1, 2, 3, 2, 1]})
    q = list_quality(recs, truth, k=10)
    # by hand: each item at its position (user 5's item 20 is first), p_purchase x price, summed per user
    user0 = pd.DataFrame({"user_id": [0, 0, 0], "item_id": [3, 7, 1]})
    user5 = pd.DataFrame({"user_id": [5, 5], "item_id": [20, 7]})
    gmv0 = (
        truth.probabilities(user0, position=[1, 2, 3])["p_purchase"].to_numpy()
        * truth.prices_.loc[[3, 7, 1]].to_numpy()
    ).sum()
    gmv5 = (
        truth.probabilities(user5, position=[1, 2])["p_purchase"].to_numpy() * truth.prices_.loc[[20, 7]].to_numpy()
    ).sum()
    assert q["expected_gmv"] == pytest.approx((gmv0 + gmv5) / 2, rel=1e-12)
    # k cuts the lists before GMV is summed
    q1 = list_quality(recs, truth, k=1)
    first = pd.DataFrame({"user_id": [0, 5], "item_id": [3, 20]})
    gmv_first = truth.probabilities(first)["p_purchase"].to_numpy() * truth.prices_.loc[[3, 20]].to_numpy()
    assert q1["expected_gmv"] == pytest.approx(gmv_first.mean(), rel=1e-12)


def test_expected_gmv_only_when_the_truth_knows_prices(truth):
    class NoPrices:  # a ground truth that only knows probabilities
        def probabilities(self, pairs, position=1, device=None):
            return truth.probabilities(pairs, position=position, device=device)

    recs = pd.DataFrame({"user_id": [0, 0], "item_id": [3, 7], "rank": [1, 2]})
    q = list_quality(recs, NoPrices())
    assert "expected_gmv" not in q and q["expected_purchases"] == list_quality(recs, truth)["expected_purchases"]


def test_expected_gmv_unknown_item_is_a_clear_error(truth):
    recs = pd.DataFrame({"user_id": [0], "item_id": [999], "rank": [1]})
    with pytest.raises(ValueError, match="item_id 999 has no price"):
        list_quality(recs, truth)


# --------------------------------------------------------------------------- fusion_sweep
@pytest.fixture(scope="module")
def scored(truth):
    # 20 users x 15 candidates with noisy "predictions" of the truth, and a price share column
    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(20), 15)
    items = np.concatenate([rng.choice(40, 15, replace=False) for _ in range(20)])
    frame = pd.DataFrame({"user_id": users, "item_id": items})
    p = truth.probabilities(frame)

    def noisy(q):  # q x lognormal noise, squashed into (0, 1) without ties: q' / (1 + q')
        q = q * np.exp(rng.normal(0, 0.5, len(q)))
        return q / (1 + q)

    return frame.assign(
        p_click=noisy(p["p_click"].to_numpy()),
        p_purchase=noisy(p["p_purchase"].to_numpy()),
        price=(truth.prices_ / truth.prices_.max()).loc[items].to_numpy(),
    )


@pytest.fixture(scope="module")
def features(shop):
    return pd.get_dummies(shop.items.set_index("item_id")["category"], dtype=float)


GRID = [
    {"p_click": 1.0, "p_purchase": 0.0},
    {"p_click": 0.5, "p_purchase": 0.5},
    {"p_purchase": 1.0},
    {"p_purchase": 0.5, "price": 0.5},
]


def test_fusion_sweep_columns_rows_and_determinism(scored, truth, features):
    sweep = fusion_sweep(scored, GRID, truth, k=5, item_features=features, catalog=np.arange(40))
    assert sweep.columns.tolist() == [
        "w_p_click",
        "w_p_purchase",
        "w_price",
        "users",
        "expected_clicks",
        "expected_purchases",
        "expected_gmv",
        "ild",
        "coverage",
    ]
    assert len(sweep) == len(GRID) and (sweep["users"] == 20).all()
    # exponents a setting leaves out are reported as 0
    assert sweep[["w_p_click", "w_p_purchase", "w_price"]].to_numpy().tolist() == [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.5, 0.5],
    ]
    again = fusion_sweep(scored, GRID, truth, k=5, item_features=features, catalog=np.arange(40))
    pd.testing.assert_frame_equal(sweep, again)
    # the order of the candidate rows does not matter (no ties among continuous scores)
    shuffled = scored.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(
        sweep, fusion_sweep(shuffled, GRID, truth, k=5, item_features=features, catalog=np.arange(40))
    )


def test_fusion_sweep_click_exponent_alone_ranks_by_clicks(scored, truth):
    sweep = fusion_sweep(scored, [{"p_click": 1.0, "p_purchase": 0.0}], truth, k=5)
    by_clicks = top_k_per_user(scored, "p_click", k=5)
    assert sweep.iloc[0]["expected_clicks"] == pytest.approx(list_quality(by_clicks, truth, k=5)["expected_clicks"])
    assert sweep.iloc[0]["expected_gmv"] == pytest.approx(list_quality(by_clicks, truth, k=5)["expected_gmv"])
    # any other setting orders differently here, so its lists differ
    other = fusion_sweep(scored, [{"p_purchase": 1.0}], truth, k=5)
    assert other.iloc[0]["expected_clicks"] != sweep.iloc[0]["expected_clicks"]


def test_fusion_sweep_only_ratios_of_exponents_matter(scored, truth):
    sweep = fusion_sweep(scored, [{"p_click": 1, "p_purchase": 1}, {"p_click": 2.5, "p_purchase": 2.5}], truth)
    metrics = ["expected_clicks", "expected_purchases", "expected_gmv"]
    assert sweep.iloc[0][metrics].tolist() == pytest.approx(sweep.iloc[1][metrics].tolist())


def test_fusion_sweep_matches_fuse_scores_and_true_probabilities_beat_noise(scored, truth):
    # with the true probabilities as "predictions", ranking by p_purchase earns more purchases than the noisy ones
    true_p = truth.probabilities(scored)
    oracle = scored.assign(p_click=true_p["p_click"].to_numpy(), p_purchase=true_p["p_purchase"].to_numpy())
    s_model = fusion_sweep(scored, [{"p_purchase": 1.0}], truth, k=3)
    s_oracle = fusion_sweep(oracle, [{"p_purchase": 1.0}], truth, k=3)
    assert s_oracle.iloc[0]["expected_purchases"] > s_model.iloc[0]["expected_purchases"]
    # the lists are those of fuse_scores + top_k_per_user
    w = {"p_click": 0.3, "p_purchase": 0.7}
    lists = top_k_per_user(scored[["user_id", "item_id"]], fuse_scores(scored, w), k=3)
    assert fusion_sweep(scored, [w], truth, k=3).iloc[0]["expected_purchases"] == pytest.approx(
        list_quality(lists, truth, k=3)["expected_purchases"]
    )


def test_fusion_sweep_with_mmr(scored, truth, features):
    plain = fusion_sweep(scored, GRID[:2], truth, k=5, item_features=features)
    same = fusion_sweep(scored, GRID[:2], truth, k=5, item_features=features, reranker="mmr", trade_off=1.0)
    pd.testing.assert_frame_equal(plain, same)  # lambda = 1 keeps the fused order
    diverse = fusion_sweep(scored, GRID[:2], truth, k=5, item_features=features, reranker="mmr", trade_off=0.3)
    assert (diverse["ild"] >= plain["ild"]).all() and (diverse["ild"] > plain["ild"]).any()


def test_fusion_sweep_errors(scored, truth):
    with pytest.raises(ValueError, match="weights is empty"):
        fusion_sweep(scored, [], truth)
    with pytest.raises(ValueError, match=r"weights\[1\] must be a non-empty dict"):
        fusion_sweep(scored, [{"p_click": 1.0}, {}], truth)
    with pytest.raises(ValueError, match="missing column 'p_like'"):
        fusion_sweep(scored, [{"p_like": 1.0}], truth)
    with pytest.raises(ValueError, match="fusion weight of 'p_click' must be a number in"):
        fusion_sweep(scored, [{"p_click": -1.0}], truth)
    with pytest.raises(ValueError, match="all 0"):
        fusion_sweep(scored, [{"p_click": 0.0, "p_purchase": 0.0}], truth)
    with pytest.raises(ValueError, match="needs item_features"):
        fusion_sweep(scored, [{"p_click": 1.0}], truth, reranker="mmr")
    with pytest.raises(ValueError, match="unknown reranker"):
        fusion_sweep(scored, [{"p_click": 1.0}], truth, reranker="greedy")
    with pytest.raises(ValueError, match="k must be an integer"):
        fusion_sweep(scored, [{"p_click": 1.0}], truth, k=0)
    with pytest.raises(ValueError, match="repeat the same"):
        fusion_sweep(pd.concat([scored, scored.head(1)]), [{"p_click": 1.0}], truth)
