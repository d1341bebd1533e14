"""Train/test splits for interaction logs: random, per-user stratified, leave-last-out, temporal.

Which split answers which question:

* ``"random"``: rows shuffled, a fraction to test. Rating prediction (RMSE).
* ``"stratified"``: every user's rows split by the same ratio, like Microsoft
  Recommenders' ``python_stratified_split``, so each test user also has
  training history. Top-N evaluation (precision@k, nDCG).
* ``"leave_last_out"``: each user's latest interaction to test, the rest to
  train. Next-item evaluation.
* ``"temporal"``: one global time cutoff; the past trains, the future tests. The
  honest protocol for a deployed system (no peeking at the future).

Examples
--------
>>> import pandas as pd
>>> import mtrec_lib as mt
>>> df = pd.DataFrame({"user_id": [1, 1, 1, 1, 2, 2, 2, 2],
...                    "item_id": [1, 2, 3, 4, 1, 2, 3, 4],
...                    "timestamp": [1, 2, 3, 4, 5, 6, 7, 8]})
>>> train, test = mt.data.split(df, method="leave_last_out")
>>> test["item_id"].tolist()
[4, 4]
>>> train, test = mt.data.split(df, method="temporal", test_size=0.25)
>>> test["timestamp"].tolist()
[7, 8]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .validate import check_choice, check_frame, check_number, check_positive_int

__all__ = ["split", "SPLIT_METHODS"]

SPLIT_METHODS = ("random", "stratified", "leave_last_out", "temporal")


def _round_half_up(x: np.ndarray | float) -> np.ndarray:
    # np.round rounds half to even (0.5 -> 0, 2.5 -> 2); shares of rows should round half up.
    return np.floor(np.asarray(x, dtype=float) + 0.5).astype(np.int64)


def _check_time(df: pd.DataFrame, col: str) -> None:
    s = df[col]
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s)) or pd.api.types.is_bool_dtype(
        s
    ):
        raise ValueError(
            f"split(ratings): time column {col!r} must be numeric (e.g. Unix seconds) or datetime, "
            f"got dtype {s.dtype}. Convert it with pd.to_datetime(df[{col!r}]) or pd.to_numeric(...)."
        )


def _rank_within(groups: np.ndarray, keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """0-based rank of each row inside its group when sorted by ``keys`` (last key primary)."""
    order = np.lexsort((*keys, groups))
    counts = np.bincount(groups)
    starts = np.cumsum(counts) - counts
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = np.arange(len(groups)) - starts[groups[order]]
    return rank, counts


def split(
    ratings: pd.DataFrame,
    method: str = "random",
    test_size: float = 0.25,
    seed: int = 42,
    user_col: str = "user_id",
    item_col: str = "item_id",
    time_col: str = "timestamp",
    *,
    min_rows: int = 2,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split an interaction frame into train and test.

    Parameters
    ----------
    ratings : pandas.DataFrame
        One row per interaction. Repeated (user, item) pairs are allowed (logs
        repeat impressions).
    method : {"random", "stratified", "leave_last_out", "temporal"}
        See the module docstring.
    test_size : float in (0, 1), default 0.25
        Share of rows for test: overall for "random" and "temporal", per user for
        "stratified" (``round(test_size * n_user)``, half rounded up, at most
        ``n_user - 1``). Ignored by "leave_last_out", which takes one row per user.
    seed : int, default 42
        Seed for the shuffle ("random", "stratified") and for breaking ties
        between a user's rows with the same time ("leave_last_out").
    user_col, item_col, time_col : str
        Column names. "random" needs none of them (it splits any frame, e.g.
        :func:`make_correlated_tasks` output); "stratified" needs ``user_col``
        and ``item_col``; "leave_last_out" and "temporal" also ``time_col``.
    min_rows : int, default 2
        "stratified" and "leave_last_out": users with fewer rows than this keep
        all of them in train, so every test user also appears in train. Unlike
        Microsoft Recommenders' ``min_rating`` filter, such users are not
        dropped; filter them out beforehand if you want that.

    Returns
    -------
    train, test : pandas.DataFrame
        Disjoint, together exactly the input rows; each keeps the input's index
        and row order.

    Notes
    -----
    "temporal" guarantees ``train[time].max() <= test[time].min()``; users who
    appear only after the cutoff are in test only (cold-start users), as they
    would be in production.

    Examples
    --------
    >>> import mtrec_lib as mt
    >>> shop = mt.data.simulate_shop(n_users=100, n_items=30, n_impressions=3_000, seed=0)
    >>> train, test = mt.data.split(shop.data, method="stratified", test_size=0.2, seed=0)
    >>> set(test["user_id"]) <= set(train["user_id"])
    True
    """
    check_choice(method, "split method", SPLIT_METHODS)
    test_size = check_number(test_size, "test_size", 0.0, 1.0, low_open=True, high_open=True)
    seed = check_positive_int(seed, "seed", minimum=0)
    min_rows = check_positive_int(min_rows, "min_rows", minimum=1)
    name = "split(ratings)"
    required = {
        "random": [],
        "stratified": [user_col, item_col],
        "leave_last_out": [user_col, item_col, time_col],
        "temporal": [user_col, item_col, time_col],
    }[method]
    check_frame(ratings, name, required=required)
    if method in ("leave_last_out", "temporal"):
        _check_time(ratings, time_col)

    n = len(ratings)
    rng = np.random.default_rng(seed)
    test = np.zeros(n, dtype=bool)
    if method == "random":
        n_test = int(min(max(_round_half_up(test_size * n), 1), n - 1)) if n > 1 else 0
        test[rng.permutation(n)[:n_test]] = True
    elif method == "temporal":
        n_test = int(min(max(_round_half_up(test_size * n), 1), n - 1)) if n > 1 else 0
        t = ratings[time_col].to_numpy()
        order = np.argsort(t, kind="stable")  # ties keep frame order: max(train) <= min(test)
        test[order[n - n_test :]] = True
    else:
        groups = pd.factorize(ratings[user_col])[0]
        if method == "stratified":
            rank, counts = _rank_within(groups, [rng.random(n)])
            n_test_u = np.minimum(_round_half_up(test_size * counts), counts - 1)
        else:  # leave_last_out: rank by time, random tie-break; the last rank goes to test
            t = ratings[time_col].to_numpy()
            if pd.api.types.is_datetime64_any_dtype(ratings[time_col]):
                t = t.astype("datetime64[ns]").astype(np.int64)
            rank, counts = _rank_within(groups, [rng.random(n), t])
            rank = counts[groups] - 1 - rank  # 0 = latest
            n_test_u = np.ones_like(counts)
        n_test_u[counts < min_rows] = 0
        test = rank < n_test_u[groups]
    return ratings.loc[~test], ratings.loc[test]
