"""Calibration: ECE and reliability curves (mtrec_lib.metrics) and the calibrators (mtrec_lib.calibration)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from mtrec_lib.calibration import METHODS, Calibrator, TaskCalibrator
from mtrec_lib.metrics import expected_calibration_error, reliability_curve


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _logit(p):
    return np.log(p / (1 - p))


# ---------------------------------------------------------------------------
# ECE and the reliability curve
# ---------------------------------------------------------------------------
def test_ece_hand_computed_uniform():
    y = [0, 0, 1, 0, 1, 1]
    p = [0.1, 0.2, 0.3, 0.6, 0.7, 0.9]
    # bins [0, .5): mean p .2, rate 1/3; [.5, 1]: mean p 11/15, rate 2/3 -> (.5 * 2/15 + .5 * 1/15)
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.1)
    # five bins of width .2: [0,.2): {.1}: |0-.1|; [.2,.4): {.2,.3}: |.5-.25|; [.6,.8): {.6,.7}: |.5-.65|;
    # [.8,1]: {.9}: |1-.9|; [.4,.6) is empty and skipped
    expected = (1 * 0.1 + 2 * 0.25 + 2 * 0.15 + 1 * 0.1) / 6
    assert expected_calibration_error(y, p, n_bins=5) == pytest.approx(expected)


def test_ece_quantile_bins_hand_computed():
    y = [0, 0, 1, 0, 1, 1]
    p = [0.1, 0.2, 0.3, 0.6, 0.7, 0.9]
    # three equal-count bins: {.1,.2}: |0-.15|; {.3,.6}: |.5-.45|; {.7,.9}: |1-.8|
    expected = (2 * 0.15 + 2 * 0.05 + 2 * 0.2) / 6
    assert expected_calibration_error(y, p, n_bins=3, strategy="quantile") == pytest.approx(expected)
    rel = reliability_curve(y, p, n_bins=3, strategy="quantile")
    assert rel["count"].tolist() == [2, 2, 2]
    assert rel["mean_predicted"].tolist() == pytest.approx([0.15, 0.45, 0.8])
    assert rel["fraction_positive"].tolist() == pytest.approx([0.0, 0.5, 1.0])


def test_uniform_and_quantile_bins_differ_on_skewed_predictions():
    rng = np.random.default_rng(0)
    p = rng.beta(1, 30, 5_000)  # rare-event predictions, almost all below 0.1
    y = (rng.random(5_000) < p).astype(int)
    uni = reliability_curve(y, p, n_bins=10)
    qua = reliability_curve(y, p, n_bins=10, strategy="quantile")
    assert uni["count"].iloc[0] > 0.9 * len(p)  # one equal-width bin holds nearly everything
    assert len(qua) == 10 and qua["count"].max() - qua["count"].min() <= 1
    assert np.allclose(uni["bin_upper"] - uni["bin_lower"], 0.1)


def test_bin_edges_half_open_last_closed():
    rel = reliability_curve([0, 1, 1], [0.0, 0.5, 1.0], n_bins=2)
    # 0.5 opens the second bin [0.5, 1]; 1.0 belongs to the last, closed bin
    assert rel["count"].tolist() == [1, 2]
    assert rel["bin_lower"].tolist() == [0.0, 0.5] and rel["bin_upper"].tolist() == [0.5, 1.0]


def test_ece_zero_when_perfectly_calibrated_per_bin():
    # in each bin the mean prediction equals the share of positives
    y = [0, 0, 0, 1, 1, 1, 1, 0]
    p = [0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75]
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(0.0, abs=1e-12)


def test_ece_against_true_probabilities():
    truth = np.array([0.1, 0.2, 0.6, 0.8])
    assert expected_calibration_error(truth, truth) == pytest.approx(0.0, abs=1e-12)
    # predictions 0.05 too high everywhere (no bin boundary crossed): ECE is exactly the shift
    assert expected_calibration_error(truth, truth + 0.05) == pytest.approx(0.05)
    # halving every prediction: the ECE is the curve's weighted gap, and since every prediction is
    # below its truth no bin's gap cancels, so it equals the mean shortfall
    p = truth / 2
    rel = reliability_curve(truth, p)
    manual = (rel["count"] * (rel["fraction_positive"] - rel["mean_predicted"]).abs()).sum() / len(p)
    assert expected_calibration_error(truth, p) == pytest.approx(manual)
    assert expected_calibration_error(truth, p) == pytest.approx(np.mean(truth - p))


def test_reliability_counts_sum_to_n_and_columns():
    rng = np.random.default_rng(1)
    p = rng.random(777)
    y = (rng.random(777) < p).astype(int)
    for strategy in ("uniform", "quantile"):
        rel = reliability_curve(y, p, n_bins=7, strategy=strategy)
        assert list(rel.columns) == ["bin_lower", "bin_upper", "mean_predicted", "fraction_positive", "count"]
        assert rel["count"].sum() == 777
        assert (rel["count"] > 0).all()
        assert ((rel["mean_predicted"] >= rel["bin_lower"]) & (rel["mean_predicted"] <= rel["bin_upper"])).all()


def test_quantile_bins_with_ties_and_constant_predictions():
    assert reliability_curve([0, 1, 1, 0], [0.3] * 4, n_bins=4, strategy="quantile")["count"].tolist() == [4]
    assert expected_calibration_error([0, 1, 1, 0], [0.3] * 4, strategy="quantile") == pytest.approx(0.2)


def test_ece_pairs_series_by_index_label_like_every_metric():
    y = pd.Series([1, 1, 0, 0], index=[3, 2, 1, 0])  # labels re-sorted after predicting
    p = pd.Series([0.1, 0.2, 0.8, 0.9], index=[0, 1, 2, 3])
    # by label: the positives (2, 3) got 0.8 and 0.9, the negatives 0.1 and 0.2
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.15)
    assert expected_calibration_error(y.to_numpy(), p.to_numpy(), n_bins=2) == pytest.approx(0.85)  # by position
    assert reliability_curve(y, p, n_bins=2)["fraction_positive"].tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="y_true and y_prob are paired by index label"):
        expected_calibration_error(y, p.set_axis([0, 1, 2, 7]))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"y_true": [0, 1], "y_prob": [0.5]}, "aligned"),
        ({"y_true": [0, 1], "y_prob": [0.5, 1.2]}, "y_prob must be probabilities"),
        ({"y_true": [0, 2], "y_prob": [0.5, 0.5]}, "y_true must hold 0/1 labels or true probabilities"),
        ({"y_true": [], "y_prob": []}, "y_true is empty"),
        ({"y_true": [0, 1], "y_prob": [0.5, np.nan]}, "NaN"),
        ({"y_true": [0, 1], "y_prob": [0.5, 0.5], "n_bins": 0}, "n_bins"),
        ({"y_true": [0, 1], "y_prob": [0.5, 0.5], "strategy": "kmeans"}, "strategy"),
    ],
)
def test_ece_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        expected_calibration_error(**kwargs)
    with pytest.raises(ValueError, match=match):
        reliability_curve(**kwargs)


# ---------------------------------------------------------------------------
# Calibrator
# ---------------------------------------------------------------------------
def _miscalibrated(n, seed):
    """Predictions p and labels drawn from sigmoid(2 * logit(p) + 1): a known miscalibration."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, n)
    truth = _sigmoid(2 * _logit(p) + 1)
    return p, (rng.random(n) < truth).astype(int), truth


