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
    # uncertainty weighting: at its fixed point s_t = log L_t; omega "rises to about 0.74", then
    # "falls to about 0.1"
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
