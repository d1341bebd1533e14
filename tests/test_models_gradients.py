"""Gradient combination (mtrec_lib.models.gradients): PCGrad, MGDA and the cosines, by hand.

Every expected value is computed here independently of the library: projections worked out
on paper or by a numpy loop, MGDA's two-task weight by its closed form and by a grid, the
many-task weights by an exact solution of the min-norm problem on the simplex (every support
enumerated) cross-checked with scipy. The library works in float32, so tolerances are those of
single precision relative to the gradients' scale.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize

from mtrec_lib.models import gradients
from mtrec_lib.models.gradients import combine, gradient_cosines, mgda_weights, min_norm_pair, pcgrad

RTOL, ATOL = 1e-4, 1e-5


def _np(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _pcgrad_numpy(grads, order):
    """PCGrad in float64: each row, one other task j != i after another in ``order`` (the
    paper's Algorithm 1), loses its component along the original g_j when it conflicts with it."""
    g = np.asarray(grads, dtype=float)
    out = g.copy()
    for i in range(len(g)):
        for j in order:
            if j == i:
                continue
            dot = out[i] @ g[j]
            if dot < 0:
                out[i] -= dot / (g[j] @ g[j]) * g[j]
    return out


def _min_norm_exact(gram):
    """min_a a^T M a over the simplex, exactly: the best KKT point over every support."""
    n = len(gram)
    best, best_a = np.inf, None
    for size in range(1, n + 1):
        for support in itertools.combinations(range(n), size):
            s = list(support)
            # minimise a_S^T M_SS a_S subject to sum a_S = 1: [[2M, 1], [1^T, 0]] [a; mu] = [0; 1]
            kkt = np.zeros((size + 1, size + 1))
            kkt[:size, :size] = 2 * gram[np.ix_(s, s)]
            kkt[:size, size] = kkt[size, :size] = 1.0
            rhs = np.zeros(size + 1)
            rhs[size] = 1.0
            a_s = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:size]
            if a_s.min() < -1e-12 or abs(a_s.sum() - 1) > 1e-9:
                continue
            a = np.zeros(n)
            a[s] = np.clip(a_s, 0, None)
            value = a @ gram @ a
            if value < best:
                best, best_a = value, a
    return best, best_a


def _min_norm_scipy(gram):
    n = len(gram)
    res = minimize(
        lambda a: a @ gram @ a,
        np.full(n, 1 / n),
        jac=lambda a: 2 * gram @ a,
        bounds=[(0, 1)] * n,
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 1000},
        constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1, "jac": lambda a: np.ones(n)}],
    )
    return float(res.fun)


