"""Ranking candidates into per-user lists, and diversity re-ranking (多样性重排).

:func:`top_k_per_user` is the plain ranking: every user's ``k`` best-scored candidates.
A top-N model scores every candidate on its own, though, so its list is often ten variations
on one theme. A re-ranker takes a longer candidate list (say the model's top 100) and picks
``n`` items one at a time, trading the model's score against similarity to what is already
picked:

:func:`top_k_per_user`
    Each user's ``k`` highest-scored rows of a candidates frame (an impression log, a test
    set), ties broken by row order: the lists a ranking by the score would show.
:func:`mmr`
    Maximal marginal relevance (Carbonell & Goldstein, SIGIR 1998): pick
    :math:`\\arg\\max_i \\lambda\\, r_i - (1 - \\lambda) \\max_{j \\in Y} s_{ij}`.
:func:`dpp_greedy`
    Greedy MAP inference of a determinantal point process with the kernel
    :math:`L = \\operatorname{diag}(e^{\\alpha r})\\, S\\, \\operatorname{diag}(e^{\\alpha r})`,
    by the incremental Cholesky updates of Chen, Zhang & Zhou ("Fast Greedy MAP Inference
    for Determinantal Point Process to Improve Recommendation Diversity", NeurIPS 2018):
    :math:`O(N n^2)` time for ``n`` items out of ``N`` instead of recomputing determinants.
:func:`rerank`
    Both, on a candidates frame (``user_id``, ``item_id``, ``score``), for every user at once;
    returns ``user_id, item_id, score, rank`` like ``ItemKNN.recommend``.

The similarity :math:`S` is either given (a square matrix) or the cosine of item feature
vectors, the definition :func:`mtrec_lib.metrics.intra_list_diversity` measures with.

Examples
--------
>>> import numpy as np
>>> scores = np.array([0.9, 0.8, 0.3])
>>> sim = np.array([[1.0, 0.95, 0.0], [0.95, 1.0, 0.0], [0.0, 0.0, 1.0]])
>>> mmr(scores, sim, n=2, lambda_=1.0).tolist()   # relevance only: the two near-duplicates
[0, 1]
>>> mmr(scores, sim, n=2, lambda_=0.5).tolist()   # the second pick avoids item 0's twin
[0, 2]
>>> dpp_greedy(scores, sim, n=2, theta=0.5).tolist()
[0, 2]
>>> log = pd.DataFrame({"user_id": [1, 1, 2, 1], "item_id": [10, 11, 12, 13]})
>>> top_k_per_user(log, [0.2, 0.9, 0.5, 0.4], k=2)[["user_id", "item_id", "rank"]].to_numpy().tolist()
[[1, 11, 1], [1, 13, 2], [2, 12, 1]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtrec_lib.data.frames import ITEM, RANK, SCORE, USER, rank_within_users, top_k_per_user
from mtrec_lib.data.validate import check_choice, check_frame, check_number, check_positive_int
from mtrec_lib.metrics import _check_ids, _unit_rows, _vector, cosine_similarity

__all__ = ["top_k_per_user", "mmr", "dpp_greedy", "rerank", "cosine_similarity"]


# ---------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------
class _Kernel:
    """Rows of a batch of similarity matrices, (U, N, N) or implied by (U, N, d) features.

    Features are never expanded to N x N: DPP and MMR only need the rows of the items they
    pick, ``n`` of them, so a row is computed on demand in O(N d).
    """

    def __init__(self, batch: np.ndarray, features: bool, ridge: float = 0.0):
        self.features = features
        self.ridge = ridge
        self.u, self.n = batch.shape[:2]
        if features:
            self.f = _unit_rows(batch)
        else:
            self.s = batch

    def diag(self) -> np.ndarray:
        if self.features:
            return np.ones((self.u, self.n))  # unit rows, and all-zero rows get 1 (cosine_similarity)
        return np.diagonal(self.s, axis1=1, axis2=2).copy()

    def rows(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Row ``items[k]`` of user ``users[k]``'s matrix, shape (len(users), N)."""
        if self.features:
            r = np.einsum("und,ud->un", self.f[users], self.f[users, items])
            r[np.arange(len(users)), items] = 1.0
        else:
            r = self.s[users, items, :].copy()
        if self.ridge:
            r *= 1.0 - self.ridge
            r[np.arange(len(users)), items] += self.ridge
        return r


