"""Tests of mtrec_lib.pipeline and of the chapter 5 notebooks' numbers.

Unit tests run on tiny data (the one that trains a ranker uses one epoch on a few thousand
rows). The notebook tests read the ``RESULT {json}`` lines of the copies the book build
executed (tests/conftest.py) and check the claims the chapter's prose makes.
"""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import mtrec_lib as mt
from conftest import notebook_results
from mtrec_lib import pipeline as pl
from mtrec_lib.pipeline import (
    SIMILARITY_FEATURES,
    RecommendationPipeline,
    ShopTruth,
    fuse_scores,
    interactions,
    list_quality,
    point_in_time_features,
    similarity_features,
)


def test_doctests():
    result = doctest.testmod(pl, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 5 and result.failed == 0


@pytest.fixture(scope="module")
def shop():
    return mt.data.simulate_shop(n_users=150, n_items=40, n_impressions=6_000, n_days=10, ctr=0.15, cvr=0.2, seed=3)


# --------------------------------------------------------------------------- features
def naive_features(rows: pd.DataFrame, history: pd.DataFrame) -> np.ndarray:
    """Both features by loops over sets, full cosine similarities (no neighbour cut-off)."""
    hist = history.drop_duplicates()
    items_of = hist.groupby("user_id")["item_id"].apply(set).to_dict()
    users_of = hist.groupby("item_id")["user_id"].apply(set).to_dict()

    def cos(a: set, b: set) -> float:
        return len(a & b) / np.sqrt(len(a) * len(b)) if a and b else 0.0

    out = []
    for u, i in zip(rows["user_id"], rows["item_id"]):
        others = users_of.get(i, set()) - {u}
        mine = items_of.get(u, set()) - {i}
        us = np.mean([cos(items_of.get(u, set()), items_of[v]) for v in others]) if others else 0.0
        its = np.mean([cos(users_of.get(i, set()), users_of[j]) for j in mine]) if mine else 0.0
        out.append((us, its))
    return np.array(out).reshape(-1, 2)


@pytest.mark.parametrize("seed", range(5))
def test_similarity_features_match_loops_over_sets(seed):
    rng = np.random.default_rng(seed)
    history = pd.DataFrame({"user_id": rng.integers(0, 12, 60), "item_id": rng.integers(0, 9, 60)})
    rows = pd.DataFrame(
        {"user_id": rng.integers(0, 14, 40), "item_id": rng.integers(0, 11, 40)}, index=rng.permutation(40) + 100
    )  # any index: results align with it
    got = similarity_features(rows, history, k=1000)
    assert list(got.columns) == SIMILARITY_FEATURES and got.index.equals(rows.index)
    np.testing.assert_allclose(got.to_numpy(), naive_features(rows, history), atol=1e-12)


def test_similarity_features_keep_only_k_neighbours():
    # Clickers: item 0 {0, 1, 3}, item 1 {0, 1, 2, 9}, item 2 {2, 3, 5}. Item 1's cosine with
    # item 0 is 2/sqrt(12), with item 2 1/sqrt(12); user 3 clicked items 0 and 2.
    history = pd.DataFrame({"user_id": [0, 1, 3, 0, 1, 2, 9, 2, 3, 5], "item_id": [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]})
    row = pd.DataFrame({"user_id": [3], "item_id": [1]})
    full = similarity_features(row, history, k=10)["item_similarity"].item()
    nearest = similarity_features(row, history, k=1)["item_similarity"].item()
    assert full == pytest.approx((2 + 1) / np.sqrt(12) / 2)
    assert nearest == pytest.approx(2 / np.sqrt(12) / 2)  # item 2 is not among item 1's k=1 neighbours


def test_unknown_users_and_items_and_empty_history_give_zero():
    history = pd.DataFrame({"user_id": [1, 2], "item_id": [10, 10]})
    rows = pd.DataFrame({"user_id": [99, 1], "item_id": [10, 77]})
    assert (similarity_features(rows, history).to_numpy() == 0).all()
    assert (similarity_features(rows, history.iloc[:0]).to_numpy() == 0).all()
    assert len(similarity_features(rows.iloc[:0], history)) == 0


def test_point_in_time_features_only_see_the_past(shop):
    log = shop.data
    feats = point_in_time_features(log)
    assert feats.index.equals(log.index)
    assert (feats[log["day"] == 0].to_numpy() == 0).all()
    day = 6
    now = log["day"] == day
    expected = similarity_features(log[now], log[(log["day"] < day) & (log["click"] == 1)])
    np.testing.assert_allclose(feats[now].to_numpy(), expected.to_numpy())
    # Changing today's and later clicks changes nothing up to today.
    changed = log.copy()
    later = changed["day"] >= day
    changed.loc[later, "click"] = 1 - changed.loc[later, "click"]
    np.testing.assert_array_equal(
        point_in_time_features(changed)[log["day"] <= day].to_numpy(), feats[log["day"] <= day].to_numpy()
    )


def test_interactions_are_distinct_positive_pairs():
    log = pd.DataFrame({"user_id": [1, 1, 2, 3], "item_id": [5, 5, 6, 7], "click": [1, 1, 0, 1]})
    assert interactions(log).values.tolist() == [[1, 5], [3, 7]]
    with pytest.raises(ValueError, match="'click'"):
        interactions(log.assign(click=[0, 2, 1, 1]))


# --------------------------------------------------------------------------- fusion
def test_fuse_scores_is_a_weighted_product():
    p = pd.DataFrame({"a": [0.5, 0.2, 0.9], "b": [0.1, 0.4, 0.0]})
    np.testing.assert_allclose(fuse_scores(p, {"a": 1, "b": 1}), [0.05, 0.08, 0.9 * 1e-12])
    np.testing.assert_allclose(fuse_scores(p, {"a": 0.5, "b": 2}), np.sqrt(p.a) * np.maximum(p.b, 1e-12) ** 2)
    assert np.array_equal(np.argsort(fuse_scores(p, {"a": 1.0, "b": 0.0})), np.argsort(p["a"].to_numpy()))
    with pytest.raises(ValueError, match="all 0"):
        fuse_scores(p, {"a": 0, "b": 0})
    with pytest.raises(ValueError, match="'c'"):
        fuse_scores(p, {"c": 1})
    with pytest.raises(ValueError, match="fusion weight"):
        fuse_scores(p, {"a": -1})


# --------------------------------------------------------------------------- the pipeline
def test_cf_only_pipeline_is_the_candidate_models_list(shop):
    model = mt.cf.ItemTopN(k=10)
    pipe = RecommendationPipeline(candidate_model=model, ranker=None, n=5).fit(shop.data)
    assert not hasattr(model, "similarity_")  # the parameter is cloned, not fitted in place
    users = [0, 5, 7]
    recs = pipe.recommend(users)
    direct = mt.cf.ItemTopN(k=10).fit(interactions(shop.data)).recommend(users, n=100)
    direct = direct[direct["rank"] <= 5].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        recs[["user_id", "item_id", "rank"]], direct[["user_id", "item_id", "rank"]], check_dtype=False
    )
    assert list(recs.columns) == ["user_id", "item_id", "score", "rank"]


