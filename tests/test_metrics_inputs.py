"""Careless input to mtrec_lib.metrics (and the re-ranker built on it): Series paired by index
label, id columns stored as numbers in one frame and text in the other, top-k accuracy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mtrec_lib import metrics as m
from mtrec_lib import rerank as rr


# ---------------------------------------------------------------------------
# Two Series are paired by index label
# ---------------------------------------------------------------------------
def _shown_and_predictions(seed: int = 0, n: int = 400):
    """An impression log and its predictions (same index), then the log re-sorted by another column."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, n)
    shown = pd.DataFrame(
        {"position": rng.integers(1, 20, n), "click": (rng.random(n) < p).astype(int), "rating": rng.uniform(1, 5, n)},
        index=np.arange(n) + 1000,
    )
    pred = pd.DataFrame(
        {"click": p, "rating": np.clip(shown["rating"] + rng.normal(0, 0.5, n), 1, 5)}, index=shown.index
    )
    return shown.sort_values("position", kind="stable"), pred


def test_auc_pairs_resorted_series_by_label_not_by_position():
    shown, pred = _shown_and_predictions()
    aligned = roc_auc_score(shown["click"], pred.loc[shown.index, "click"])
    positional = roc_auc_score(shown["click"].to_numpy(), pred["click"].to_numpy())
    assert aligned > 0.7 and abs(positional - 0.5) < 0.1  # pairing by position destroys the signal
    assert m.auc(shown["click"], pred["click"]) == pytest.approx(aligned, rel=1e-12)
    # a Series with an array (or two arrays) is paired by position, as before
    assert m.auc(shown["click"], pred["click"].to_numpy()) == pytest.approx(positional, rel=1e-12)


@pytest.mark.parametrize(
    "metric, col",
    [
        (m.auc, "click"),
        (m.logloss, "click"),
        (m.rmse, "rating"),
        (m.mae, "rating"),
        (m.expected_calibration_error, "click"),
    ],
)
def test_every_pointwise_metric_pairs_series_by_label(metric, col):
    shown, pred = _shown_and_predictions(1)
    want = metric(shown[col].to_numpy(), pred.loc[shown.index, col].to_numpy())
    assert metric(shown[col], pred[col]) == want
    assert want != metric(shown[col].to_numpy(), pred[col].to_numpy())  # what pairing by position gave
    curve = m.reliability_curve(shown["click"], pred["click"], n_bins=5)
    pd.testing.assert_frame_equal(
        curve, m.reliability_curve(shown["click"].to_numpy(), pred.loc[shown.index, "click"].to_numpy(), n_bins=5)
    )


def test_series_with_different_labels_are_refused_with_the_fix():
    y = pd.Series([0, 1, 1, 0], index=[0, 1, 2, 3])
    p = pd.Series([0.1, 0.9, 0.8, 0.3], index=[0, 1, 2, 4])
    with pytest.raises(
        ValueError,
        match=r"y_true and y_score are paired by index label, but 1 row label\(s\) "
        r"are only in y_true and 1 only in y_score \(e\.g\. 3\).*to_numpy\(\)",
    ):
        m.auc(y, p)
    with pytest.raises(ValueError, match="y_true and y_pred .*only in y_pred"):
        m.rmse(y, pd.concat([p, pd.Series([0.5], index=[9])]))
    with pytest.raises(ValueError, match="y_true and y_prob"):
        m.expected_calibration_error(y, p)
    # an index that repeats labels cannot be paired by label unless both indexes are equal
    with pytest.raises(ValueError, match="repeats labels.*to_numpy"):
        m.mae(pd.Series([1.0, 2.0], index=[0, 0]), pd.Series([1.0, 2.0], index=[0, 1]))
    assert m.mae(pd.Series([1.0, 2.0], index=[0, 0]), pd.Series([1.0, 3.0], index=[0, 0])) == 0.5


# ---------------------------------------------------------------------------
# Ids stored as numbers in one frame and as text in the other
# ---------------------------------------------------------------------------
RECS = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 10, 12], "rank": [1, 2, 1, 2]})
TRUTH = pd.DataFrame({"user_id": [1, 2], "item_id": [11, 12]})


