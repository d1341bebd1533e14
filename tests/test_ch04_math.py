"""Chapter 4 notebooks: the numbers their prose states hold.

The book build executes each notebook (tests/conftest.py, ``book_build``); these tests read
the ``RESULT {json}`` lines of the executed copies and check them against what the text
claims. The notebooks also assert their checks themselves; these tests pin the prose.
"""

from __future__ import annotations

import pytest

from conftest import notebook_results

pytestmark = pytest.mark.slow


def _run(name: str) -> dict:
    return notebook_results(f"notebooks/ch04_math/{name}")


def test_linear_model_and_neuron(built_site):
    r = _run("01_linear_model_and_neuron.ipynb")
    # normal equations, gradient descent and sklearn agree "to rounding error"
    assert r["linear_max_diff"] < 1e-8
    # "thirty steps" after standardising; "tens of thousands of times larger" before
    assert r["linear_gd_steps"] <= 40
    assert r["condition_number_raw"] / r["condition_number_standardised"] > 1e4
    # the linear probability model leaves [0, 1] for a sizeable share of rows
    assert r["linear_share_outside_0_1"] > 0.1
    # the hand gradient: autodiff and finite differences agree to rounding error
    assert r["autodiff_max_abs_diff"] < 1e-6
    assert r["finite_difference_max_abs_diff"] < 1e-6
    # numpy gradient descent reproduces sklearn's unpenalised logistic regression
    assert r["sklearn_coef_max_abs_diff"] < 1e-3
    assert r["keras_max_abs_diff"] < 1e-12
    assert 0.0 < r["log_loss"] < 0.2 and r["auc"] > 0.8


def test_multi_task_objective(built_site):
    r = _run("02_multi_task_objective.ipynb")
    # every formula matches the library's code
    assert r["combine_max_abs_diff"] < 1e-5
    assert r["uncertainty_grad_max_abs_diff"] < 1e-5
    assert r["gradnorm_grad_max_abs_diff"] < 1e-12
    assert r["gradnorm_step_max_abs_diff"] < 1e-5
    # the page's tasks are linear (n_sin=0) because, with the default sinusoids, "a least-squares
    # fit explains well under half of a target's variance"
    assert 0.3 < r["default_sinusoids_r2"] < 0.5
    # "the trained models sit on the theoretical front"
    assert r["sweep_points"] >= 10 and r["front_gap_log"] < 0.05
    # uncertainty weighting: at its fixed point s_t = log L_t; omega first "rises" (task 1 gets
    # the larger weight), then "falls" far below one half (both values are glued)
    assert r["uncertainty_s_vs_log_loss_max_diff"] < 0.05
    assert 0.68 < r["uncertainty_peak_omega"] < 0.8
    assert 0.05 < r["uncertainty_final_omega"] < 0.2
    # equal weights: task 2 (larger units) almost as well fit as it can be, task 1 pays
    eq1, eq2 = r["equal_weights_test_losses"]
    uw1, uw2 = r["uncertainty_test_losses"]
    assert eq2 < 0.15 and eq1 > 0.6 and uw2 < eq2
    # GradNorm shifts weight to task 1 and ends with similar loss ratios, mid-front
    gn1, gn2 = r["gradnorm_test_losses"]
    assert 0.7 < r["gradnorm_final_omega"] < 0.95
    ratio1, ratio2 = r["gradnorm_loss_ratios"]
    assert 1 / 1.5 < ratio1 / ratio2 < 1.5
    assert gn1 < eq1 and gn2 > 5 * eq2


def test_gradient_conflict(built_site):
    r = _run("03_gradient_conflict.ipynb")
    # the worked example: the summed step raises task 1's loss, as the first-order formula says
    assert r["toy_sum_dot_g1"] < 0
    assert r["toy_loss1_rise"] > 0 and abs(r["toy_loss1_rise"] / r["toy_loss1_rise_predicted"] - 1) < 0.1
    # PCGrad and MGDA by hand match the library "to float32 rounding"
    assert r["pcgrad_hand_vs_library_max_diff"] < 1e-5
    assert r["pcgrad_orthogonality_max"] < 1e-5  # g1' . g2 = 0
    assert r["pcgrad_three_task_order_gap"] > 0.1  # with three tasks the order matters
    assert r["mgda_hand_vs_library_max_diff"] < 1e-5
    assert r["mgda_kkt_violation_max"] < 1e-5  # g_t . d >= |d|^2
    # the picture: PCGrad's and MGDA's directions lower both losses; MGDA's interior weight
    # 10/13 makes g1 . d = g2 . d = |d|^2
    assert all(v > 0 for v in r["toy_pcgrad_dots"])
    assert abs(r["toy_mgda_alpha1"] - 10 / 13) < 1e-5
    dot1, dot2, d_sq = r["toy_mgda_dots_and_sq"]
    assert d_sq > 0 and abs(dot1 - d_sq) < 1e-5 and abs(dot2 - d_sq) < 1e-5
    # training: 2 shops x 3 methods, one cosine per epoch, each a cosine
    cosines = r["cosines"]
    assert len(cosines) == 6 and all(len(c) == r["epochs"] for c in cosines.values())
    assert all(-1 <= v <= 1 for c in cosines.values() for v in c)
    # "click and purchase hardly conflict": near zero in the first epoch, positive afterwards
    assert r["share_negative_epochs"] < 0.25
    first_lo, first_hi = r["first_epoch_cosine_range"]
    later_lo, later_hi = r["later_cosine_range"]
    assert later_lo > 0 and max(abs(first_lo), abs(first_hi)) < later_lo
    assert all(min(c[1:]) > 0 for c in cosines.values())
    # "the latent relatedness barely matters"
    by_rel = r["later_cosine_by_relatedness"]
    assert abs(by_rel["0.7"] - by_rel["0"]) < 0.1
    # AUCs: PCGrad almost the sum's model; MGDA costs click, gains nothing measurable on purchase
    assert all(0.5 < auc < 1 for run in r["test_auc"].values() for auc in run.values())
    assert r["pcgrad_max_auc_gap_vs_sum"] < 0.01
    intervals = r["auc_diff_intervals"]
    for rel in ("0.7", "0"):
        diff, low, high = intervals[f"{rel}/click/mgda"]
        assert low <= diff <= high < 0
        diff, low, high = intervals[f"{rel}/purchase/mgda"]
        assert low < 0 < high
    assert r["final_train_loss"]["purchase"] < r["final_train_loss"]["click"]
    assert r["test_purchases"] > 50
    # small enough for the build: well under a minute on two cores
    assert r["cpu_seconds"] < 60
