"""Tests of mtrec_lib.metrics: hand-computed examples, scikit-learn, Microsoft Recommenders' definitions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import log_loss, mean_absolute_error, mean_squared_error, ndcg_score, roc_auc_score

from mtrec_lib import metrics as m

# --------------------------------------------------------------------------- pointwise


def test_rmse_mae_by_hand():
    y, yhat = [3, 4, 5], [2.5, 4, 3]
    assert m.rmse(y, yhat) == pytest.approx(math.sqrt((0.25 + 0 + 4) / 3))
    assert m.mae(y, yhat) == pytest.approx((0.5 + 0 + 2) / 3)


def test_rmse_mae_match_sklearn():
    rng = np.random.default_rng(0)
    y, yhat = rng.uniform(1, 5, 500), rng.uniform(1, 5, 500)
    assert m.rmse(y, yhat) == pytest.approx(math.sqrt(mean_squared_error(y, yhat)), rel=1e-12)
    assert m.mae(y, yhat) == pytest.approx(mean_absolute_error(y, yhat), rel=1e-12)


def test_auc_by_hand_and_ties():
    # Pairs (pos, neg): (0.35 vs 0.1) win, (0.35 vs 0.4) loss, (0.8 vs both) win -> 3/4.
    assert m.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    # A tie between a positive and a negative counts one half.
    assert m.auc([0, 1], [0.5, 0.5]) == 0.5


def test_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    s = rng.integers(0, 10, 400) / 10  # many ties
    assert m.auc(y, s) == pytest.approx(roc_auc_score(y, s), rel=1e-12)


def test_logloss_by_hand_and_sklearn():
    assert m.logloss([1, 0], [0.9, 0.2]) == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2)
    rng = np.random.default_rng(2)
    y, p = rng.integers(0, 2, 300), rng.uniform(0.01, 0.99, 300)
    assert m.logloss(y, p) == pytest.approx(log_loss(y, p), rel=1e-12)
    # Confident mistakes stay finite thanks to clipping.
    assert math.isfinite(m.logloss([1, 0], [0.0, 1.0]))


@pytest.mark.parametrize(
    "y, p, match",
    [
        ([], [], "empty"),
        ([1, 2], [1.0], "aligned"),
        ([1, np.nan], [1, 2], "NaN"),
        (["a", "b"], [1, 2], "numbers"),
    ],
)
def test_pointwise_bad_input(y, p, match):
    with pytest.raises(ValueError, match=match):
        m.rmse(y, p)


def test_auc_logloss_bad_labels():
    with pytest.raises(ValueError, match="single class"):
        m.auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="only 0 and 1"):
        m.auc([0, 2], [0.2, 0.3])
    with pytest.raises(ValueError, match="probabilities"):
        m.logloss([0, 1], [0.2, 1.3])


# --------------------------------------------------------------------------- ranking

RECS = pd.DataFrame(
    {
        "user_id": [1, 1, 1, 1, 2, 2, 2, 2],
        "item_id": [10, 11, 12, 13, 10, 11, 12, 13],
        "rank": [1, 2, 3, 4, 1, 2, 3, 4],
    }
)
# user 1: relevant 11, 13, 99 (99 never recommended); user 2: relevant 10.
TRUTH = pd.DataFrame({"user_id": [1, 1, 1, 2], "item_id": [11, 13, 99, 10]})


def test_ranking_by_hand():
    k = 4
    # user 1: hits at positions 2 and 4; user 2: hit at position 1.
    assert m.precision_at_k(RECS, TRUTH, k) == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert m.recall_at_k(RECS, TRUTH, k) == pytest.approx((2 / 3 + 1 / 1) / 2)
    assert m.hit_rate_at_k(RECS, TRUTH, k) == 1.0
    dcg1 = 1 / math.log2(3) + 1 / math.log2(5)
    idcg1 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m.ndcg_at_k(RECS, TRUTH, k) == pytest.approx((dcg1 / idcg1 + 1.0) / 2)
    ap1 = 1 / 2 + 2 / 4  # precision at each hit
    assert m.map_at_k(RECS, TRUTH, k) == pytest.approx((ap1 / 3 + 1.0) / 2)
    assert m.map_at_k(RECS, TRUTH, k, denominator="min_k") == pytest.approx((ap1 / 3 + 1.0) / 2)
    # With k=2 the denominators differ: min(3, 2) = 2 for user 1.
    assert m.map_at_k(RECS, TRUTH, 2) == pytest.approx((0.5 / 3 + 1.0) / 2)
    assert m.map_at_k(RECS, TRUTH, 2, denominator="min_k") == pytest.approx((0.5 / 2 + 1.0) / 2)


def test_ranking_report_agrees_with_functions():
    rep = m.ranking_report(RECS, TRUTH, k=3)
    assert rep["p@3"] == m.precision_at_k(RECS, TRUTH, 3)
    assert rep["recall@3"] == m.recall_at_k(RECS, TRUTH, 3)
    assert rep["ndcg@3"] == m.ndcg_at_k(RECS, TRUTH, 3)
    assert rep["map"] == m.map_at_k(RECS, TRUTH, 3)
    assert rep["map@3"] == m.map_at_k(RECS, TRUTH, 3, denominator="min_k")
    assert rep["hit@3"] == m.hit_rate_at_k(RECS, TRUTH, 3)
    assert rep["n_users"] == 2


def test_rank_order_not_row_order_and_gaps():
    shuffled = RECS.sample(frac=1.0, random_state=0).assign(rank=lambda d: d["rank"] * 10)
    assert m.ndcg_at_k(shuffled, TRUTH, 3) == pytest.approx(m.ndcg_at_k(RECS, TRUTH, 3))
    assert m.map_at_k(shuffled, TRUTH, 3) == pytest.approx(m.map_at_k(RECS, TRUTH, 3))


def test_users_truth_vs_common():
    truth = pd.concat([TRUTH, pd.DataFrame({"user_id": [3], "item_id": [10]})])  # user 3 got no list
    p_truth = m.precision_at_k(RECS, truth, 4)
    p_common = m.precision_at_k(RECS, truth, 4, users="common")
    assert p_truth == pytest.approx((2 / 4 + 1 / 4 + 0) / 3)
    assert p_common == pytest.approx((2 / 4 + 1 / 4) / 2)


def test_threshold_and_users_without_relevant_items_excluded():
    truth = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [11, 13, 10], "rating": [5, 2, 1]})
    # rating >= 4: only user 1's item 11 is relevant; user 2 drops out of the mean.
    assert m.precision_at_k(RECS, truth, 2, threshold=4) == pytest.approx(1 / 2)
    with pytest.raises(ValueError, match="no user has a relevant item"):
        m.precision_at_k(RECS, truth, 2, threshold=6)


def test_empty_truth_and_bad_frames():
    with pytest.raises(ValueError, match="empty"):
        m.precision_at_k(RECS, TRUTH.iloc[:0], 3)
    with pytest.raises(ValueError, match="rank"):
        m.ndcg_at_k(RECS.drop(columns="rank"), TRUTH, 3)
    with pytest.raises(ValueError, match="repeat"):
        m.recall_at_k(pd.concat([RECS, RECS.iloc[:1]]), TRUTH, 3)
    with pytest.raises(ValueError, match="k must be"):
        m.recall_at_k(RECS, TRUTH, 0)
    with pytest.raises(ValueError, match="denominator"):
        m.map_at_k(RECS, TRUTH, 3, denominator="k")
    with pytest.raises(ValueError, match="NaN"):
        m.map_at_k(RECS, TRUTH.assign(item_id=[11, np.nan, 99, 10]), 3)
    # No recommendation at all: every truth user scores 0 (defined, not an error).
    assert m.precision_at_k(RECS.iloc[:0], TRUTH, 3) == 0.0


def _random_lists(seed: int, n_users=30, n_items=40, k=10, graded=False):
    """Random scores over a full candidate set, as matrices (sklearn) and as frames."""
    rng = np.random.default_rng(seed)
    rel = (rng.random((n_users, n_items)) < 0.15).astype(float)
    rel[np.arange(n_users), rng.integers(0, n_items, n_users)] = 1.0  # >= 1 relevant item each
    if graded:
        rel *= rng.integers(1, 6, rel.shape)
    score = rng.random((n_users, n_items))
    order = np.argsort(-score, axis=1)[:, :k]
    recs = pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(n_users), k),
            "item_id": order.ravel(),
            "rank": np.tile(np.arange(1, k + 1), n_users),
        }
    )
    u, i = np.nonzero(rel)
    truth = pd.DataFrame({"user_id": u, "item_id": i, "rating": rel[u, i]})
    return rel, score, recs, truth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ndcg_matches_sklearn_binary_and_graded(seed):
    rel, score, recs, truth = _random_lists(seed)
    assert m.ndcg_at_k(recs, truth, 10) == pytest.approx(ndcg_score(rel, score, k=10), rel=1e-12)
    rel, score, recs, truth = _random_lists(seed, graded=True)
    assert m.ndcg_at_k(recs, truth, 10, gain="linear") == pytest.approx(ndcg_score(rel, score, k=10), rel=1e-12)


def _ms_recommenders_reference(recs, truth, k):
    """Microsoft Recommenders' formulas written out per user (their `map`, precision, recall, ndcg)."""
    out = {"p": [], "r": [], "map": [], "ndcg": []}
    for u, t in truth.groupby("user_id"):
        rel = set(t["item_id"])
        lst = recs[recs["user_id"] == u].sort_values("rank")["item_id"].tolist()[:k]
        hits = [i for i, item in enumerate(lst, 1) if item in rel]
        out["p"].append(len(hits) / k)
        out["r"].append(len(hits) / len(rel))
        out["map"].append(sum((j + 1) / p for j, p in enumerate(hits)) / len(rel))
        idcg = sum(1 / math.log(1 + r) for r in range(1, min(len(rel), k) + 1))  # natural log: cancels
        out["ndcg"].append(sum(1 / math.log(1 + p) for p in hits) / idcg)
    return {key: float(np.mean(v)) for key, v in out.items()}