@pytest.mark.parametrize("col", ["user_id", "item_id"])
@pytest.mark.parametrize("metric", [m.precision_at_k, m.ndcg_at_k, m.ranking_report])
def test_ids_as_text_in_truth_and_numbers_in_recs(metric, col):
    truth = TRUTH.assign(**{col: TRUTH[col].astype(str)})
    with pytest.raises(ValueError) as err:
        metric(RECS, truth, k=2)
    msg = str(err.value)
    assert msg.startswith(f"truth: column '{col}' holds texts (dtype str)")
    assert f"recs['{col}'] holds numbers (dtype int64)" in msg
    assert f'truth["{col}"] = truth["{col}"].astype(int)' in msg.replace("'", '"')


def test_ids_as_numbers_in_truth_and_text_in_recs_suggest_str():
    recs = RECS.assign(item_id=RECS["item_id"].astype(str))
    with pytest.raises(ValueError, match=r"truth\['item_id'\] = truth\['item_id'\]\.astype\(str\)"):
        m.map_at_k(recs, TRUTH, k=2)


def test_int_and_float_ids_still_match():
    want = m.precision_at_k(RECS, TRUTH, k=2)
    assert want == 0.5
    assert m.precision_at_k(RECS, TRUTH.astype(float), k=2) == want
    # categorical ids compare as their categories
    assert m.precision_at_k(RECS.astype({"item_id": "category"}), TRUTH, k=2) == want


def test_other_id_comparisons_refuse_mismatched_types():
    # catalog_coverage matched nothing and answered 0.0 before
    with pytest.raises(ValueError, match="recs: column 'item_id' holds numbers .* the catalog's item ids hold"):
        m.catalog_coverage(RECS, ["10", "11", "12"])
    train = pd.DataFrame({"user_id": [1, 2], "item_id": ["10", "12"]})
    with pytest.raises(ValueError, match=r"recs: column 'item_id'.*astype\(str\)"):
        m.novelty(RECS, train)
    feats = pd.DataFrame({"a": [1.0, 0.0, 1.0]}, index=["10", "11", "12"])
    with pytest.raises(ValueError, match="recs: column 'item_id'.*item_features / similarity"):
        m.intra_list_diversity(RECS, item_features=feats)
    cands = RECS.assign(score=[0.9, 0.5, 0.4, 0.3])
    with pytest.raises(ValueError, match="candidates: column 'item_id' holds numbers.*astype\\(str\\)"):
        rr.rerank(cands, feats)


def test_heldout_ranks_refuses_seen_ids_of_another_type():
    scores = pd.DataFrame([[0.9, 0.8, 0.7, 0.1]], index=[1], columns=[10, 11, 12, 13])
    heldout = pd.DataFrame({"user_id": [1], "item_id": [13]})
    seen = pd.DataFrame({"user_id": ["1"], "item_id": ["10"]})  # ignored silently before
    with pytest.raises(ValueError, match=r"seen: column 'user_id' holds texts .* scores\.index \(users\)"):
        m.heldout_ranks(scores, heldout, seen, n_negatives=1)
    with pytest.raises(ValueError, match=r"heldout: column 'item_id' .*scores\.columns \(items\)"):
        m.heldout_ranks(scores, heldout.astype({"item_id": str}), seen.iloc[:0], n_negatives=1)
    ranks = m.heldout_ranks(scores, heldout, seen.astype(int), n_negatives=1)
    assert ranks["n_full"].tolist() == [2]  # item 10 is seen, 11 and 12 are negatives


# ---------------------------------------------------------------------------
# Positions: one per-user ranking, ties by row order
# ---------------------------------------------------------------------------
def test_tied_ranks_keep_row_order():
    tied = pd.DataFrame({"user_id": [1, 1], "item_id": [10, 11], "rank": [1, 1]})
    truth = pd.DataFrame({"user_id": [1], "item_id": [11]})
    assert m.precision_at_k(tied, truth, k=1) == 0.0
    assert m.precision_at_k(tied.iloc[::-1], truth, k=1) == 1.0
    assert m.catalog_coverage(tied.iloc[::-1], [10, 11], k=1) == 0.5
    assert m.novelty(tied, pd.DataFrame({"user_id": [1, 2], "item_id": [10, 11]}), k=1) == 1.0