# ---------------------------------------------------------------------------
# Batched greedy selection (one row per list); the public functions call these with U = 1
# ---------------------------------------------------------------------------
def _pick(objective: np.ndarray, relevance: np.ndarray, users: np.ndarray) -> np.ndarray:
    """Argmax of ``objective`` per row; exact ties go to the higher relevance, then the lower index."""
    obj = objective[users]
    best = obj.max(axis=1, keepdims=True)
    tie_rel = np.where(obj == best, relevance[users], -np.inf)
    return tie_rel.argmax(axis=1)


def _mmr_batch(rel: np.ndarray, valid: np.ndarray, kernel: _Kernel, n: int, lambda_: float) -> np.ndarray:
    """MMR for U lists at once: (U, n) picked columns, -1 where a list ran out of candidates.

    ``max_sim[u, i]`` holds max over the chosen j of s_ij, updated with one kernel row per
    step, so the whole selection costs O(U N n).
    """
    u_all, n_cand = rel.shape
    selected = np.full((u_all, n), -1, dtype=np.int64)
    max_sim = np.zeros((u_all, n_cand))
    avail = valid.copy()
    for t in range(n):
        users = np.flatnonzero(avail.any(axis=1))
        if len(users) == 0:
            break
        # Before the first pick the set is empty: max over nothing counts as 0 (pure relevance).
        objective = np.where(avail, lambda_ * rel - (1.0 - lambda_) * max_sim, -np.inf)
        j = _pick(objective, rel, users)
        selected[users, t] = j
        avail[users, j] = False
        max_sim[users] = np.maximum(max_sim[users], kernel.rows(users, j))
    return selected


def _dpp_batch(
    rel: np.ndarray, valid: np.ndarray, kernel: _Kernel, n: int, weight: float, epsilon: float
) -> np.ndarray:
    """Chen et al. (2018), Algorithm 1, for U lists at once.

    For every remaining item i we keep ``c_i`` (its row of the Cholesky factor against the
    chosen items) and ``d2_i``, the squared residual of i after projecting out the chosen
    items: ``det S[Y+i] = det S[Y] * d2_i``. Picking j appends one entry to every ``c_i``,

        e_i = (S_ji - <c_j, c_i>) / sqrt(d2_j),   d2_i <- d2_i - e_i^2,

    which costs O(N t) at step t. The quality factor of L = diag(q) S diag(q), q = exp(alpha r),
    multiplies d2_i by q_i^2, so log det L[Y+i] - log det L[Y] = 2 alpha r_i + log d2_i:
    the search runs on S (no overflow of exp) with ``weight = 2 alpha``.
    """
    u_all, n_cand = rel.shape
    selected = np.full((u_all, n), -1, dtype=np.int64)
    c = np.zeros((u_all, n, n_cand))
    d2 = kernel.diag()
    avail = valid & (d2 > epsilon)
    for t in range(n):
        users = np.flatnonzero(avail.any(axis=1))
        if len(users) == 0:
            break  # every remaining item is (numerically) spanned by the chosen ones
        gain = np.log(np.where(avail, d2, 1.0))
        objective = np.where(avail, weight * rel + gain, -np.inf)
        j = _pick(objective, rel, users)
        selected[users, t] = j
        dj = np.sqrt(d2[users, j])
        cj = c[users, :t, j]  # (U', t)
        e = (kernel.rows(users, j) - np.einsum("ut,utn->un", cj, c[users, :t, :])) / dj[:, None]
        c[users, t, :] = e
        d2[users] -= e**2
        avail[users, j] = False
        avail[users] &= d2[users] > epsilon
    return selected


def _trade_off_weight(theta: float | None, alpha: float | None) -> float:
    """Weight of the relevance in ``weight * r + log d2``: ``2 alpha = theta / (1 - theta)``."""
    if theta is not None and alpha is not None:
        raise ValueError("pass theta or alpha, not both (alpha = theta / (2 (1 - theta))).")
    if alpha is not None:
        return 2.0 * check_number(alpha, "alpha", 0.0)
    theta = 0.5 if theta is None else check_number(theta, "theta", 0.0, 1.0)
    return np.inf if theta == 1.0 else theta / (1.0 - theta)


