r"""Combining task gradients: plain sum, PCGrad and MGDA, and the cosine between tasks.

A multi-task step computes one gradient per task on the parameters the tasks share,
$g_1, \dots, g_T$ (flattened into the rows of a ``(T, P)`` matrix), and must turn them
into one update. Three ways (``MultiTaskLearning(gradient=...)``):

``"sum"``
    $\sum_i g_i$: what minimising $\sum_i L_i$ does. When two gradients point against
    each other ($g_i \cdot g_j < 0$) the larger one wins and the other task's loss can go
    up: the gradient-level face of negative transfer (负迁移).
``"pcgrad"``
    Projecting conflicting gradients (Yu et al., NeurIPS 2020): in a random task order,
    each task's gradient loses its component along every other task's gradient it
    conflicts with, $g_i \leftarrow g_i - \frac{g_i \cdot g_j}{\lVert g_j\rVert^2} g_j$
    when $g_i \cdot g_j < 0$; the update is the sum of the projected gradients.
    :func:`pcgrad`.
``"mgda"``
    The multiple-gradient descent algorithm (Sener & Koltun, NeurIPS 2018): the
    convex combination $\sum_i \alpha_i g_i$ ($\alpha_i \ge 0$, $\sum_i \alpha_i = 1$)
    of smallest norm, a direction that decreases no task's loss less than any other
    common direction can (zero only at a Pareto-stationary point). Two tasks have a
    closed form, $\alpha_1 = \operatorname{clip}\big(\frac{(g_2 - g_1)\cdot g_2}
    {\lVert g_1 - g_2\rVert^2}, 0, 1\big)$; more tasks are solved by Frank-Wolfe on
    the Gram matrix. :func:`mgda_weights`.

The functions take array-likes and return float32 tensors (``np.asarray`` turns them
into numpy arrays);
the training step (:class:`~mtrec_lib.models.MultiTaskModel`) calls the same functions on
the gradients of each batch.

Examples
--------
>>> import numpy as np
>>> g = np.array([[1.0, 0.0], [-1.0, 1.0]])          # cosine -0.71: the tasks conflict
>>> np.asarray(pcgrad(g, order=[0, 1])).tolist()      # each loses its part along the other
[[0.5, 0.5], [0.0, 1.0]]
>>> np.asarray(mgda_weights(g), float).round(3).tolist()  # min-norm point of the segment g1-g2
[0.6, 0.4]
"""

from __future__ import annotations

from collections.abc import Sequence

from keras import ops

__all__ = ["GRADIENT_METHODS", "gradient_cosines", "pcgrad", "mgda_weights", "min_norm_pair", "combine"]

#: Valid values of ``MultiTaskLearning(gradient=...)``.
GRADIENT_METHODS = ("sum", "pcgrad", "mgda")

_TINY = 1e-12  # guards divisions by a squared norm of zero (a task with no gradient)


def _matrix(grads):
    g = ops.convert_to_tensor(grads)
    if not str(g.dtype).startswith("float"):
        g = ops.cast(g, "float32")
    if len(g.shape) != 2:
        raise ValueError(f"grads must be a (tasks, parameters) matrix, got shape {tuple(g.shape)}.")
    return g


def gradient_cosines(grads):
    """Cosine similarity between every pair of task gradients: a ``(T, T)`` matrix.

    A row of zeros (a task with no gradient) has cosine 0 with every task.

    Examples
    --------
    >>> import numpy as np
    >>> np.asarray(gradient_cosines([[1.0, 0.0], [1.0, 1.0]]), float).round(3).tolist()
    [[1.0, 0.707], [0.707, 1.0]]
    """
    g = _matrix(grads)
    norms = ops.sqrt(ops.sum(g * g, axis=1))
    gram = ops.matmul(g, ops.transpose(g))
    return gram / ops.maximum(norms[:, None] * norms[None, :], _TINY)