# ---------------------------------------------------------------------------
# Row normalisation and cosine similarity, defined once
# ---------------------------------------------------------------------------
def test_cosine_similarity_is_one_definition():
    assert rr.cosine_similarity is m.cosine_similarity
    rng = np.random.default_rng(0)
    f = rng.normal(size=(6, 3))
    f[2] = 0.0
    s = m.cosine_similarity(f)
    unit = m._unit_rows(f)
    assert np.allclose(np.linalg.norm(unit[[0, 1, 3, 4, 5]], axis=1), 1.0) and (unit[2] == 0).all()
    assert np.allclose(s[np.triu_indices(6, 1)], (unit @ unit.T)[np.triu_indices(6, 1)])
    assert (np.diag(s) == 1.0).all()
    feats = pd.DataFrame(f, index=list("abcdef"))
    recs = pd.DataFrame({"user_id": [1, 1, 1, 2, 2], "item_id": list("abcde"), "rank": [1, 2, 3, 1, 2]})
    sim = pd.DataFrame(s, index=feats.index, columns=feats.index)
    assert m.intra_list_diversity(recs, item_features=feats) == pytest.approx(
        m.intra_list_diversity(recs, similarity=sim), rel=1e-12
    )


# ---------------------------------------------------------------------------
# top_k_accuracy
# ---------------------------------------------------------------------------
def test_top_k_accuracy_by_hand_ties_and_misses():
    scores = np.array(
        [
            [0.9, 0.5, 0.1, 0.0],  # true item 1: one item above -> rank 2
            [0.2, 0.3, 0.8, 0.1],  # true item 0: two items above -> rank 3
            [0.4, 0.4, 0.0, 0.4],  # true item 1: three-way tie for first -> rank 1
            [0.1, 0.2, 0.3, 0.4],
        ]
    )  # true item not in catalogue -> miss
    positives = np.array([1, 0, 1, -1])
    assert [m.top_k_accuracy(scores, positives, k=k) for k in (1, 2, 3, 4)] == [0.25, 0.5, 0.75, 0.75]
    masked = scores.copy()
    masked[0, 0] = -np.inf  # a masked candidate (e.g. seen) no longer ranks above the true item
    assert m.top_k_accuracy(masked, positives, k=1) == 0.5


def test_top_k_accuracy_equals_the_optimistic_rank_with_ties():
    from scipy.stats import rankdata

    rng = np.random.default_rng(3)
    scores = rng.integers(0, 8, size=(300, 25)).astype(float)  # many ties
    positives = rng.integers(-1, 25, 300)
    # rank of the true item when it goes first among its ties: 1 + candidates strictly above it
    rank = rankdata(-scores, method="min", axis=1)[np.arange(300), np.maximum(positives, 0)]
    for k in (1, 3, 10, 25):
        assert m.top_k_accuracy(scores, positives, k=k) == np.mean((positives >= 0) & (rank <= k))


@pytest.mark.parametrize(
    "scores, positives, k, match",
    [
        (np.zeros((2, 5)), [0, 1], 0, "k must be"),
        (np.zeros((2, 5)), [0, 5], 1, "positives must be"),
        (np.zeros((2, 5)), [0], 1, "one row per positive"),
        (np.zeros((0, 5)), [], 1, "no queries"),
        (np.array([[0.1, np.nan], [0.2, 0.3]]), [0, 1], 1, "NaN"),
    ],
)
def test_top_k_accuracy_bad_input(scores, positives, k, match):
    with pytest.raises(ValueError, match=match):
        m.top_k_accuracy(scores, np.asarray(positives), k=k)


def test_metrics_and_rerank_do_not_import_tensorflow():
    code = "import sys, mtrec_lib.metrics, mtrec_lib.rerank, mtrec_lib.calibration; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
