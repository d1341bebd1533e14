"""Input checks shared by every public function of :mod:`mtrec_lib`.

This is the one place that validates frames (DESIGN.md, "Library layers"). Every
public function calls :func:`check_frame` at its boundary so that a student who
passes a malformed DataFrame reads a sentence naming the column and the fix,
instead of a stack trace from deep inside pandas or TensorFlow.

Examples
--------
>>> import pandas as pd
>>> from mtrec_lib.data.validate import check_frame
>>> df = pd.DataFrame({"user_id": [1, 2], "rating": [4.0, 5.0]})
>>> check_frame(df, "ratings", required=["user_id", "rating"], numeric=["rating"])
>>> check_frame(df, "ratings", required=["item_id"])  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: ratings: missing column 'item_id' (columns present: ['user_id', 'rating']). Add the column or ...
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["check_frame", "check_binary", "check_numeric", "check_positive_int", "check_choice", "check_number"]


def _as_list(cols: Iterable[str] | str | None) -> list[str]:
    if cols is None:
        return []
    if isinstance(cols, str):
        return [cols]
    return list(cols)


def check_numeric(df: pd.DataFrame, name: str, cols: Iterable[str] | str) -> None:
    """Raise ``ValueError`` unless every column in ``cols`` is numeric (bool counts) and finite."""
    for col in _as_list(cols):
        s = df[col]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            bad = s[pd.to_numeric(s, errors="coerce").isna() & s.notna()]
            example = repr(bad.iloc[0]) if len(bad) else "?"
            raise ValueError(
                f"{name}: column {col!r} must be numeric but has dtype {s.dtype} "
                f"(e.g. value {example}). Convert it with pd.to_numeric(df[{col!r}])."
            )
        values = s.to_numpy(dtype=float, na_value=np.nan)
        if np.isinf(values).any():
            raise ValueError(f"{name}: column {col!r} contains infinite values. Replace or drop them first.")


def check_binary(df: pd.DataFrame, name: str, cols: Iterable[str] | str) -> None:
    """Raise ``ValueError`` unless every column in ``cols`` holds only 0 and 1."""
    for col in _as_list(cols):
        check_numeric(df, name, col)
        values = pd.unique(df[col].dropna().astype(float))
        outside = sorted(float(v) for v in set(values) - {0.0, 1.0})  # plain floats read better
        if outside:
            raise ValueError(
                f"{name}: column {col!r} is a binary label and must hold only 0 and 1, "
                f"found {outside[:5]}. Threshold it, e.g. (df[{col!r}] > 0).astype(int)."
            )


def check_positive_int(value: int, name: str, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer at least ``minimum``, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_number(
    value: float,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as float if it is a finite number within the bounds, else raise ``ValueError``.

    ``low_open``/``high_open`` exclude the bound itself, e.g. a rate in (0, 1).

    Examples
    --------
    >>> check_number(0.25, "test_size", 0, 1, low_open=True, high_open=True)
    0.25
    >>> check_number(1.5, "task_relatedness", 0, 1)
    Traceback (most recent call last):
    ...
    ValueError: task_relatedness must be a number in [0, 1], got 1.5.
    """
    interval = (
        f"{'(' if low_open else '['}{'-inf' if low is None else low}, "
        f"{'inf' if high is None else high}{')' if high_open else ']'}"
    )
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        v = float(value)
        ok = bool(np.isfinite(v))
        if ok and low is not None:
            ok = v > low if low_open else v >= low
        if ok and high is not None:
            ok = v < high if high_open else v <= high
    if not ok:
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}.")
    return float(value)


def check_choice(value: str, name: str, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {list(choices)}.")
    return value


def check_frame(
    df: pd.DataFrame,
    name: str,
    *,
    required: Iterable[str] | str | None = None,
    numeric: Iterable[str] | str | None = None,
    binary: Iterable[str] | str | None = None,
    no_nan: Iterable[str] | str | None = None,
    unique: Iterable[str] | str | None = None,
    allow_empty: bool = False,
) -> None:
    """Validate a DataFrame at a public boundary.

    Parameters
    ----------
    df : pandas.DataFrame
        The frame to check.
    name : str
        What the frame is called in the message, e.g. ``"ratings"`` or ``"fit(X)"``.
    required : list of str, optional
        Columns that must be present. Columns named in ``numeric``, ``binary``,
        ``no_nan`` and ``unique`` are required too.
    numeric : list of str, optional
        Columns that must have a numeric dtype and no infinite values.
    binary : list of str, optional
        Columns that must hold only 0 and 1.
    no_nan : list of str, optional
        Columns that must not contain missing values. Every ``required`` column is
        checked for NaN unless it is listed nowhere else and ``no_nan`` is given
        explicitly.
    unique : list of str, optional
        Columns whose combination must identify rows uniquely, e.g.
        ``["user_id", "item_id"]`` for a ratings table.
    allow_empty : bool, default False
        Whether a frame with zero rows is acceptable.

    Raises
    ------
    TypeError
        If ``df`` is not a DataFrame.
    ValueError
        Naming the offending column and the fix.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"{name}: expected a pandas DataFrame, got {type(df).__name__}. Wrap your data with pd.DataFrame(...)."
        )
    numeric_l, binary_l, unique_l = _as_list(numeric), _as_list(binary), _as_list(unique)
    required_l = _as_list(required)
    all_required = list(dict.fromkeys(required_l + numeric_l + binary_l + _as_list(no_nan) + unique_l))
    for col in all_required:
        if col not in df.columns:
            raise ValueError(
                f"{name}: missing column {col!r} (columns present: {list(map(str, df.columns))}). "
                f"Add the column or rename yours to {col!r}."
            )
    if df.columns.duplicated().any():
        dup = df.columns[df.columns.duplicated()][0]
        raise ValueError(f"{name}: column {dup!r} appears more than once. Drop or rename the copies.")
    if len(df) == 0 and not allow_empty:
        raise ValueError(f"{name}: the frame is empty (0 rows). Pass at least one row.")
    nan_cols = _as_list(no_nan) if no_nan is not None else all_required
    for col in nan_cols:
        n_missing = int(df[col].isna().sum())
        if n_missing:
            raise ValueError(
                f"{name}: column {col!r} has {n_missing} missing value(s) (NaN). "
                f"Drop those rows (df.dropna(subset=[{col!r}])) or fill them."
            )
    check_numeric(df, name, numeric_l)
    check_binary(df, name, binary_l)
    if unique_l:
        dup_mask = df.duplicated(subset=unique_l, keep=False)
        if dup_mask.any():
            first = df.loc[dup_mask, unique_l].iloc[0].to_dict()
            raise ValueError(
                f"{name}: {int(dup_mask.sum())} rows repeat the same {tuple(unique_l)} "
                f"(e.g. {first}); each combination may appear once. "
                f"Aggregate them, e.g. df.groupby({unique_l}).mean().reset_index()."
            )
