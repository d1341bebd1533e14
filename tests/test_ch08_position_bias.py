"""Chapter 8, position bias page (notebooks/ch08_trends/06_position_bias.ipynb): the prose's numbers hold.

The book build executes the notebook; these tests read its ``RESULT {json}`` line. Each assertion
pins a sentence of the page, quoted in the comment.
"""

from __future__ import annotations

import pytest

from conftest import notebook_results

pytestmark = pytest.mark.slow

NB = "notebooks/ch08_trends/06_position_bias.ipynb"
A, B, C = "(a) ignores position", "(b) position as feature", "(c) position tower"
AR, CR = "(a) on random log", "(c) on random log"


@pytest.fixture(scope="module")
def r(built_site):
    return notebook_results(NB)


def test_ranked_log_confounds_position_and_relevance(r):
    # "the items at position 1 have a mean position-free click probability of ... position 10 only ..."
    assert r["top_relevance"] > 5 * r["bottom_relevance"]
    assert r["position_relevance_corr"] < -0.4
    # "the observed click rate falls ... much more than either cause alone"
    assert r["top_ctr"] > 50 * r["bottom_ctr"]


def test_ranking_ignoring_position_beats_the_tower_on_the_ranked_log(r):
    m = r["mean"]
    # "the model that ignores position ranks test impressions best"
    assert m[A]["spearman"] > max(m[B]["spearman"], m[C]["spearman"])
    # "seed by seed, (a) minus (c) lies between ... : larger than the noise, and against the tower"
    assert len(r["d_spearman_a_minus_c"]) == len(r["seeds"]) == 3
    assert min(r["d_spearman_a_minus_c"]) > 0.02
    # "the top-10 lists tell the same story"; oracle ceiling, random floor
    assert min(r["d_clicks_a_minus_c"]) > 0.03
    assert m["oracle"]["expected_clicks"] > 2 * m[A]["expected_clicks"]
    assert m[B]["expected_clicks"] > 1.3 * m["random"]["expected_clicks"]
    # "expected purchases ... spread over seeds about as large as the gaps"
    gap = m[A]["expected_purchases"] - m[C]["expected_purchases"]
    assert abs(gap) < 3 * max(r["sd"][A]["expected_purchases"], r["sd"][C]["expected_purchases"])
    # "on the random-position log, the tower costs nothing"
    assert m[CR]["spearman"] > m[AR]["spearman"] - 0.02


def test_calibration(r):
    m = r["mean"]
    # "trained on the random-position log ... calibration ratio ~1; without the tower the position-averaged rate"
    assert 0.75 < m[CR]["calibration"] < 1.25
    assert m[AR]["calibration"] < 0.5
    # "on the ranked log no model is calibrated"
    assert m[A]["calibration"] < 0.6 and m[B]["calibration"] > 1.3 and m[C]["calibration"] > 1.3


def test_learned_position_curve(r):
    # "trained on the random-position log the tower finds ... close"; "on the ranked log ... more than the position did"
    assert abs(r["tower_bias_10_random"] - r["true_bias_10"]) < 0.8
    assert r["tower_bias_10_ranked"] < r["true_bias_10"] - 1.0
    curve = r["tower_bias_random"]
    assert curve[0] == 0.0 and curve[-1] < curve[1] < 0


def test_budget(r):
    assert r["cpu_seconds"] < 60