def test_reranking_diversifies_within_the_candidates(shop):
    pipe = RecommendationPipeline(ranker=None, reranker="mmr", trade_off=0.3, n_candidates=20, n=6)
    pipe.fit(shop.data)
    users = list(range(0, 150, 7))
    scored = pipe.score_candidates(users)
    plain = pipe.rank(scored, reranker=None)
    diverse = pipe.recommend(users)
    assert diverse.groupby("user_id").size().eq(6).all()
    assert diverse.merge(scored, on=["user_id", "item_id"]).shape[0] == len(diverse)  # only candidates
    assert not diverse.duplicated(["user_id", "item_id"]).any()
    ild = lambda r: mt.metrics.intra_list_diversity(r, item_features=pipe.item_vectors_)  # noqa: E731
    assert ild(diverse) > ild(plain)
    dpp = pipe.rank(scored, reranker="dpp", trade_off=0.3)
    assert dpp.groupby("user_id").size().eq(6).all() and ild(dpp) > ild(plain)


def test_pipeline_params_follow_scikit_learn(shop):
    pipe = RecommendationPipeline(reranker="dpp", n=3, fusion={"click": 2.0})
    params = pipe.get_params()
    assert params["n"] == 3 and params["reranker"] == "dpp" and params["fusion"] == {"click": 2.0}
    assert clone(pipe).get_params()["fusion"] == {"click": 2.0}
    assert pipe.set_params(n=4) is pipe and pipe.n == 4
    assert not hasattr(pipe, "candidate_model_")  # the constructor only stores parameters