def pcgrad(grads, order: Sequence[int] | None = None):
    """PCGrad's projected task gradients (Yu et al., 2020, Algorithm 1): a ``(T, P)`` tensor.

    Every task's gradient $g_i$ is projected, one other task $j \\ne i$ after another in
    ``order``, off the *original* gradient $g_j$ whenever it conflicts with it:
    $g_i \\leftarrow g_i - \\min(0, g_i \\cdot g_j) / \\lVert g_j \\rVert^2 \\; g_j$.
    (The paper's Algorithm 1 skips $j = i$; its reference code visits every task, $i$
    included, which with three or more tasks can differ: once projected, $g_i$ may
    conflict with its own original.) The update is the sum of the rows. With two tasks
    the order does not matter; with more it does, and the paper draws it at random each
    step (the training step does, seeded).

    Parameters
    ----------
    grads : array-like, shape (T, P)
        One flattened gradient per task.
    order : sequence of int or int tensor, optional
        The order in which the tasks are visited (a permutation of ``range(T)``).
        Default: ``0, 1, ..., T-1``.

    Examples
    --------
    >>> import numpy as np
    >>> np.asarray(pcgrad([[1.0, 0.0], [0.0, 1.0]])).tolist()   # no conflict: unchanged
    [[1.0, 0.0], [0.0, 1.0]]
    """
    g = _matrix(grads)
    n_tasks = int(g.shape[0])
    if order is None:
        order = list(range(n_tasks))
    elif not ops.is_tensor(order):  # a tensor order comes from the training step, drawn at random
        order = [int(j) for j in order]
        if sorted(order) != list(range(n_tasks)):
            raise ValueError(f"order must be a permutation of range({n_tasks}), got {order}.")
    sq = ops.sum(g * g, axis=1)
    others = 1.0 - ops.eye(n_tasks, dtype=g.dtype)  # row j: 0 for task j, 1 for the rest
    out = g
    for step in range(n_tasks):
        j = order[step]
        g_j = ops.take(g, j, axis=0)[None, :]
        dot = ops.sum(out * g_j, axis=1)  # (T,): g_i . g_j for every i
        coef = ops.minimum(dot, 0.0) / ops.maximum(ops.take(sq, j), _TINY)  # only on conflict
        out = out - (coef * ops.take(others, j, axis=0))[:, None] * g_j  # not task j itself
    return out


def min_norm_pair(aa, ab, bb, tie: float = 0.5):
    """Weight $\\gamma$ on $a$ of the smallest vector $\\gamma a + (1-\\gamma) b$, $\\gamma \\in [0, 1]$.

    From the three dot products $a\\cdot a$, $a \\cdot b$, $b \\cdot b$:
    $\\gamma = \\operatorname{clip}\\big((b\\cdot b - a\\cdot b) / \\lVert a - b\\rVert^2, 0, 1\\big)$,
    and ``tie`` ($\\tfrac12$) when $a = b$ (every point of the segment is the same vector).

    Examples
    --------
    >>> float(min_norm_pair(1.0, -1.0, 1.0))      # a = -b: the midpoint is the zero vector
    0.5
    """
    aa, ab, bb = (ops.convert_to_tensor(v) for v in (aa, ab, bb))
    denom = aa + bb - 2.0 * ab  # ||a - b||^2
    safe = ops.maximum(denom, _TINY)
    gamma = ops.clip((bb - ab) / safe, 0.0, 1.0)
    return ops.where(denom > _TINY * ops.maximum(aa + bb, 1.0), gamma, ops.ones_like(gamma) * tie)


def mgda_weights(grads, iterations: int = 250):
    """MGDA's weights: the convex combination of the task gradients with the smallest norm.

    Solves $\\min_\\alpha \\lVert \\sum_i \\alpha_i g_i \\rVert^2$ over the simplex
    ($\\alpha_i \\ge 0$, $\\sum_i \\alpha_i = 1$). Two tasks: the closed form of
    :func:`min_norm_pair`. Up to ``EXACT_MAX_TASKS`` (6) tasks: exactly, by trying every
    support $S$ of $\\alpha$: on $S$ the minimum over the affine hull is
    $\\alpha_S \\propto M_S^{-1}\\mathbf 1$ ($M = G G^\\top$, the Gram matrix, with a tiny ridge
    so that equal or dependent gradients share their weight), and the answer is the best
    such point that lies in the simplex. More tasks: Frank-Wolfe on $M$ (Sener & Koltun, 2018,
    Algorithm 2): start at $\\alpha = 1/T$, move toward the task $t$ with the smallest
    $(M\\alpha)_t$ by the exact line search, ``iterations`` times (approximate: Frank-Wolfe
    converges slowly near the optimum).

    Parameters
    ----------
    grads : array-like, shape (T, P)
    iterations : int, default 250
        Frank-Wolfe steps (more than ``EXACT_MAX_TASKS`` tasks only).

    Returns
    -------
    tensor, shape (T,)
        Non-negative, summing to 1. Identical gradients get equal weights.

    Examples
    --------
    >>> import numpy as np
    >>> np.asarray(mgda_weights([[2.0, 0.0], [0.0, 1.0]]), float).round(3).tolist()   # the shorter weighs more
    [0.2, 0.8]
    >>> np.asarray(mgda_weights(np.eye(3)), float).round(3).tolist()                  # orthogonal: equal
    [0.333, 0.333, 0.333]
    """
    g = _matrix(grads)
    n_tasks = int(g.shape[0])
    gram = ops.matmul(g, ops.transpose(g))
    if n_tasks == 1:
        return ops.ones((1,), dtype=g.dtype)
    if n_tasks == 2:
        a = min_norm_pair(gram[0, 0], gram[0, 1], gram[1, 1])
        return ops.stack([a, 1.0 - a])
    if n_tasks <= EXACT_MAX_TASKS:
        return _min_norm_by_supports(gram)
    alpha = ops.ones((n_tasks,), dtype=g.dtype) / n_tasks
    eye = ops.eye(n_tasks, dtype=g.dtype)
    for _ in range(int(iterations)):
        m_alpha = ops.matmul(gram, alpha)  # (M alpha)_t = g_t . v
        t = ops.argmin(m_alpha)
        e_t = ops.take(eye, t, axis=0)
        vv = ops.sum(alpha * m_alpha)  # v . v, v = G^T alpha
        vt = ops.take(m_alpha, t)  # v . g_t
        tt = ops.take(ops.diagonal(gram), t)  # g_t . g_t
        gamma = min_norm_pair(vv, vt, tt, tie=1.0)  # weight on v; v = g_t: stay
        alpha = gamma * alpha + (1.0 - gamma) * e_t
    return alpha