def _as_scores(scores) -> np.ndarray:
    if np.ndim(scores) != 1:
        raise ValueError(f"scores must be a 1-D array, one score per candidate, got shape {np.shape(scores)}.")
    return _vector(scores, "scores")


def _is_symmetric(m: np.ndarray) -> bool:
    """Whether a square matrix is symmetric; above 100 rows, on a fixed sample of 20,000 entries.

    A full check reads the matrix transposed, which costs more than the O(N n^2) selection
    itself; a similarity built the wrong way (e.g. top-k pruned per row) is asymmetric in
    many entries, so a sample finds it.
    """
    if len(m) <= 100:
        return bool(np.allclose(m, m.T))
    i, j = np.random.default_rng(0).integers(0, len(m), size=(2, 20_000))
    return bool(np.allclose(m[i, j], m[j, i]))


def _reads_as_features(values: np.ndarray, kind: str, square: bool, name: str) -> bool:
    """Whether ``values`` holds feature vectors (True) or a similarity matrix; validates the matrix.

    ``square``: whether ``values`` can be a similarity at all (one row and one column per item).
    """
    check_choice(kind, "kind", ["auto", "similarity", "features"])
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    if kind == "features" or (kind == "auto" and not square):
        return True
    if not square:
        raise ValueError(
            f"{name}: a similarity needs one row and one column per item, in the same order; "
            "pass kind='features' if the rows are feature vectors."
        )
    if not _is_symmetric(values):
        raise ValueError(
            f"{name}: a similarity must be symmetric (sim[i, j] == sim[j, i]); "
            "pass kind='features' if the rows are feature vectors."
        )
    return False


def _as_kernel(similarity_or_features, n_items: int, kind: str, ridge: float) -> _Kernel:
    m = np.asarray(similarity_or_features, dtype=float)
    if m.ndim != 2 or m.shape[0] != n_items:
        raise ValueError(
            f"similarity_or_features must be a 2-D array with one row per score ({n_items}), got shape {m.shape}."
        )
    is_features = _reads_as_features(m, kind, m.shape[1] == n_items, "similarity_or_features")
    return _Kernel(m[None], features=is_features, ridge=check_number(ridge, "ridge", 0.0, 1.0))


# ---------------------------------------------------------------------------
# Public: one list
# ---------------------------------------------------------------------------
def mmr(scores, similarity, n: int, lambda_: float = 0.5, *, kind: str = "auto") -> np.ndarray:
    """Maximal marginal relevance re-ranking of one candidate list (Carbonell & Goldstein, 1998).

    Items are picked one at a time; at each step the pick is

    .. math:: \\arg\\max_{i \\notin Y} \\; \\lambda\\, r_i - (1 - \\lambda) \\max_{j \\in Y} s_{ij},

    where :math:`Y` is the set picked so far (the max over an empty set is 0, so the first
    pick is the most relevant item). ``lambda_ = 1`` is the model's own ranking,
    ``lambda_ = 0`` pure novelty with respect to the list. Relevance and similarity are
    added, so put them on comparable scales (e.g. scores min-max scaled to [0, 1], as
    :func:`rerank` does). Exact ties go to the higher score, then the lower index.

    Parameters
    ----------
    scores : array-like of shape (N,)
        Relevance :math:`r` of each candidate.
    similarity : array-like of shape (N, N) or (N, d)
        Item-item similarity, or item feature vectors (cosine similarity is used).
    n : int
        Items to pick (at most N).
    lambda_ : float in [0, 1], default 0.5
        Weight of relevance against redundancy.
    kind : {"auto", "similarity", "features"}, default "auto"
        How to read ``similarity``: "auto" treats a square array as a similarity matrix.

    Returns
    -------
    numpy.ndarray of int
        Indices into ``scores`` in pick order, length ``min(n, N)``.

    Examples
    --------
    >>> import numpy as np
    >>> genres = np.array([[1, 0], [1, 0], [0, 1]])       # two dramas and a comedy
    >>> mmr([0.9, 0.8, 0.5], genres, n=3, lambda_=0.5).tolist()
    [0, 2, 1]
    """
    s = _as_scores(scores)
    n = check_positive_int(n, "n")
    lambda_ = check_number(lambda_, "lambda_", 0.0, 1.0)
    kernel = _as_kernel(similarity, len(s), kind, 0.0)
    picked = _mmr_batch(s[None], np.ones((1, len(s)), dtype=bool), kernel, min(n, len(s)), lambda_)[0]
    return picked[picked >= 0]


