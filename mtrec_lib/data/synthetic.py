"""Synthetic regression tasks with a controlled correlation (the MMoE paper's generator).

Ma et al., "Modeling Task Relationships in Multi-task Learning with
Multi-gate Mixture-of-Experts", KDD 2018, section 3.2, generate two regression
tasks whose *linear parts* have a chosen Pearson correlation $p$, then add
sinusoids so the tasks are non-linear. Sweeping $p$ shows how shared-bottom
models degrade as tasks become less related while MMoE holds up.

Examples
--------
>>> import mtrec_lib as mt
>>> df = mt.data.make_correlated_tasks(n_samples=2_000, task_correlation=0.5, n_features=10, seed=0)
>>> list(df.columns[-3:])
['x9', 'y1', 'y2']
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .validate import check_number, check_positive_int

__all__ = ["make_correlated_tasks"]


def make_correlated_tasks(
    n_samples: int = 10_000,
    task_correlation: float = 0.5,
    n_features: int = 100,
    seed: int = 0,
    *,
    n_sin: int = 10,
    scale: float = 1.0,
    sin_std: float = 0.1,
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

    The paper does not publish $\\alpha_j, \\beta_j$. We follow common
    reproductions: $m = 10$ sinusoids, $\\alpha_j, \\beta_j \\sim N(0, 0.01)$
    (variance 0.01, i.e. standard deviation ``sin_std = 0.1``), the same
    $\\alpha, \\beta$ for both tasks, $c = 1$ and $\\epsilon_i \\sim N(0, 0.01)$
    (``noise_std = 0.1``), independent between the tasks. Because the sinusoids
    and the noise are added, the correlation of ``y1`` and ``y2`` is close to
    but not exactly $p$; the linear parts $w_i^\\top x$ have correlation $p$ up
    to sampling error (about $(1-p^2)/\\sqrt{n}$).

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
        Number $m$ of sinusoids.
    scale : float, default 1.0
        The constant $c$.
    sin_std : float, default 0.1
        Standard deviation of $\\alpha_j$ and $\\beta_j$.
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
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    n_features = check_positive_int(n_features, "n_features", minimum=2)
    seed = check_positive_int(seed, "seed", minimum=0)
    n_sin = check_positive_int(n_sin, "n_sin", minimum=0)
    p = check_number(task_correlation, "task_correlation", -1.0, 1.0)
    for name, value in (("scale", scale), ("sin_std", sin_std), ("noise_std", noise_std)):
        check_number(value, name, 0.0)

    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n_features, 2)))
    u1, u2 = q[:, 0], q[:, 1]
    w1 = scale * u1
    w2 = scale * (p * u1 + np.sqrt(max(0.0, 1.0 - p * p)) * u2)
    alpha = rng.normal(0.0, sin_std, size=n_sin)
    beta = rng.normal(0.0, sin_std, size=n_sin)
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
