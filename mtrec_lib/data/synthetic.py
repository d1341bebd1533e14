"""Synthetic regression tasks with a controlled correlation (the MMoE paper's generator).

Ma et al., "Modeling Task Relationships in Multi-task Learning with
Multi-gate Mixture-of-Experts", KDD 2018, section 3.2, generate two regression
tasks whose *linear parts* have a chosen Pearson correlation $p$, then add
sinusoids so the tasks are non-linear. Sweeping $p$ asks how each architecture
copes as the tasks become less related.

Examples
--------
>>> import mtrec_lib as mt
>>> df = mt.data.make_correlated_tasks(n_samples=2_000, task_correlation=0.5, n_features=10, seed=0)
>>> list(df.columns[-3:])
['x9', 'y1', 'y2']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .validate import check_number, check_positive_int

__all__ = ["make_correlated_tasks", "sinusoid_parameters"]


def sinusoid_parameters(n_sin: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The default $\\alpha_j, \\beta_j$: the values of google-research's reference generator.

    The paper does not publish them. The generator published by the paper's own
    organisation (google-research, ``mmoe/synthetic_data.py``, function
    ``generate_task_pairs``; its comment: "The original paper does not provide the
    values for these sequences") uses ``alphas = range(1, m + 1)`` and
    ``betas = [i ** 2 for i in range(m)]``, that is $\\alpha_j = j$ and
    $\\beta_j = (j - 1)^2$ for $j = 1, \\dots, m$. They are fixed: every seed and
    every correlation of the data set shares them.

    Parameters
    ----------
    n_sin : int, default 10
        Number $m$ of sinusoids.

    Returns
    -------
    alpha, beta : numpy.ndarray
        Float arrays of length ``n_sin``.

    Examples
    --------
    >>> import mtrec_lib as mt
    >>> alpha, beta = mt.data.sinusoid_parameters(4)
    >>> alpha.tolist(), beta.tolist()
    ([1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 4.0, 9.0])
    """
    n_sin = check_positive_int(n_sin, "n_sin", minimum=0)
    j = np.arange(n_sin, dtype=float)
    return j + 1.0, j**2