def dpp_greedy(
    scores,
    similarity_or_features,
    n: int,
    theta: float | None = None,
    *,
    alpha: float | None = None,
    epsilon: float = 1e-10,
    ridge: float = 0.0,
    kind: str = "auto",
) -> np.ndarray:
    """Greedy MAP inference of a DPP by fast incremental Cholesky updates (Chen et al., 2018).

    A determinantal point process (行列式点过程) gives a set :math:`Y` of items probability
    proportional to :math:`\\det L_Y`. With the kernel of Chen, Zhang & Zhou (NeurIPS 2018),

    .. math:: L = \\operatorname{diag}(e^{\\alpha r})\\; S\\; \\operatorname{diag}(e^{\\alpha r}),
       \\qquad \\log\\det L_Y = 2\\alpha \\sum_{i \\in Y} r_i + \\log\\det S_Y,

    the first term rewards relevant items and the second, the squared volume spanned by the
    items' similarity vectors, rewards items unlike each other. With
    :math:`\\alpha = \\theta / (2(1 - \\theta))` maximising :math:`\\log\\det L_Y` is maximising
    :math:`\\theta \\sum r_i + (1 - \\theta) \\log\\det S_Y`: ``theta = 1`` is the model's own
    ranking (returned directly, the limit :math:`\\alpha \\to \\infty`), ``theta = 0`` pure diversity.

    The greedy algorithm adds the item with the largest gain
    :math:`\\log\\det L_{Y \\cup \\{i\\}} - \\log\\det L_Y = 2\\alpha r_i + \\log d_i^2`, where
    :math:`d_i^2` is the squared residual of item *i* in :math:`S` after projecting out the
    items already chosen. Chen et al. update every :math:`d_i^2` with one new entry of the
    Cholesky factor per step, :math:`O(N n^2)` in total for ``n`` picks out of ``N``
    (recomputing determinants from scratch costs :math:`O(N n^4)`).

    Stopping: an item whose :math:`d_i^2` falls below ``epsilon`` is (numerically) a
    combination of the chosen items; adding it would make :math:`\\det S_Y` vanish
    whatever its relevance, so it is never picked. When no item is left the selection
    stops, and fewer than ``n`` indices come back: a similarity of rank *r* holds at most
    *r* items (e.g. 19 genre flags, or films with identical genres). ``ridge`` mixes in the
    identity, :math:`S \\leftarrow (1 - \\rho) S + \\rho I`, so that every item keeps a
    direction of its own.

    Parameters
    ----------
    scores : array-like of shape (N,)
        Relevance :math:`r` of each candidate. Its scale interacts with ``alpha``.
    similarity_or_features : array-like of shape (N, N) or (N, d)
        A positive semi-definite similarity :math:`S`, or item feature vectors, whose
        cosine similarity (:func:`cosine_similarity`) is used without forming the N x N matrix.
    n : int
        Maximum number of items to pick.
    theta : float in [0, 1], optional
        Relevance-diversity trade-off; 0.5 if neither ``theta`` nor ``alpha`` is given.
    alpha : float >= 0, optional
        The kernel's quality exponent, instead of ``theta``.
    epsilon : float, default 1e-10
        Smallest squared residual :math:`d_i^2` an item may have to be picked.
    ridge : float in [0, 1], default 0
        Weight :math:`\\rho` of the identity mixed into :math:`S`.
    kind : {"auto", "similarity", "features"}, default "auto"
        How to read ``similarity_or_features``; "auto" treats a square array as a similarity.

    Returns
    -------
    numpy.ndarray of int
        Indices into ``scores`` in pick order; shorter than ``n`` if the selection stopped.

    Examples
    --------
    >>> import numpy as np
    >>> genres = np.array([[1, 0], [1, 0], [0, 1]])      # two dramas and a comedy
    >>> dpp_greedy([0.9, 0.8, 0.5], genres, n=3, theta=0.5).tolist()  # rank 2: stops at 2
    [0, 2]
    >>> dpp_greedy([0.9, 0.8, 0.5], genres, n=3, theta=0.5, ridge=0.1).tolist()
    [0, 2, 1]
    >>> dpp_greedy([0.9, 0.8, 0.5], genres, n=3, theta=1.0).tolist()  # relevance only
    [0, 1, 2]
    """
    s = _as_scores(scores)
    n = check_positive_int(n, "n")
    weight = _trade_off_weight(theta, alpha)
    epsilon = check_number(epsilon, "epsilon", 0.0, low_open=True)
    kernel = _as_kernel(similarity_or_features, len(s), kind, ridge)
    if np.isinf(weight):
        return np.argsort(-s, kind="stable")[:n]  # the model's order, ties by index
    picked = _dpp_batch(s[None], np.ones((1, len(s)), dtype=bool), kernel, min(n, len(s)), weight, epsilon)[0]
    return picked[picked >= 0]


