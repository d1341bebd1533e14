"""Chapter 5, calibration page (notebooks/ch05_project/03_calibration.ipynb): the prose's numbers hold.

The book build executes the notebook (tests/conftest.py, ``book_build``); these tests read the
``RESULT {json}`` line of the executed copy. Each test pins a sentence of the prose, quoted in
the comments. Values from a standalone run (seed-fixed, 2-core CPU): purchase mean prediction
1.17-1.31 times the rate, Platt purchase ECE 15-19% of uncalibrated, demo losses 0.05% and
0.5%, forecast 1.17-1.31 -> 0.96-0.99.
"""

from __future__ import annotations

import pytest

from conftest import notebook_results

pytestmark = pytest.mark.slow

NOTEBOOK = "notebooks/ch05_project/03_calibration.ipynb"
ARCHS = ("shared_bottom", "mmoe", "esmm")
ORACLE = "oracle (true probabilities)"


@pytest.fixture(scope="module")
def r(built_site):
    return notebook_results(NOTEBOOK)


def test_split_and_budget(r):
    assert r["rows"]["train"] > r["rows"]["calibration"] > 10_000 and r["rows"]["test"] > 10_000
    assert r["cpu_seconds"] < 60  # the page's budget: about 40 s of CPU on an idle 2-core machine


def test_networks_over_predict_purchases(r):
    # "All three networks over-predict purchases"; "Clicks are closer"
    for a in ARCHS:
        assert 1.1 < r["mean_over_rate"]["purchase"][a] < 1.5
        assert 0.98 < r["mean_over_rate"]["click"][a] < r["mean_over_rate"]["purchase"][a]
    # "The ECEs against the labels sit above the noise floor"
    for key, value in r["ece_labels"].items():
        assert value > 2 * r["noise_floor"][key.split("/")[1]], key


def test_calibrators_repair_it(r):
    before, platt, iso = r["ece_truth"], r["ece_truth_platt"], r["ece_truth_isotonic"]
    for a in ARCHS:
        key = f"{a}/purchase"
        assert platt[key] < 0.3 * before[key] and iso[key] < 0.4 * before[key]  # "cuts ... to 15-19%" etc.
        assert platt[f"{a}/click"] < before[f"{a}/click"] and iso[f"{a}/click"] < before[f"{a}/click"]
        # "for purchases Platt ... a match for a step function"
        assert platt[key] <= iso[key] + 1e-4
    # "Platt's ECE is at most isotonic's in most cases"
    assert sum(platt[k] <= iso[k] for k in platt) >= 4
    # "only mildly over-confident about clicks and hardly at all about purchases"
    for a in ARCHS:
        assert 0.8 < r["platt_slope"][f"{a}/click"] < 0.97
        assert 0.93 < r["platt_slope"][f"{a}/purchase"] < 1.07


def test_controlled_distortion_small_and_repaired(r):
    demo = r["demo"]
    oracle = demo["true pCTR x pCVR (oracle)"]["expected purchases"]
    for name in ("over-confident", "under-confident"):
        distorted = demo[f"{name} pCTR"]
        # "the mechanism is real but, on this shop, small"
        assert distorted["Spearman with true p_purchase"] < 0.995
        assert 0.99 * oracle < distorted["expected purchases"] <= oracle
        # "Calibration undoes the change"
        assert demo[f"{name} pCTR, platt"]["Spearman with true p_purchase"] > 0.999
        rho = distorted["Spearman with true p_purchase"]
        assert demo[f"{name} pCTR, isotonic"]["Spearman with true p_purchase"] > rho
        assert demo[f"{name} pCTR, platt"]["expected purchases"] >= distorted["expected purchases"]


def test_calibration_barely_moves_the_networks_lists(r):
    ep = r["expected_purchases_a1b1"]
    # the networks are far below the oracle, calibrated or not
    assert all(v < 0.7 * ep[ORACLE] for k, v in ep.items() if k != ORACLE)
    for a in ARCHS:
        mean, se = r["calibration_change"][f"{a}/platt"]
        assert abs(mean) < 0.001 and abs(mean) < 3 * se + 1e-4  # Platt: no change beyond noise
        mean, se = r["calibration_change"][f"{a}/isotonic"]
        assert -0.01 < mean < 0 and abs(mean) > 2 * se  # isotonic: "a small loss"
        assert abs(r["spearman_a1b1"][f"{a} + platt"] - r["spearman_a1b1"][a]) < 0.01
        assert r["expected_revenue"][a] < 0.6 * r["expected_revenue"][ORACLE]


def test_threshold_decision_and_forecast(r):
    fc, promoted, profit = r["forecast_ratio"], r["promoted"], r["threshold_profit"]
    for a in ARCHS:
        # "the uncalibrated networks predict 1.17-1.31 times ... the calibrated ones 0.96-0.99"
        assert fc[a] > 1.1
        for m in ("platt", "isotonic"):
            assert 0.93 < fc[f"{a} + {m}"] < 1.03
        # "promote more impressions than the oracle; after Platt scaling fewer"
        assert promoted[a] > promoted[ORACLE] > promoted[f"{a} + platt"]
        # "the profit barely moves" with Platt, and stays far below the oracle's
        assert abs(r["platt_profit_gain"][a]) < 3
        assert profit[f"{a} + platt"] < profit[ORACLE] - 10


def test_esmm_product(r):
    e = r["esmm"]
    raw = e["pCTCVR as trained"]
    assert e["pCTCVR calibrated directly (Platt)"] < raw / 3
    assert e["calibrated pCTR x calibrated pCVR"] < raw / 3  # "as good here"
    cvr_raw = e["pCVR as trained, vs true p(purchase | click)"]
    cvr_cal = e["pCVR calibrated on clicked rows, vs true p(purchase | click)"]
    assert cvr_cal < cvr_raw and cvr_cal > 0.01  # "and still ... after a calibration fitted on clicked rows"