#: Up to this many tasks :func:`mgda_weights` is exact (2^T - 1 small linear systems).
EXACT_MAX_TASKS = 6


def _min_norm_by_supports(gram):
    """The min-norm point of the simplex, exactly: the best feasible affine minimum over all supports."""
    n_tasks = int(gram.shape[0])
    dtype = gram.dtype
    gram = ops.cast(gram, "float64")  # the ridged systems are ill-conditioned for float32
    eye = ops.eye(n_tasks, dtype="float64")
    # The ridge keeps every M_S invertible; it also breaks ties toward spreading the weight
    # (equal gradients: each extra task in S lowers the ridge term), so equal gradients share.
    scale = ops.maximum(ops.sum(ops.diagonal(gram)) / n_tasks, _TINY)
    ridged = gram + 1e-6 * scale * eye
    best_value, best_alpha = None, None
    for mask in range(1, 2**n_tasks):
        support = [i for i in range(n_tasks) if mask >> i & 1]
        pick = ops.take(eye, support, axis=0)  # (|S|, T): rows of the identity
        sub = ops.matmul(ops.matmul(pick, ridged), ops.transpose(pick))
        x = ops.solve(sub, ops.ones((len(support), 1), dtype="float64"))[:, 0]
        a_sub = x / ops.sum(x)
        value = ops.sum(a_sub * ops.matmul(sub, a_sub))
        value = ops.where(ops.all(a_sub >= -1e-6), value, ops.full_like(value, float("inf")))
        alpha = ops.matmul(a_sub[None, :], pick)[0]
        if best_value is None:
            best_value, best_alpha = value, alpha
        else:
            better = value < best_value
            best_value = ops.where(better, value, best_value)
            best_alpha = ops.where(better, alpha, best_alpha)
    best_alpha = ops.maximum(best_alpha, 0.0)
    return ops.cast(best_alpha / ops.sum(best_alpha), dtype)


def combine(grads, method: str = "sum", order: Sequence[int] | None = None):
    """One update from the task gradients, as the training step makes it.

    Returns ``(update, task_scale)``: the combined shared gradient, shape ``(P,)``, and
    how much of each task's own (unshared) gradient enters the step, shape ``(T,)``.
    ``"sum"`` and ``"pcgrad"`` keep every task at 1. ``"mgda"`` uses $T \\alpha$: the
    weights sum to $T$ as ``"sum"``'s do, so the step is on the same scale (the paper's
    $\\alpha$ sums to 1; with Adam only the relative weights matter).

    Examples
    --------
    >>> import numpy as np
    >>> update, scale = combine([[1.0, 0.0], [-1.0, 1.0]], "pcgrad")
    >>> np.asarray(update).tolist(), np.asarray(scale).tolist()
    ([0.5, 1.5], [1.0, 1.0])
    """
    g = _matrix(grads)
    n_tasks = int(g.shape[0])
    if method == "sum":
        return ops.sum(g, axis=0), ops.ones((n_tasks,), dtype=g.dtype)
    if method == "pcgrad":
        return ops.sum(pcgrad(g, order), axis=0), ops.ones((n_tasks,), dtype=g.dtype)
    if method == "mgda":
        scale = n_tasks * ops.stop_gradient(mgda_weights(g))
        return ops.sum(scale[:, None] * g, axis=0), scale
    raise ValueError(f"unknown gradient method {method!r}; choose one of {list(GRADIENT_METHODS)}.")