def test_pipeline_errors_name_the_problem(shop):
    with pytest.raises(NotFittedError, match="RecommendationPipeline is not fitted.*call fit first"):
        RecommendationPipeline().recommend([0])
    with pytest.raises(ValueError, match="reranker"):
        RecommendationPipeline(ranker=None, reranker="random").fit(shop.data)
    with pytest.raises(ValueError, match="n_candidates"):
        RecommendationPipeline(ranker=None, n_candidates=0).fit(shop.data)
    with pytest.raises(ValueError, match="'click'"):
        RecommendationPipeline(ranker=None).fit(shop.data.drop(columns="click"))
    with pytest.raises(ValueError, match="no positive row"):
        RecommendationPipeline(ranker=None).fit(shop.data.assign(click=0))
    pipe = RecommendationPipeline(ranker=None, n_candidates=5).fit(shop.data)
    with pytest.raises(ValueError, match="not in the log"):
        pipe.recommend([0, 10_000])
    with pytest.raises(ValueError, match="fusion needs a ranker"):
        pipe.rank(pipe.score_candidates([0]), fusion={"click": 1.0})
    with pytest.raises(ValueError, match="item_category"):
        RecommendationPipeline(ranker=None, reranker="mmr").fit(shop.data.drop(columns="item_category"))


@pytest.fixture(scope="module")
def fitted(shop):
    log = shop.data.copy()
    ranker = mt.MultiTaskLearning(
        tasks={"click": "binary", "purchase": "binary"}, architecture="shared_bottom", epochs=1, seed=0
    )
    pipe = RecommendationPipeline(
        candidate_model=mt.cf.Popularity(), ranker=ranker, n_candidates=15, n=5, reranker="mmr"
    )
    return pipe.fit(log), log


def test_ranker_pipeline_trains_on_point_in_time_features(fitted):
    pipe, log = fitted
    assert pipe.ranker.__dict__.get("model_") is None  # the given ranker stays unfitted
    feats = pipe.features_
    assert set(SIMILARITY_FEATURES) <= set(feats) and {"user_id", "item_id", "position", "device"} <= set(feats)
    assert not {"click", "purchase", "timestamp", "day"} & set(feats)  # no label, no calendar
    raw = point_in_time_features(log)
    np.testing.assert_allclose(pipe.scaler_.data_max_, raw.max().to_numpy())  # fitted on training rows
    frame = pipe.training_frame_[SIMILARITY_FEATURES]
    assert frame.min().min() >= 0 and frame.max().max() <= 1 + 1e-12
    assert pipe.ranker_.feature_spec_.columns and pipe.ranker_.tasks_ == {"click": "binary", "purchase": "binary"}


def test_ranker_pipeline_scores_candidates_at_the_top_slot(fitted):
    pipe, log = fitted
    users = [1, 2, 3]
    scored = pipe.score_candidates(users)
    assert (scored["position"] == 1).all() and (scored["device"] == log["device"].mode().iloc[0]).all()
    assert {"p_click", "p_purchase", "cf_score", "cf_rank", *SIMILARITY_FEATURES} <= set(scored.columns)
    direct = pipe.ranker_.predict(pipe.featurize(scored)[pipe.features_])  # recomputes every feature
    np.testing.assert_allclose(scored["p_click"].to_numpy(), direct["click"].to_numpy(), rtol=1e-6)
    plain = pipe.rank(scored, fusion={"click": 1.0}, reranker=None)
    best = scored.loc[scored.groupby("user_id")["p_click"].idxmax(), ["user_id", "item_id"]]
    assert plain[plain["rank"] == 1][["user_id", "item_id"]].values.tolist() == best.values.tolist()
    recs = pipe.recommend(users)
    assert recs.groupby("user_id")["rank"].apply(list).tolist() == [[1, 2, 3, 4, 5]] * 3
    with pytest.raises(ValueError, match="not a ranker task"):
        pipe.rank(scored, fusion={"purchase_30d": 1.0})


# --------------------------------------------------------------------------- ground truth
def test_shop_truth_reproduces_the_log_and_scores_any_pair(shop):
    truth = ShopTruth(shop)
    assert truth.max_logit_error_ < 1e-8
    d = shop.data
    got = truth.probabilities(d, position=d["position"], device=d["device"])
    np.testing.assert_allclose(got.to_numpy(), shop.truth[got.columns].to_numpy(), rtol=1e-9, atol=1e-12)
    pairs = pd.DataFrame({"user_id": [0, 0, 0], "item_id": [3, 3, 3]})
    p = truth.probabilities(pairs, position=[1, 2, 5])
    assert p["p_click"].is_monotonic_decreasing
    on_app = truth.probabilities(pairs, position=[1, 2, 5], device="app")
    assert on_app["p_click"].is_monotonic_decreasing and np.ptp(on_app["p_purchase_given_click"]) < 1e-12
    mix = truth.probabilities(pairs.head(1))
    by_device = [truth.probabilities(pairs.head(1), device=dev).iloc[0] for dev in truth.device_share_.index]
    expected = sum(s * r["p_purchase"] for s, r in zip(truth.device_share_, by_device))
    assert mix["p_purchase"].item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="simulate_shop"):
        ShopTruth(mt.data.SimulatedLog(d, shop.truth, shop.users, shop.items))
    with pytest.raises(ValueError, match="simulate_shop"):
        ShopTruth(mt.data.simulate_social(n_users=20, n_items=10, n_impressions=200, seed=0))
    with pytest.raises(ValueError, match="item_id 40 is not in the simulated world"):
        truth.probabilities(pd.DataFrame({"user_id": [0], "item_id": [40]}))