def test_matches_ms_recommenders_definitions():
    _, _, recs, truth = _random_lists(5, n_users=50, n_items=60)
    ref = _ms_recommenders_reference(recs, truth, 10)
    rep = m.ranking_report(recs, truth, 10)
    assert rep["p@10"] == pytest.approx(ref["p"])
    assert rep["recall@10"] == pytest.approx(ref["r"])
    assert rep["map"] == pytest.approx(ref["map"])
    assert rep["ndcg@10"] == pytest.approx(ref["ndcg"])


@st.composite
def ranking_case(draw):
    n_users = draw(st.integers(1, 6))
    n_items = draw(st.integers(1, 12))
    k = draw(st.integers(1, 8))
    rows_t, rows_r = [], []
    for u in range(n_users):
        rel = draw(st.sets(st.integers(0, n_items - 1), min_size=0, max_size=n_items))
        rows_t += [(u, i) for i in rel]
        lst = draw(st.permutations(list(range(n_items))))[: draw(st.integers(0, n_items))]
        rows_r += [(u, i, r) for r, i in enumerate(lst, 1)]
    truth = pd.DataFrame(rows_t, columns=["user_id", "item_id"])
    recs = pd.DataFrame(rows_r, columns=["user_id", "item_id", "rank"])
    return recs, truth, k