def test_platt_recovers_known_miscalibration_on_heldout_data():
    p_fit, y_fit, _ = _miscalibrated(20_000, seed=0)
    p_new, y_new, truth_new = _miscalibrated(20_000, seed=1)
    cal = Calibrator("platt").fit(p_fit, y_fit)
    assert cal.slope_ == pytest.approx(2.0, abs=0.1) and cal.intercept_ == pytest.approx(1.0, abs=0.1)
    before = expected_calibration_error(y_new, p_new)
    after = expected_calibration_error(y_new, cal.predict(p_new))
    assert before > 0.1 and after < before / 5
    # against the truth, the calibrated probabilities are close to the truth itself
    assert np.abs(cal.predict(p_new) - truth_new).max() < 0.03


def test_isotonic_is_monotone_and_improves_ece():
    p_fit, y_fit, _ = _miscalibrated(20_000, seed=2)
    p_new, y_new, truth_new = _miscalibrated(20_000, seed=3)
    cal = Calibrator("isotonic").fit(p_fit, y_fit)
    grid = np.linspace(0, 1, 1001)
    out = cal.predict(grid)
    assert (np.diff(out) >= 0).all()
    assert (out > 0).all() and (out < 1).all()  # clipped into (0, 1)
    assert expected_calibration_error(truth_new, cal.predict(p_new)) < expected_calibration_error(truth_new, p_new) / 4


