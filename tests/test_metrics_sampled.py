"""Sampled versus full ranking metrics (mt.metrics.heldout_ranks, rank_metrics) and cf score_items."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hypergeom
from sklearn.exceptions import NotFittedError

import mtrec_lib as mt
from mtrec_lib.metrics import heldout_ranks, rank_metrics

ITEMS = list("abcdef")


@pytest.fixture
def toy():
    """One user, six items: a seen, d held out; b and c score above d, e ties with it, f below."""
    scores = pd.DataFrame([[0.9, 0.8, 0.7, 0.6, 0.6, 0.1]], index=[1], columns=ITEMS)
    heldout = pd.DataFrame({"user_id": [1], "item_id": ["d"]})
    seen = pd.DataFrame({"user_id": [1], "item_id": ["a"]})
    return scores, heldout, seen


def _frame(pairs):
    return pd.DataFrame(pairs, columns=["user_id", "item_id"])


# ---------------------------------------------------------------------------
# Ranks by hand
# ---------------------------------------------------------------------------
def test_full_and_fixed_sample_ranks_by_hand(toy):
    scores, heldout, seen = toy
    # negatives of user 1: b, c, e, f (a is seen, d is the held-out item itself)
    r = heldout_ranks(scores, heldout, seen, negatives=_frame([(1, "e"), (1, "f")])).iloc[0]
    assert (r["full_rank"], r["full_tied"], r["n_full"]) == (3.5, 1, 4)  # 1 + 2 above + 1/2 tie
    assert (r["sampled_rank"], r["sampled_tied"], r["n_sampled"]) == (1.5, 1, 2)  # e tied, f below
    r = heldout_ranks(scores, heldout, seen, negatives=_frame([(1, "b"), (1, "f")])).iloc[0]
    assert (r["sampled_rank"], r["sampled_tied"]) == (2.0, 0)  # b above


def test_metrics_by_hand_for_each_tie_rule(toy):
    scores, heldout, seen = toy
    ranks = heldout_ranks(scores, heldout, seen, negatives=_frame([(1, "e"), (1, "f")]))
    m = rank_metrics(ranks, k=3)
    # full: rank 3 or 4 with probability 1/2 each
    assert m["full"]["hit@3"] == 0.5
    assert math.isclose(m["full"]["ndcg@3"], 0.5 / math.log2(4))
    assert math.isclose(m["full"]["mrr"], (1 / 3 + 1 / 4) / 2)
    assert math.isclose(m["full"]["auc"], (4 - 2 - 0.5) / 4)
    # sampled: rank 1 or 2
    m = rank_metrics(ranks, k=1)
    assert m["sampled"]["hit@1"] == 0.5 and m["sampled"]["ndcg@1"] == 0.5
    assert math.isclose(m["sampled"]["mrr"], 0.75) and math.isclose(m["sampled"]["auc"], 0.75)
    assert math.isclose(rank_metrics(ranks, k=2)["sampled"]["ndcg@2"], (1 + 1 / math.log2(3)) / 2)
    pess, opt = rank_metrics(ranks, k=3, ties="pessimistic"), rank_metrics(ranks, k=3, ties="optimistic")
    assert (pess["full"]["hit@3"], opt["full"]["hit@3"]) == (0.0, 1.0)
    assert math.isclose(pess["full"]["mrr"], 1 / 4) and math.isclose(opt["full"]["mrr"], 1 / 3)
    assert math.isclose(pess["full"]["auc"], 1 / 4) and math.isclose(opt["full"]["auc"], 2 / 4)
    assert m["full"]["n"] == 1


def test_expected_tie_rule_is_the_mean_over_tie_orders():
    # one user, 30 negatives: 3 above, 12 tied with the held-out item, 15 below
    s = np.r_[5.0, [9.0] * 3, [5.0] * 12, [1.0] * 15]
    scores = pd.DataFrame([s], index=["u"], columns=range(len(s)))
    ranks = heldout_ranks(scores, _frame([("u", 0)]), _frame([]), n_negatives=30)
    for k in (1, 4, 5, 10, 16, 40):
        m = rank_metrics(ranks, k=k)["full"]
        possible = np.arange(4, 4 + 13)  # ranks 4..16, equally likely
        assert math.isclose(m[f"hit@{k}"], np.mean(possible <= k))
        assert math.isclose(m[f"ndcg@{k}"], np.mean(np.where(possible <= k, 1 / np.log2(possible + 1), 0)))
        assert math.isclose(m["mrr"], np.mean(1 / possible))


def test_other_heldout_items_of_the_user_are_not_negatives(toy):
    scores, _, seen = toy
    ranks = heldout_ranks(scores, _frame([(1, "d"), (1, "b")]), seen, n_negatives=3)
    # d's negatives: c, e, f (b is held out too); b's negatives: c, e, f
    assert ranks["n_full"].tolist() == [3, 3]
    assert ranks["full_rank"].tolist() == [2.5, 1.0]
    assert ranks["n_sampled"].tolist() == [3, 3]  # the sample is the whole pool here


# ---------------------------------------------------------------------------
# The random sample
# ---------------------------------------------------------------------------
def test_sample_is_uniform_without_replacement(toy):
    scores, heldout, seen = toy
    # With 2 of the 4 negatives b, c, e, f drawn, d's sampled (above, tied) follows the pair drawn.
    by_pair = {}
    for pair in itertools.combinations("bcef", 2):
        above = sum(scores.loc[1, x] > 0.6 for x in pair)
        tied = sum(scores.loc[1, x] == 0.6 for x in pair)
        by_pair[pair] = 1 + above + tied / 2
    expected = pd.Series(list(by_pair.values())).value_counts(normalize=True)
    draws = pd.Series(
        [heldout_ranks(scores, heldout, seen, n_negatives=2, seed=s)["sampled_rank"].iloc[0] for s in range(1200)]
    )
    got = draws.value_counts(normalize=True)
    assert set(got.index) == set(expected.index)
    for rank, p in expected.items():
        assert abs(got[rank] - p) < 4 * math.sqrt(p * (1 - p) / len(draws)), (rank, got[rank], p)
    assert (heldout_ranks(scores, heldout, seen, n_negatives=4)["n_sampled"] == 4).all()


def test_same_seed_same_sample_other_seed_other_sample():
    rng = np.random.default_rng(3)
    scores = pd.DataFrame(rng.normal(size=(20, 300)), index=range(20), columns=range(300))
    heldout = _frame([(u, int(rng.integers(300))) for u in range(20)])
    seen = _frame([(u, i) for u in range(20) for i in rng.choice(300, 30, replace=False) if i != heldout.item_id[u]])
    a = heldout_ranks(scores, heldout, seen, n_negatives=50, seed=7)
    b = heldout_ranks(scores, heldout, seen, n_negatives=50, seed=7)
    c = heldout_ranks(scores, heldout, seen, n_negatives=50, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a["sampled_rank"].equals(c["sampled_rank"])
    assert a["full_rank"].equals(c["full_rank"])  # the full ranking does not depend on the seed
    assert (a["n_sampled"] == 50).all() and (a["n_full"] == 300 - 1 - seen.groupby("user_id").size()).all()


def test_sampled_hit_rate_differs_from_full_as_the_hypergeometric_law_says():
    # 300 users, 1,001 items: the held-out item has exactly 50 of its 1,000 negatives above it.
    n_users, n_items = 300, 1001
    s = np.tile(np.r_[0.5, np.full(50, 1.0), np.zeros(950)], (n_users, 1))
    scores = pd.DataFrame(s, columns=range(n_items))
    heldout = _frame([(u, 0) for u in range(n_users)])
    ranks = heldout_ranks(scores, heldout, _frame([]), n_negatives=100, seed=0)
    m = rank_metrics(ranks, k=10)
    assert m["full"]["hit@10"] == 0.0 and (ranks["full_rank"] == 51).all()
    p_hit = hypergeom(1000, 50, 100).cdf(9)  # fewer than 10 of the 50 drawn
    assert p_hit > 0.9
    assert abs(m["sampled"]["hit@10"] - p_hit) < 4 * math.sqrt(p_hit * (1 - p_hit) / n_users)
    # AUC is the one metric the sample estimates without bias
    assert math.isclose(m["full"]["auc"], 950 / 1000)
    assert abs(m["sampled"]["auc"] - 0.95) < 0.005


def test_a_model_that_scores_everything_equally_is_not_perfect():
    scores = pd.DataFrame(np.zeros((5, 201)), columns=range(201))
    heldout = _frame([(u, u) for u in range(5)])
    m = rank_metrics(heldout_ranks(scores, heldout, _frame([]), n_negatives=100))
    assert math.isclose(m["full"]["hit@10"], 10 / 201)  # exactly a random ranking's expectation
    assert math.isclose(m["sampled"]["hit@10"], 10 / 101)
    assert m["full"]["auc"] == m["sampled"]["auc"] == 0.5
    assert rank_metrics(heldout_ranks(scores, heldout, _frame([])), ties="pessimistic")["sampled"]["hit@10"] == 0
    # the optimistic rule is what a careless `rank = 1 + (scores > s).sum()` computes: perfect
    assert rank_metrics(heldout_ranks(scores, heldout, _frame([])), ties="optimistic")["full"]["hit@10"] == 1.0


def test_per_row_values_average_to_the_summary(toy):
    rng = np.random.default_rng(0)
    scores = pd.DataFrame(rng.integers(0, 5, size=(30, 120)).astype(float), columns=range(120))
    heldout = _frame([(u, int(rng.integers(120))) for u in range(30)])
    ranks = heldout_ranks(scores, heldout, _frame([]), n_negatives=40, seed=1)
    rows, summary = rank_metrics(ranks, k=5, per_row=True), rank_metrics(ranks, k=5)
    assert list(rows.columns[:2]) == ["user_id", "item_id"] and len(rows) == 30
    for which in ("full", "sampled"):
        for key in ("hit@5", "ndcg@5", "mrr", "auc"):
            assert math.isclose(rows[f"{which}_{key}"].mean(), summary[which][key])


# ---------------------------------------------------------------------------
# One definition: the rank route agrees with the list metrics
# ---------------------------------------------------------------------------
def test_full_rank_metrics_equal_the_list_metrics_on_recommend():
    rng = np.random.default_rng(5)
    log = _frame([(u, int(i)) for u in range(40) for i in rng.choice(60, int(rng.integers(4, 15)), replace=False)])
    log["timestamp"] = rng.permutation(len(log))
    train, test = mt.data.split(log, method="leave_last_out")
    model = mt.cf.EASE(lam=5.0).fit(train)  # continuous scores: no ties
    scores = model.score_items(test["user_id"].unique())
    test = test[test["item_id"].isin(scores.columns)]
    ranks = heldout_ranks(scores, test, train, n_negatives=5)
    assert (ranks["full_tied"] == 0).all()
    for k in (1, 5, 10):
        recs = model.recommend(test["user_id"].unique(), n=k)
        m = rank_metrics(ranks, k=k)["full"]
        assert math.isclose(m[f"hit@{k}"], mt.metrics.hit_rate_at_k(recs, test, k=k))
        assert math.isclose(m[f"ndcg@{k}"], mt.metrics.ndcg_at_k(recs, test, k=k))


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------
def test_clear_errors(toy):
    scores, heldout, seen = toy
    with pytest.raises(ValueError, match="heldout: missing column 'item_id'"):
        heldout_ranks(scores, heldout.drop(columns="item_id"), seen)
    with pytest.raises(ValueError, match="seen: missing column 'user_id'"):
        heldout_ranks(scores, heldout, seen.drop(columns="user_id"))
    with pytest.raises(ValueError, match="item_id value.*not in the columns"):
        heldout_ranks(scores, _frame([(1, "z")]), seen)
    with pytest.raises(ValueError, match="user_id value.*not in the index"):
        heldout_ranks(scores, _frame([(2, "d")]), seen)
    # n_negatives larger than the pool: an error naming the user and the largest possible value
    with pytest.raises(ValueError, match=r"n_negatives=5 but user 1 has only 4 .* at most 4"):
        heldout_ranks(scores, heldout, seen, n_negatives=5)
    with pytest.raises(ValueError, match="n_negatives must be an integer >= 1"):
        heldout_ranks(scores, heldout, seen, n_negatives=0)
    with pytest.raises(ValueError, match="also in seen"):
        heldout_ranks(scores, heldout, _frame([(1, "d")]))
    with pytest.raises(ValueError, match="not a negative"):
        heldout_ranks(scores, heldout, seen, negatives=_frame([(1, "a")]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        heldout_ranks(scores.replace(0.1, -np.inf), heldout, seen)
    with pytest.raises(TypeError, match="scores: expected a pandas DataFrame"):
        heldout_ranks(scores.to_numpy(), heldout, seen)
    ranks = heldout_ranks(scores, heldout, seen, n_negatives=2)
    with pytest.raises(ValueError, match="unknown ties 'random'"):
        rank_metrics(ranks, ties="random")
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        rank_metrics(ranks, k=0)
    with pytest.raises(ValueError, match="ranks: missing column 'sampled_rank'"):
        rank_metrics(ranks.drop(columns="sampled_rank"))


# ---------------------------------------------------------------------------
# cf: score_items
# ---------------------------------------------------------------------------
TRAIN = pd.DataFrame(
    {
        "user_id": [1, 1, 2, 2, 3, 3, 3, 4],
        "item_id": [10, 20, 10, 30, 20, 30, 40, 10],
        "rating": [5.0, 3.0, 4.0, 2.0, 5.0, 4.0, 1.0, 3.0],
    }
)


@pytest.mark.parametrize(
    "model",
    [
        mt.cf.Popularity(),
        mt.cf.ItemTopN(k=3),
        mt.cf.EASE(lam=1.0),
        mt.cf.UserKNN(k=2),
        mt.cf.ItemKNN(k=2),
        mt.cf.BiasedMF(n_factors=2),
    ],
)
def test_score_items_is_what_recommend_ranks_by(model):
    model.fit(TRAIN)
    scores = model.score_items([3, 1, 3, 99])
    assert scores.index.tolist() == [3, 1, 99] and scores.index.name == "user_id"
    assert scores.columns.tolist() == model.item_ids_.tolist() and scores.columns.name == "item_id"
    assert np.isfinite(scores.to_numpy()).all()
    assert scores.loc[99].tolist() == model.popularity_.astype(float).tolist()  # unknown user
    recs = model.recommend([3, 1], n=2)
    for user, got in recs.groupby("user_id"):
        np.testing.assert_allclose(got["score"], scores.loc[user, got["item_id"]].to_numpy())
    assert model.score_items().shape == (4, 4)


def test_score_items_before_fit_raises():
    with pytest.raises(NotFittedError, match="EASE is not fitted yet"):
        mt.cf.EASE().score_items([1])