def make_correlated_tasks(
    n_samples: int = 10_000,
    task_correlation: float = 0.5,
    n_features: int = 100,
    seed: int = 0,
    *,
    n_sin: int = 10,
    alpha: Sequence[float] | np.ndarray | None = None,
    beta: Sequence[float] | np.ndarray | None = None,
    scale: float = 1.0,
    noise_std: float = 0.1,
    return_weights: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Two regression tasks whose linear parts have Pearson correlation ``task_correlation``.

    The generator of Ma et al. (KDD 2018), section 3.2:

    1. Draw orthogonal unit vectors $u_1, u_2 \\in \\mathbb{R}^d$ (QR of a Gaussian matrix).
    2. $w_1 = c\\,u_1$, $w_2 = c\\,(p\\,u_1 + \\sqrt{1-p^2}\\,u_2)$, so
       $\\cos(w_1, w_2) = p$.
    3. $x \\sim N(0, I_d)$; then $w_1^\\top x$ and $w_2^\\top x$ have Pearson
       correlation $p$.
    4. $y_i = w_i^\\top x + \\sum_{j=1}^{m} \\sin(\\alpha_j w_i^\\top x + \\beta_j) + \\epsilon_i$.

    Where each constant comes from:

    * $c = 1$, $m = 10$, $d = 100$ and $\\epsilon_i \\sim N(0, 0.01)$ are the paper's
      (section 3.2 and its experiments); we read $N(0, 0.01)$ as variance 0.01, so
      ``noise_std = 0.1`` and the noise floor of a task's squared error is 0.01
      (google-research's generator passes 0.01 as the standard deviation instead).
    * $\\alpha_j, \\beta_j$ are not in the paper. The defaults are those of the
      reference generator published by the paper's organisation, google-research
      (see :func:`sinusoid_parameters`): $\\alpha_j = j$, $\\beta_j = (j-1)^2$, the
      same for both tasks, every seed and every correlation. With them the tasks
      are strongly non-linear: a least-squares fit explains about 42% of the
      variance of ``y1`` (its variance is about 7), and the correlation of
      ``y1`` and ``y2`` falls much faster than $p$ (about 0.46 at $p = 0.9$, 0.22
      at $p = 0.5$). The first edition drew $\\alpha_j, \\beta_j \\sim N(0, 0.1^2)$,
      which makes every sinusoid nearly a straight line (least squares then
      explains 98-99% of the variance); pass ``alpha`` and ``beta`` to reproduce it
      or to try other values.
    * The seed draws $u_1, u_2$, $x$ and the noise. For one seed every correlation
      shares $x$, the noise and $w_1$ (only $w_2$ moves with $p$), so results at
      different $p$ are paired.

    Parameters
    ----------
    n_samples : int, default 10_000
        Number of rows.
    task_correlation : float in [-1, 1], default 0.5
        The $p$ above.
    n_features : int >= 2, default 100
        Dimension $d$ of $x$.
    seed : int, default 0
        Seed of ``np.random.default_rng``.
    n_sin : int, default 10
        Number $m$ of sinusoids (when ``alpha`` and ``beta`` are not given).
    alpha, beta : array-like of length m, optional
        The sinusoids' frequencies and phases; default :func:`sinusoid_parameters`.
    scale : float, default 1.0
        The constant $c$.
    noise_std : float, default 0.1
        Standard deviation of $\\epsilon_i$.
    return_weights : bool, default False
        Also return ``{"w1", "w2", "alpha", "beta"}`` as numpy arrays.

    Returns
    -------
    pandas.DataFrame
        Columns ``x0 .. x{d-1}, y1, y2``. ``frame.attrs`` holds
        ``task_correlation``, ``w1`` and ``w2`` (as lists) for later reference.
    dict, optional
        The weights, when ``return_weights`` is true.

    Examples
    --------
    >>> import numpy as np, mtrec_lib as mt
    >>> df, w = mt.data.make_correlated_tasks(5_000, 0.9, n_features=20, seed=1, return_weights=True)
    >>> x = df.filter(like="x").to_numpy()
    >>> round(float(np.corrcoef(x @ w["w1"], x @ w["w2"])[0, 1]), 1)
    0.9
    >>> w["alpha"][:3].tolist(), w["beta"][:3].tolist()
    ([1.0, 2.0, 3.0], [0.0, 1.0, 4.0])
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    n_features = check_positive_int(n_features, "n_features", minimum=2)
    seed = check_positive_int(seed, "seed", minimum=0)
    p = check_number(task_correlation, "task_correlation", -1.0, 1.0)
    for name, value in (("scale", scale), ("noise_std", noise_std)):
        check_number(value, name, 0.0)
    default_alpha, default_beta = sinusoid_parameters(n_sin)
    alpha = _sinusoid_array(alpha, default_alpha, "alpha")
    beta = _sinusoid_array(beta, default_beta, "beta")
    if alpha.shape != beta.shape:
        raise ValueError(f"alpha and beta need the same length; got {alpha.size} and {beta.size}.")

    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n_features, 2)))
    u1, u2 = q[:, 0], q[:, 1]
    w1 = scale * u1
    w2 = scale * (p * u1 + np.sqrt(max(0.0, 1.0 - p * p)) * u2)
    x = rng.normal(size=(n_samples, n_features))
    lin1, lin2 = x @ w1, x @ w2

    def nonlinear(lin: np.ndarray) -> np.ndarray:
        return lin + np.sin(np.outer(lin, alpha) + beta).sum(axis=1)

    y1 = nonlinear(lin1) + rng.normal(0.0, noise_std, size=n_samples)
    y2 = nonlinear(lin2) + rng.normal(0.0, noise_std, size=n_samples)
    frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(n_features)])
    frame["y1"] = y1
    frame["y2"] = y2
    # attrs hold plain lists: pandas compares attrs with == when combining frames.
    frame.attrs = {"task_correlation": p, "w1": w1.tolist(), "w2": w2.tolist()}
    if return_weights:
        return frame, {"w1": w1, "w2": w2, "alpha": alpha, "beta": beta}
    return frame


def _sinusoid_array(value, default: np.ndarray, name: str) -> np.ndarray:
    if value is None:
        return default
    arr = np.asarray(value, dtype=float).ravel()
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must hold finite numbers; got {value!r}.")
    return arr