def test_platt_identity_on_calibrated_predictions():
    rng = np.random.default_rng(4)
    p = rng.uniform(0.05, 0.95, 30_000)
    y = (rng.random(30_000) < p).astype(int)
    cal = Calibrator("platt").fit(p, y)
    assert cal.slope_ == pytest.approx(1.0, abs=0.05) and cal.intercept_ == pytest.approx(0.0, abs=0.05)


def test_isotonic_hand_example_and_out_of_bounds_clip():
    cal = Calibrator("isotonic").fit([0.2, 0.4, 0.6, 0.8], [0, 1, 0, 1])
    # pool-adjacent-violators: 0 | (1, 0) -> 0.5, 0.5 | 1
    assert cal.predict([0.2, 0.4, 0.6, 0.8]).tolist() == pytest.approx([1e-6, 0.5, 0.5, 1 - 1e-6])
    assert cal.predict([0.0, 1.0]).tolist() == pytest.approx([1e-6, 1 - 1e-6])  # outside the fitted range


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibrator_deterministic_and_sklearn_conventions(method):
    p, y, _ = _miscalibrated(2_000, seed=5)
    a = Calibrator(method).fit(p, y).predict(p)
    b = clone(Calibrator(method)).fit(p, y).predict(p)
    assert np.array_equal(a, b)
    est = Calibrator(method)
    assert est.get_params() == {"method": method}
    assert est.fit(p, y) is est
    with pytest.raises(NotFittedError, match="not fitted"):
        Calibrator(method).predict(p)


@pytest.mark.parametrize(
    "p, y, match",
    [
        ([0.1, 0.2], [0, 1, 1], "aligned"),
        ([0.1, 0.2, 0.3], [1, 1, 1], "single class"),
        ([0.1, 1.5, 0.3], [0, 1, 1], r"probabilities in \[0, 1\]"),
        ([-0.1, 0.5, 0.3], [0, 1, 1], r"probabilities in \[0, 1\]"),
        ([0.1, 0.5, 0.3], [0, 2, 1], "only 0 and 1"),
        ([], [], "y_prob is empty"),
    ],
)
def test_calibrator_errors(p, y, match):
    with pytest.raises(ValueError, match=match):
        Calibrator().fit(p, y)


def test_calibrator_unknown_method_and_bad_predict_input():
    with pytest.raises(ValueError, match="method"):
        Calibrator("beta").fit([0.1, 0.9], [0, 1])
    cal = Calibrator("platt").fit([0.1, 0.2, 0.8, 0.9], [0, 1, 0, 1])
    with pytest.raises(ValueError, match="y_prob"):
        cal.predict([0.5, 2.0])


# ---------------------------------------------------------------------------
# TaskCalibrator
# ---------------------------------------------------------------------------
def _task_frames(seed=0, n=4_000):
    rng = np.random.default_rng(seed)
    pc, pp = rng.uniform(0.02, 0.6, n), rng.uniform(0.001, 0.1, n)
    labels = pd.DataFrame(
        {
            "click": (rng.random(n) < _sigmoid(2 * _logit(pc) + 1)).astype(int),
            "purchase": (rng.random(n) < pp / 2).astype(int),
        },
        index=np.arange(n) + 100,
    )
    preds = pd.DataFrame({"click": pc, "purchase": pp, "other": rng.random(n)}, index=labels.index)
    return preds, labels