def test_oracle_lists_beat_random_lists_and_list_quality_adds_up(shop):
    truth = ShopTruth(shop)
    users = np.arange(50)
    oracle = truth.best_lists(users, n=5)
    assert oracle.groupby("user_id").size().eq(5).all()
    rng = np.random.default_rng(0)
    random_lists = pd.DataFrame(
        {
            "user_id": np.repeat(users, 5),
            "item_id": np.concatenate([rng.choice(40, 5, replace=False) for _ in users]),
            "rank": np.tile(np.arange(1, 6), len(users)),
        }
    )
    q_oracle = list_quality(oracle, truth, k=5)
    q_random = list_quality(
        random_lists,
        truth,
        k=5,
        item_features=pd.get_dummies(shop.items.set_index("item_id")["category"], dtype=float),
        catalog=np.arange(40),
    )
    assert q_oracle["expected_purchases"] > 2 * q_random["expected_purchases"]
    assert {"ild", "coverage", "users"} <= set(q_random)
    # expected clicks: each item at its list position, summed per list, averaged over users
    one = random_lists[random_lists["user_id"] == 0]
    manual = truth.probabilities(one, position=one["rank"].to_numpy())["p_click"].sum()
    assert list_quality(one, truth, k=5)["expected_clicks"] == pytest.approx(manual)
    # held-out relevance of users without a list does not count against the lists
    heldout = pd.DataFrame({"user_id": [0, 999], "item_id": [int(one["item_id"].iloc[0]), 1]})
    assert list_quality(one, heldout=heldout, k=5)["hit@5"] == 1.0
    excluded = truth.best_lists([0], n=5, exclude=oracle[oracle["user_id"] == 0])
    assert not set(excluded["item_id"]) & set(oracle.loc[oracle["user_id"] == 0, "item_id"])


# --------------------------------------------------------------------------- chapter 5 notebooks
@pytest.mark.slow
def test_walkthrough_notebook(built_site):
    r = notebook_results("notebooks/ch05_project/01_walkthrough.ipynb")
    v = r["versions"]
    assert v["tensorflow"].startswith("2.") and v["keras"].startswith("3.")
    assert tuple(int(x) for x in v["python"].split(".")[:2]) >= (3, 10)
    assert r["rows"] == 4963 and r["train_rows"] + r["test_rows"] == r["rows"]
    assert not {"click", "purchase", "purchase_30d", "timestamp", "day"} & set(r["features"])
    # "looks like an excellent predictor" on training rows, "barely better than a coin toss" on test
    assert r["leaky_train_auc"]["user_similarity"] > 0.85
    assert r["test_feature_auc"]["user_similarity"] < 0.6
    assert all(abs(a - 0.5) < 0.1 for a in r["point_in_time_train_auc"].values())
    # "no difference beyond noise" with and without the similarity features
    for task in ("click_auc", "purchase_30d_auc"):
        assert abs(r["test_scores"][task] - r["test_scores_without_similarity"][task]) < 0.03
    assert r["test_scores"]["click_auc"] > 0.55 and r["test_scores"]["purchase_30d_auc"] > 0.65
    # training rows score far higher than test rows (the article's evaluate(data))
    assert r["train_scores"]["purchase_30d_auc"] > r["test_scores"]["purchase_30d_auc"] + 0.1
    # "the top fifth converts several times more often than the bottom three fifths"
    q = r["quintile_observed_purchase_rate"]
    assert q[4] > 3 * np.mean(q[:3])
    # "in the bottom three fifths it predicts almost no chance of a purchase, yet ... of those rows
    # convert, and for the top fifth it is too sure"
    low, top = r["low_quintiles"], r["top_quintile"]
    assert low["predicted"] < 0.2 * low["observed"]
    assert top["predicted"] > top["observed"]