# ---------------------------------------------------------------------------
# Public: every user's candidate list
# ---------------------------------------------------------------------------
def _lookup(table: pd.DataFrame, kind: str) -> tuple[pd.Index, np.ndarray, bool]:
    """Item index, values and whether the values are features, from a features/similarity frame."""
    name = "item_features_or_similarity"
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name}: expected a pandas DataFrame (index item_id), got {type(table).__name__}.")
    if table.index.has_duplicates:
        dup = table.index[table.index.duplicated()][0]
        raise ValueError(f"{name}: item {dup!r} appears in more than one row of the index.")
    check_frame(table.reset_index(drop=True), name, numeric=list(table.columns))
    values = table.to_numpy(dtype=float)
    square = table.shape[0] == table.shape[1] and pd.Index(table.columns).equals(pd.Index(table.index))
    return pd.Index(table.index), values, _reads_as_features(values, kind, square, name)


def _minmax(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    lo = np.where(valid, values, np.inf).min(axis=1, keepdims=True)
    hi = np.where(valid, values, -np.inf).max(axis=1, keepdims=True)
    span = hi - lo
    out = np.divide(values - lo, span, out=np.zeros_like(values), where=span > 0)
    return np.where(valid, out, 0.0)


def rerank(
    candidates: pd.DataFrame,
    item_features_or_similarity: pd.DataFrame,
    method: str = "mmr",
    n: int = 10,
    *,
    lambda_: float | None = None,
    theta: float | None = None,
    alpha: float | None = None,
    epsilon: float = 1e-10,
    ridge: float = 0.0,
    normalize: bool = True,
    fill: bool = True,
    kind: str = "auto",
    batch_size: int = 256,
) -> pd.DataFrame:
    """Re-rank every user's candidate list with MMR or a DPP; the top-``n`` per user.

    Parameters
    ----------
    candidates : pandas.DataFrame
        ``user_id``, ``item_id``, ``score``: e.g. ``model.recommend(users, n=100)``. Any
        other column (such as ``rank``) is ignored.
    item_features_or_similarity : pandas.DataFrame
        Either item features (index ``item_id``, one numeric column per feature; the
        similarity is their cosine, :func:`cosine_similarity`) or a square item-item
        similarity with the item ids as both index and columns. Every candidate item needs a row.
    method : {"mmr", "dpp"}, default "mmr"
        :func:`mmr` or :func:`dpp_greedy`.
    n : int, default 10
        List length (shorter if a user has fewer candidates).
    lambda_ : float in [0, 1], optional
        MMR trade-off (default 0.5); 1 keeps the model's order.
    theta, alpha : float, optional
        DPP trade-off (default ``theta=0.5``); ``theta=1`` keeps the model's order.
    epsilon, ridge : float
        DPP stopping threshold and identity weight, see :func:`dpp_greedy`.
    normalize : bool, default True
        Min-max scale each user's candidate scores to [0, 1] first, so that the trade-off
        parameter means the same for every user (and for every model's score units).
    fill : bool, default True
        If the DPP stops before ``n`` items (low-rank similarity), append the remaining
        candidates in score order, so that every user gets ``n`` items.
    kind : {"auto", "similarity", "features"}, default "auto"
        How to read ``item_features_or_similarity``: "auto" reads a square frame whose
        columns equal its index as a similarity.
    batch_size : int, default 256
        Users re-ranked at once (memory grows with ``batch_size * N * N`` for a similarity).

    Returns
    -------
    pandas.DataFrame
        ``user_id``, ``item_id``, ``score`` (the candidate's original score), ``rank``
        (1-based, the re-ranked order); users in order of first appearance.

    Examples
    --------
    >>> import pandas as pd
    >>> cands = pd.DataFrame({"user_id": [1, 1, 1], "item_id": ["a", "b", "c"], "score": [3.0, 2.9, 1.0]})
    >>> genres = pd.DataFrame({"drama": [1, 1, 0], "comedy": [0, 0, 1]}, index=["a", "b", "c"])
    >>> rerank(cands, genres, "mmr", n=2, lambda_=0.5)["item_id"].tolist()
    ['a', 'c']
    >>> rerank(cands, genres, "dpp", n=2, theta=1.0)["item_id"].tolist()
    ['a', 'b']
    """
    check_frame(candidates, "candidates", required=[USER, ITEM], numeric=[SCORE], unique=[USER, ITEM])
    method = check_choice(method, "method", ["mmr", "dpp"])
    n = check_positive_int(n, "n")
    batch_size = check_positive_int(batch_size, "batch_size")
    if method == "mmr":
        if theta is not None or alpha is not None:
            raise ValueError("theta and alpha belong to method='dpp'; MMR's trade-off is lambda_.")
        lam = check_number(0.5 if lambda_ is None else lambda_, "lambda_", 0.0, 1.0)
        ridge = 0.0  # a DPP parameter: MMR reads the similarity as given
    else:
        if lambda_ is not None:
            raise ValueError("lambda_ belongs to method='mmr'; the DPP's trade-off is theta (or alpha).")
        weight = _trade_off_weight(theta, alpha)
        epsilon = check_number(epsilon, "epsilon", 0.0, low_open=True)
        ridge = check_number(ridge, "ridge", 0.0, 1.0)
    index, values, is_features = _lookup(item_features_or_similarity, kind)
    _check_ids(candidates[ITEM], "candidates", ITEM, index, "the index of item_features_or_similarity")
    codes = index.get_indexer(candidates[ITEM])
    if (codes < 0).any():
        missing = candidates[ITEM].to_numpy()[codes < 0][0]
        raise ValueError(
            f"candidates: item_id {missing!r} has no row in item_features_or_similarity. "
            "Add its features (or similarity row), or drop it from the candidates."
        )

    # Each user's candidates as one row of a (users, N) matrix, best score first (ties: the
    # order given): row[u, c] is the candidates row at column c, -1 past the end of u's list.
    sc = candidates[SCORE].to_numpy(dtype=float)
    order, col, counts = rank_within_users(candidates[USER], sc)
    row = np.full((len(counts), int(counts.max())), -1, dtype=np.int64)
    row[np.repeat(np.arange(len(counts)), counts), col] = order
    valid = row >= 0
    item = codes[row]  # padding reads the last row: masked out by valid
    score = np.where(valid, sc[row], 0.0)
    rel = _minmax(score, valid) if normalize else score
    k = min(n, row.shape[1])

    picked = np.where(valid[:, :k], np.arange(k), -1)  # the model's own order (theta = 1)
    if method == "mmr" or not np.isinf(weight):
        for start in range(0, len(row), batch_size):
            sl = slice(start, start + batch_size)
            it = item[sl]
            kernel = _Kernel(values[it] if is_features else values[it[:, :, None], it[:, None, :]], is_features, ridge)
            picked[sl] = (
                _mmr_batch(rel[sl], valid[sl], kernel, k, lam)
                if method == "mmr"
                else _dpp_batch(rel[sl], valid[sl], kernel, k, weight, epsilon)
            )
    if method == "dpp" and fill:
        picked = _fill(picked, valid)
    ok = picked >= 0  # -1: a user with fewer than n candidates, or a DPP stopped early without fill
    src = np.take_along_axis(row, np.where(ok, picked, 0), axis=1)[ok]
    out = candidates.iloc[src][[USER, ITEM, SCORE]].reset_index(drop=True)
    out[RANK] = np.cumsum(ok, axis=1)[ok]
    return out


def _fill(picked: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Replace the -1 tail of each row by the unpicked valid columns in column (score) order."""
    out = picked.copy()
    short = np.flatnonzero((picked < 0).any(axis=1))
    for r in short:  # only users whose DPP stopped early
        have = picked[r][picked[r] >= 0]
        rest = np.setdiff1d(np.flatnonzero(valid[r]), have, assume_unique=True)
        need = out.shape[1] - len(have)
        out[r, len(have) : len(have) + min(need, len(rest))] = rest[:need]
    return out
