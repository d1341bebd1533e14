"""Column names and the per-user ordering of recommendation frames, defined once.

Every frame the library passes between models, metrics and re-rankers uses the same column
names (:data:`USER`, :data:`ITEM`, :data:`RATING`, :data:`SCORE`, :data:`RANK`), and every
"best first within each user" ordering goes through :func:`rank_within_users`, so ties are
broken the same way (by row order) everywhere.

Examples
--------
>>> import pandas as pd
>>> log = pd.DataFrame({"user_id": [1, 1, 2, 1], "item_id": [10, 11, 12, 13]})
>>> top_k_per_user(log, [0.2, 0.9, 0.5, 0.4], k=2)[["user_id", "item_id", "rank"]].to_numpy().tolist()
[[1, 11, 1], [1, 13, 2], [2, 12, 1]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtrec_lib.data.validate import check_frame, check_positive_int

__all__ = ["USER", "ITEM", "RATING", "SCORE", "RANK", "rank_within_users", "top_k_per_user"]

USER, ITEM, RATING, SCORE, RANK = "user_id", "item_id", "rating", "score", "rank"


def rank_within_users(users: pd.Series, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows grouped by user (in order of first appearance), best score first, ties by row order.

    Returns ``(order, position, counts)``: the row indices in that order, each ordered row's
    0-based position within its user's list, and the number of rows of every user.
    """
    codes, uniques = pd.factorize(users)
    order = np.lexsort((np.arange(len(scores)), -scores, codes))
    counts = np.bincount(codes, minlength=len(uniques))
    position = np.arange(len(order)) - np.repeat(np.cumsum(counts) - counts, counts)
    return order, position, counts


def top_k_per_user(candidates: pd.DataFrame, scores, k: int = 10, *, user_col: str = USER) -> pd.DataFrame:
    """Each user's ``k`` best-scored rows of ``candidates``: the lists a ranking by ``scores`` shows.

    Parameters
    ----------
    candidates : pandas.DataFrame
        One row per candidate (an impression log, a test set), with a ``user_col`` column.
        Other columns are kept as they are.
    scores : str, pandas.Series or array-like
        Higher is better. The name of a numeric column of ``candidates``; or a Series,
        aligned on ``candidates``' index labels (so the predictions for a whole test set,
        ``model.predict(test)["click"]``, rank any subset of its rows); or any other
        array-like with one score per row of ``candidates``, in row order.
    k : int, default 10
        List length; a user with fewer than ``k`` rows keeps all of them.
    user_col : str, default "user_id"

    Returns
    -------
    pandas.DataFrame
        The chosen rows of ``candidates`` (index and columns kept) with a ``rank`` column
        (1 = best; it replaces a ``rank`` column already there). Users in order of first
        appearance, each user's rows by rank.

    Raises
    ------
    ValueError
        Naming the column: ``user_col`` missing or with NaN, a score column missing or not
        numeric; or scores that are NaN/infinite, of the wrong length, or (for a Series)
        missing for some rows.

    Notes
    -----
    Ties are broken by row order (a stable sort): of two rows with equal scores, the one
    that comes first in ``candidates`` ranks higher, so the lists never depend on the sort
    algorithm or the platform.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_id": ["a", "a", "a", "b"], "item_id": [1, 2, 3, 4]},
    ...                    index=[10, 11, 12, 13])
    >>> top_k_per_user(log, [0.3, 0.9, 0.9, 0.1], k=2)   # a tie: row 11 comes before row 12
       user_id  item_id  rank
    11       a        2     1
    12       a        3     2
    13       b        4     1
    """
    check_frame(candidates, "candidates", required=[user_col])
    k = check_positive_int(k, "k")
    if isinstance(scores, str):
        check_frame(candidates, "candidates", numeric=[scores])
        values = candidates[scores].to_numpy(dtype=float)
    elif isinstance(scores, pd.Series):
        if not scores.index.is_unique:
            raise ValueError(
                "scores: a Series of scores needs a unique index to be aligned on candidates' "
                "index; pass its values (scores.to_numpy()) if they are in candidates' row order."
            )
        aligned = scores.reindex(candidates.index)
        missing = aligned.index[aligned.isna() & ~candidates.index.isin(scores.index)]
        if len(missing):
            raise ValueError(
                f"scores: the Series has no score for {len(missing)} row(s) of candidates "
                f"(e.g. index label {missing[0]!r}); give one score per candidate."
            )
        values = aligned.to_numpy(dtype=float)
    else:
        values = np.asarray(scores, dtype=float).reshape(-1)
        if len(values) != len(candidates):
            raise ValueError(
                f"scores: {len(values)} values for {len(candidates)} candidate rows; give one score "
                "per row, in the rows' order (or a Series indexed like candidates)."
            )
    if not np.isfinite(values).all():
        raise ValueError("scores contains NaN or infinite values; drop those candidates or fill their scores.")
    order, position, _ = rank_within_users(candidates[user_col], values)
    keep = position < k
    out = candidates.iloc[order[keep]].copy()
    out[RANK] = position[keep] + 1
    return out