@pytest.mark.slow
def test_pipeline_and_ablation_notebook(built_site):
    r = notebook_results("notebooks/ch05_project/02_pipeline_and_ablation.ipynb")
    assert r["truth_max_logit_error"] < 1e-8
    a = r["ablation"]
    cf, click = a["CF only (item-based top-N)"], a["+ MTL ranking by p_click"]
    fused = a["+ fusion p_click x p_purchase_30d"]
    mmr, dpp = a["+ MMR re-ranking (lambda 0.7)"], a["or DPP re-ranking (theta 0.7)"]
    # multi-task ranking: clicks "rise by more than half", purchases "double"
    assert click["expected_clicks"] > 1.5 * cf["expected_clicks"]
    assert click["expected_purchases"] > 1.8 * cf["expected_purchases"]
    # fusion trades clicks for purchases
    assert fused["expected_purchases"] > 1.08 * click["expected_purchases"]
    assert fused["expected_clicks"] < click["expected_clicks"]
    # re-ranking: ILD "from about 0.74 to over 0.9" for "roughly a tenth" of the purchases
    for rr in (mmr, dpp):
        assert rr["ild"] > 0.9 and fused["ild"] < 0.8
        assert 0.8 * fused["expected_purchases"] < rr["expected_purchases"] < fused["expected_purchases"]
    # "at the same setting of 0.7 the DPP buys a little more diversity than MMR for a little more of
    # the purchases"
    assert mmr["ild"] < dpp["ild"] < mmr["ild"] + 0.05
    assert mmr["expected_purchases"] > dpp["expected_purchases"] > 0.95 * mmr["expected_purchases"]
    # the CF cut costs accuracy; the oracle is far ahead
    assert a["ranker on the whole catalogue, fused"]["expected_purchases"] > fused["expected_purchases"]
    oracle = a["oracle (true p_purchase)"]
    others = [v["expected_purchases"] for k, v in a.items() if k != "oracle (true p_purchase)"]
    assert oracle["expected_purchases"] > 3 * max(others)
    assert a["random items"]["expected_purchases"] < a["popularity only"]["expected_purchases"]
    # held-out nDCG: popularity best of all lists; every multi-task row below plain CF
    pop = a["popularity only"]["ndcg@10"]
    assert all(pop > v["ndcg@10"] for k, v in a.items() if k != "popularity only")
    mtl_rows = [k for k in a if k.startswith(("+", "or ", "ranker"))]
    assert len(mtl_rows) == 5 and all(a[k]["ndcg@10"] < cf["ndcg@10"] for k in mtl_rows)
    # fusion sweep: a small purchase share costs (almost) no clicks and adds purchases; purchases
    # peak inside the sweep; pure purchase ranking has the fewest clicks
    s = {p["w"]: p for p in r["fusion_sweep"]}
    assert s[0.1]["expected_clicks"] > 0.98 * s[0.0]["expected_clicks"]
    assert s[0.1]["expected_purchases"] > 1.1 * s[0.0]["expected_purchases"]
    best_w = max(s, key=lambda w: s[w]["expected_purchases"])
    assert 0.0 < best_w < 1.0
    assert s[1.0]["expected_clicks"] == min(p["expected_clicks"] for p in s.values())
    # re-ranking sweep: the first step buys diversity cheaply
    mmr_sweep = {p["trade_off"]: p for p in r["rerank_sweep"] if p["method"] == "mmr"}
    first_gain = mmr_sweep[0.9]["ild"] - mmr_sweep[1.0]["ild"]
    first_cost = mmr_sweep[1.0]["expected_purchases"] - mmr_sweep[0.9]["expected_purchases"]
    later_gain = mmr_sweep[0.7]["ild"] - mmr_sweep[0.9]["ild"]
    later_cost = mmr_sweep[0.9]["expected_purchases"] - mmr_sweep[0.7]["expected_purchases"]
    assert first_gain / first_cost > later_gain / later_cost
    # at lambda 0.3 the lists hold "nearly one item per category": close to the ceiling of ten items
    # spread over the eight categories (two categories twice: 1 - 2/45)
    assert 1 - 2 / 45 - 0.03 < mmr_sweep[0.3]["ild"] <= 1 - 2 / 45


def test_shown_lists_orders_users_by_id_and_breaks_rank_ties_by_row_order():
    recs = pd.DataFrame({"user_id": [2, 1, 2, 1, 2], "item_id": [5, 6, 7, 8, 9], "rank": [2, 1, 1, 1, 3]})
    top = pl.shown_lists(recs, k=2)
    assert top[["user_id", "item_id", "position"]].values.tolist() == [[1, 6, 1], [1, 8, 2], [2, 7, 1], [2, 5, 2]]
    assert top.index.tolist() == [1, 3, 2, 0] and top["rank"].tolist() == [1, 1, 1, 2]