def test_task_calibrator_per_task_and_shape():
    preds, labels = _task_frames()
    tc = TaskCalibrator("platt", tasks=["click", "purchase"]).fit(preds, labels)
    out = tc.transform(preds)
    assert out.index.equals(preds.index) and list(out.columns) == list(preds.columns)
    assert out["other"].equals(preds["other"])  # not a task: passes through
    for task in ("click", "purchase"):
        single = Calibrator("platt").fit(preds[task], labels[task]).predict(preds[task])
        assert np.allclose(out[task], single)
        assert expected_calibration_error(labels[task], out[task], strategy="quantile") < expected_calibration_error(
            labels[task], preds[task], strategy="quantile"
        )
    assert tc.calibrators_["click"].slope_ == pytest.approx(2.0, abs=0.25)


def test_task_calibrator_method_per_task_and_default_tasks():
    preds, labels = _task_frames(1)
    tc = TaskCalibrator({"click": "platt", "purchase": "isotonic"}).fit(preds[["click", "purchase"]], labels)
    assert tc.tasks_ == ["click", "purchase"]
    assert tc.calibrators_["click"].method == "platt" and tc.calibrators_["purchase"].method == "isotonic"


def test_task_calibrator_errors():
    preds, labels = _task_frames(2, n=200)
    with pytest.raises(ValueError, match="'purchase'"):
        TaskCalibrator(tasks=["click", "purchase"]).fit(preds, labels.drop(columns="purchase"))
    with pytest.raises(ValueError, match="'click'"):
        TaskCalibrator(tasks=["click"]).fit(preds.drop(columns="click"), labels)
    with pytest.raises(KeyError, match="'purchase'"):
        TaskCalibrator({"click": "platt"}, tasks=["click", "purchase"]).fit(preds, labels)
    with pytest.raises(ValueError, match="rows"):
        TaskCalibrator(tasks=["click"]).fit(preds, labels.iloc[:-1])
    one_class = labels.assign(purchase=0)
    with pytest.raises(ValueError, match="task 'purchase'.*single class"):
        TaskCalibrator(tasks=["click", "purchase"]).fit(preds, one_class)
    with pytest.raises(NotFittedError):
        TaskCalibrator().transform(preds)
    tc = TaskCalibrator(tasks=["click"]).fit(preds, labels)
    with pytest.raises(ValueError, match="'click'"):
        tc.transform(preds.drop(columns="click"))


def test_calibrators_pair_series_and_frames_by_index_label():
    preds, labels = _task_frames(3, n=600)
    shuffled = labels.sample(frac=1.0, random_state=0)  # same rows, another order
    for method in METHODS:
        a = Calibrator(method).fit(preds["click"], labels["click"]).predict(preds["click"])
        b = Calibrator(method).fit(preds["click"], shuffled["click"]).predict(preds["click"])
        assert np.array_equal(a, b)
        tc = TaskCalibrator(method, tasks=["click", "purchase"])
        pd.testing.assert_frame_equal(tc.fit(preds, shuffled).transform(preds), tc.fit(preds, labels).transform(preds))
    with pytest.raises(ValueError, match="y_prob and y_true are paired by index label"):
        Calibrator().fit(preds["click"], labels["click"].reset_index(drop=True))
    with pytest.raises(ValueError, match="predictions and labels are paired by index label.*only in predictions"):
        TaskCalibrator(tasks=["click"]).fit(preds, labels.reset_index(drop=True))


def test_not_fitted_errors_name_the_class():
    with pytest.raises(NotFittedError, match="Calibrator is not fitted yet; call fit first"):
        Calibrator().predict([0.5])
    with pytest.raises(NotFittedError, match="TaskCalibrator is not fitted yet; call fit first"):
        TaskCalibrator().transform(pd.DataFrame({"click": [0.5]}))


def test_calibration_module_does_not_import_tensorflow():
    code = "import sys, mtrec_lib as mt; mt.calibration.Calibrator; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