@settings(max_examples=60, deadline=None)
@given(ranking_case())
def test_property_bounds(case):
    recs, truth, k = case
    if truth.empty:
        with pytest.raises(ValueError):
            m.precision_at_k(recs, truth, k)
        return
    rep = m.ranking_report(recs, truth, k)
    for key in (f"p@{k}", f"recall@{k}", f"ndcg@{k}", "map", f"map@{k}", f"hit@{k}"):
        assert 0.0 <= rep[key] <= 1.0 + 1e-12
    assert rep["map"] <= rep[f"map@{k}"] + 1e-12  # n_relevant >= min(n_relevant, k)


@settings(max_examples=60, deadline=None)
@given(ranking_case())
def test_property_perfect_ranking(case):
    _, truth, k = case
    if truth.empty:
        return
    # The ideal list: every relevant item first.
    perfect = truth.assign(rank=truth.groupby("user_id").cumcount() + 1)
    n_rel = truth.groupby("user_id").size()
    assert m.ndcg_at_k(perfect, truth, k) == pytest.approx(1.0)
    assert m.map_at_k(perfect, truth, k, denominator="min_k") == pytest.approx(1.0)
    assert m.hit_rate_at_k(perfect, truth, k) == 1.0
    assert m.recall_at_k(perfect, truth, k) == pytest.approx(float(np.mean(np.minimum(n_rel, k) / n_rel)))
    assert m.precision_at_k(perfect, truth, k) == pytest.approx(float(np.mean(np.minimum(n_rel, k) / k)))


# --------------------------------------------------------------------------- beyond accuracy


def test_catalog_coverage():
    assert m.catalog_coverage(RECS, [10, 11, 12, 13, 14, 15, 16, 17]) == 0.5
    train = pd.DataFrame({"user_id": [1, 2], "item_id": [10, 20]})
    assert m.catalog_coverage(RECS, train) == 0.5  # item 10 of {10, 20}
    assert m.catalog_coverage(RECS, [10, 11, 12, 13], k=1) == 0.25  # only item 10 is first


def test_intra_list_diversity_features_and_similarity_agree():
    feats = pd.DataFrame({"a": [1.0, 1.0, 0.0, 1.0], "b": [0.0, 0.0, 1.0, 1.0]}, index=[10, 11, 12, 13])
    recs = pd.DataFrame({"user_id": [1, 1, 1, 2], "item_id": [10, 11, 12, 13], "rank": [1, 2, 3, 1]})
    # user 1 pairs: (10,11) sim 1, (10,12) 0, (11,12) 0 -> mean dissimilarity 2/3; user 2 has 1 item.
    assert m.intra_list_diversity(recs, item_features=feats) == pytest.approx(2 / 3)
    f = feats.to_numpy() / np.linalg.norm(feats.to_numpy(), axis=1, keepdims=True)
    sim = pd.DataFrame(f @ f.T, index=feats.index, columns=feats.index)
    assert m.intra_list_diversity(recs, similarity=sim) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="exactly one"):
        m.intra_list_diversity(recs)
    with pytest.raises(ValueError, match="no row"):
        m.intra_list_diversity(recs.assign(item_id=[10, 11, 99, 13]), item_features=feats)


def test_novelty_by_hand():
    train = pd.DataFrame({"user_id": [1, 2, 3, 4, 1], "item_id": [5, 5, 5, 6, 6]})
    recs = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [5, 6, 77], "rank": [1, 1, 1]})
    # p(5) = 3/4, p(6) = 2/4; item 77 is not in train and is left out.
    assert m.novelty(recs, train) == pytest.approx((-math.log2(0.75) - math.log2(0.5)) / 2)
    with pytest.raises(ValueError, match="undefined"):
        m.novelty(recs[recs.item_id == 77], train)