# ---------------------------------------------------------------------------
# gradient_cosines
# ---------------------------------------------------------------------------
def test_gradient_cosines_match_numpy():
    rng = np.random.default_rng(0)
    for n_tasks in (2, 3, 4):
        g = rng.normal(size=(n_tasks, 7)) * rng.uniform(0.01, 10, size=(n_tasks, 1))
        unit = g / np.linalg.norm(g, axis=1, keepdims=True)
        got = _np(gradient_cosines(g))
        assert got.shape == (n_tasks, n_tasks)
        np.testing.assert_allclose(got, unit @ unit.T, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(got, got.T, atol=1e-7)
        assert np.all(np.abs(got) <= 1 + 1e-6)


def test_gradient_cosines_hand_values_and_zero_row():
    got = _np(gradient_cosines([[1.0, 0.0], [-1.0, 1.0], [0.0, 0.0]]))
    np.testing.assert_allclose(got[0, 1], -1 / np.sqrt(2), rtol=RTOL)
    np.testing.assert_allclose(np.diag(got)[:2], [1.0, 1.0], rtol=RTOL)
    assert np.all(got[2] == 0) and np.all(got[:, 2] == 0)  # a task without gradient: cosine 0
    assert gradient_cosines(np.eye(2)).dtype == "float32"


# ---------------------------------------------------------------------------
# PCGrad
# ---------------------------------------------------------------------------
def test_pcgrad_two_tasks_by_hand():
    g1, g2 = np.array([2.0, 1.0]), np.array([-1.0, 1.0])  # g1 . g2 = -1: they conflict
    got = _np(pcgrad([g1, g2]))
    # g1' = g1 - (g1.g2 / |g2|^2) g2 = (2, 1) + (-1, 1) / 2;  g2' = g2 - (g2.g1 / |g1|^2) g1 = (-1, 1) + (2, 1) / 5
    np.testing.assert_allclose(got, [[1.5, 1.5], [-0.6, 1.2]], rtol=RTOL, atol=ATOL)
    # each projection is orthogonal to the other task's (original) gradient
    assert abs(got[0] @ g2) < ATOL and abs(got[1] @ g1) < ATOL
    # the summed update does not increase either loss to first order
    update = got.sum(axis=0)
    assert update @ g1 >= -ATOL and update @ g2 >= -ATOL
    # with two tasks the order does not matter
    np.testing.assert_allclose(_np(pcgrad([g1, g2], order=[1, 0])), got, atol=ATOL)


def test_pcgrad_repairs_a_step_that_would_increase_a_loss():
    # |g2| large and opposed: the plain sum increases L1 to first order (g1 . (g1 + g2) < 0)
    g1, g2 = np.array([1.0, 0.0]), np.array([-3.0, 1.0])
    assert g1 @ (g1 + g2) < 0
    update = _np(pcgrad([g1, g2])).sum(axis=0)
    assert update @ g1 >= -ATOL and update @ g2 >= -ATOL


def test_pcgrad_leaves_non_conflicting_gradients_unchanged():
    rng = np.random.default_rng(1)
    for _ in range(10):
        base = np.abs(rng.normal(size=(3, 5)))  # non-negative entries: every dot >= 0
        np.testing.assert_allclose(_np(pcgrad(base, order=rng.permutation(3))), base, rtol=RTOL, atol=ATOL)
    orthogonal = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_array_equal(_np(pcgrad(orthogonal)), orthogonal)
    same = np.array([[1.0, -2.0], [1.0, -2.0]])  # identical gradients do not conflict
    np.testing.assert_allclose(_np(pcgrad(same)), same, atol=ATOL)


def test_pcgrad_zero_gradient_row_changes_nothing():
    g = np.array([[1.0, 2.0], [0.0, 0.0], [-1.0, 0.5]])
    got = _np(pcgrad(g))
    assert np.all(np.isfinite(got)) and np.all(got[1] == 0)
    np.testing.assert_allclose(got, _pcgrad_numpy(g, range(3)), rtol=RTOL, atol=ATOL)


def test_pcgrad_three_tasks_depends_on_the_order():
    g = np.array([[1.0, 0.0], [-0.5, 1.0], [-0.5, -1.0]])  # every pair conflicts
    # task 0, visiting task 1 first: (1, 0) + 0.4 (-0.5, 1) = (0.8, 0.4); its dot with g2 is
    # -0.8, so + 0.64 (-0.5, -1): (0.48, -0.24). Visiting task 2 first gives the mirror image.
    first = _np(pcgrad(g, order=[0, 1, 2]))
    second = _np(pcgrad(g, order=[0, 2, 1]))
    np.testing.assert_allclose(first[0], [0.48, -0.24], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(second[0], [0.48, 0.24], rtol=RTOL, atol=ATOL)
    assert np.abs(first - second).max() > 0.1
    np.testing.assert_allclose(_np(pcgrad(g)), first, atol=ATOL)  # default order: 0, 1, ..., T-1


def test_pcgrad_matches_a_numpy_loop_on_random_gradients():
    rng = np.random.default_rng(2)
    for _ in range(40):
        n_tasks, n_params = int(rng.integers(2, 5)), int(rng.integers(2, 9))
        g = rng.normal(size=(n_tasks, n_params)) * rng.uniform(0.1, 10, size=(n_tasks, 1))
        order = rng.permutation(n_tasks)
        scale = np.abs(g).max()
        np.testing.assert_allclose(_np(pcgrad(g, order=order)), _pcgrad_numpy(g, order), rtol=RTOL, atol=ATOL * scale)


def test_pcgrad_two_tasks_projection_is_orthogonal_on_random_conflicts():
    rng = np.random.default_rng(3)
    for _ in range(20):
        g = rng.normal(size=(2, 6))
        if g[0] @ g[1] >= 0:
            g[1] = -g[1]
        got = _np(pcgrad(g))
        scale = np.linalg.norm(g, axis=1).max() ** 2
        assert abs(got[0] @ g[1]) < 1e-5 * scale and abs(got[1] @ g[0]) < 1e-5 * scale
        update = got.sum(axis=0)
        assert update @ g[0] >= -1e-5 * scale and update @ g[1] >= -1e-5 * scale


# ---------------------------------------------------------------------------
# MGDA
# ---------------------------------------------------------------------------
def test_min_norm_pair_hand_values():
    assert float(min_norm_pair(1.0, -1.0, 1.0)) == pytest.approx(0.5)  # a = -b: the midpoint is 0
    assert float(min_norm_pair(4.0, 0.0, 1.0)) == pytest.approx(0.2)  # (1 - 0) / (4 + 1)
    assert float(min_norm_pair(2.0, 2.0, 2.0)) == 0.5  # a = b
    assert float(min_norm_pair(0.0, 0.0, 0.0)) == 0.5  # both zero


def test_mgda_two_tasks_closed_form_and_grid():
    rng = np.random.default_rng(4)
    grid = np.linspace(0, 1, 100_001)
    for _ in range(30):
        g = rng.normal(size=(2, int(rng.integers(2, 8)))) * rng.uniform(0.1, 3, size=(2, 1))
        g1, g2 = g
        alpha = _np(mgda_weights(g))
        assert alpha.shape == (2,) and alpha.min() >= 0 and alpha.sum() == pytest.approx(1, abs=1e-6)
        closed = np.clip((g2 - g1) @ g2 / ((g1 - g2) @ (g1 - g2)), 0, 1)
        assert alpha[0] == pytest.approx(closed, rel=RTOL, abs=ATOL)
        norms = ((grid[:, None] * g1 + (1 - grid[:, None]) * g2) ** 2).sum(axis=1)
        lib = np.sum((alpha[0] * g1 + alpha[1] * g2) ** 2)
        assert lib <= norms.min() + 1e-5 * (g**2).sum()
        assert abs(alpha[0] - grid[np.argmin(norms)]) < 1e-3


def test_mgda_two_tasks_clips_when_one_gradient_dominates():
    # g1 . g2 >= |g1|^2: the min-norm point of the segment is g1 itself
    np.testing.assert_allclose(_np(mgda_weights([[1.0, 0.0], [2.0, 1.0]])), [1.0, 0.0], atol=ATOL)
    np.testing.assert_allclose(_np(mgda_weights([[3.0, 0.0], [1.0, 0.0]])), [0.0, 1.0], atol=ATOL)
    # a zero gradient: all the weight on it (the min norm is 0: Pareto-stationary)
    np.testing.assert_allclose(_np(mgda_weights([[1.0, 2.0], [0.0, 0.0]])), [0.0, 1.0], atol=ATOL)
    np.testing.assert_allclose(_np(mgda_weights([[0.0, 0.0], [1.0, 2.0]])), [1.0, 0.0], atol=ATOL)
    # opposite gradients of equal length: the midpoint, the zero vector
    np.testing.assert_allclose(_np(mgda_weights([[1.0, -1.0], [-1.0, 1.0]])), [0.5, 0.5], atol=ATOL)
    # the docstring's example
    np.testing.assert_allclose(_np(mgda_weights([[2.0, 0.0], [0.0, 1.0]])), [0.2, 0.8], atol=ATOL)


@pytest.mark.parametrize("n_tasks", [1, 2, 3, 4])
def test_mgda_identical_gradients_get_equal_weights(n_tasks):
    g = np.tile([0.3, -1.2, 2.0], (n_tasks, 1))
    np.testing.assert_allclose(_np(mgda_weights(g)), np.full(n_tasks, 1 / n_tasks), atol=ATOL)
    zeros = np.zeros((n_tasks, 3))
    np.testing.assert_allclose(_np(mgda_weights(zeros)), np.full(n_tasks, 1 / n_tasks), atol=ATOL)


def test_exact_min_norm_reference_agrees_with_scipy():
    # the reference used below, checked once against a general-purpose solver
    rng = np.random.default_rng(5)
    for _ in range(10):
        g = rng.normal(size=(int(rng.integers(3, 5)), int(rng.integers(2, 7))))
        gram = g @ g.T
        assert _min_norm_exact(gram)[0] == pytest.approx(_min_norm_scipy(gram), abs=1e-7)


@pytest.mark.parametrize("n_tasks", [3, 4])
def test_mgda_frank_wolfe_solves_the_min_norm_problem(n_tasks):
    rng = np.random.default_rng(10 + n_tasks)
    for trial in range(20):
        g = rng.normal(size=(n_tasks, int(rng.integers(2, 9))))
        gram = g @ g.T
        alpha = _np(mgda_weights(g))
        assert alpha.shape == (n_tasks,) and alpha.min() >= -1e-7
        assert alpha.sum() == pytest.approx(1, abs=1e-5)
        best, _ = _min_norm_exact(gram)
        assert alpha @ gram @ alpha - best < 1e-4, (trial, alpha @ gram @ alpha, best)


def test_mgda_direction_decreases_every_loss_unless_pareto_stationary():
    # d = sum_i alpha_i g_i satisfies g_t . d >= |d|^2 for every t (the KKT conditions on the
    # simplex): the step -d decreases every task's loss to first order, unless d = 0
    rng = np.random.default_rng(6)
    for _ in range(20):
        g = rng.normal(size=(2, 5))
        d = _np(mgda_weights(g)) @ g
        assert np.all(g @ d >= d @ d - 1e-4 * (g**2).sum())


# ---------------------------------------------------------------------------
# combine
# ---------------------------------------------------------------------------
def test_combine_each_method():
    g = np.array([[1.0, 0.0], [-1.0, 1.0]])
    update, scale = combine(g, "sum")
    np.testing.assert_allclose(_np(update), [0.0, 1.0], atol=ATOL)
    np.testing.assert_array_equal(_np(scale), [1.0, 1.0])

    update, scale = combine(g, "pcgrad")
    np.testing.assert_allclose(_np(update), _pcgrad_numpy(g, [0, 1]).sum(axis=0), atol=ATOL)  # (0.5, 1.5)
    np.testing.assert_array_equal(_np(scale), [1.0, 1.0])

    update, scale = combine(g, "mgda")
    alpha = np.array([0.6, 0.4])  # (g2 - g1) . g2 / |g1 - g2|^2 = 3 / 5
    np.testing.assert_allclose(_np(scale), 2 * alpha, atol=ATOL)  # weights sum to T, as "sum"'s do
    np.testing.assert_allclose(_np(update), 2 * alpha @ g, atol=ATOL)

    three = np.random.default_rng(7).normal(size=(3, 4))
    order = [2, 0, 1]
    np.testing.assert_allclose(
        _np(combine(three, "pcgrad", order=order)[0]), _pcgrad_numpy(three, order).sum(axis=0), rtol=RTOL, atol=ATOL
    )
    update, scale = combine(three, "mgda")
    assert _np(scale).sum() == pytest.approx(3, abs=1e-5)
    np.testing.assert_allclose(_np(update), _np(scale) @ three, rtol=RTOL, atol=ATOL)


def test_methods_constant():
    assert gradients.GRADIENT_METHODS == ("sum", "pcgrad", "mgda")


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("order", [[0, 0], [0, 2], [1], [0, 1, 2]])
def test_pcgrad_rejects_an_order_that_is_not_a_permutation(order):
    with pytest.raises(ValueError, match="permutation"):
        pcgrad([[1.0, 0.0], [0.0, 1.0]], order=order)
    with pytest.raises(ValueError, match="permutation"):
        combine([[1.0, 0.0], [0.0, 1.0]], "pcgrad", order=order)


@pytest.mark.parametrize("fn", [gradient_cosines, pcgrad, mgda_weights, lambda g: combine(g, "sum")])
@pytest.mark.parametrize("bad", [[1.0, 2.0, 3.0], np.zeros((2, 2, 2))])
def test_gradients_must_be_a_matrix(fn, bad):
    with pytest.raises(ValueError, match="matrix"):
        fn(bad)


def test_combine_rejects_an_unknown_method():
    with pytest.raises(ValueError, match="unknown gradient method"):
        combine([[1.0, 0.0], [0.0, 1.0]], "average")
