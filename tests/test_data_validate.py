"""Tests of mtrec_lib.data.validate: every bad input names the column and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtrec_lib.data.validate import (
    check_binary,
    check_choice,
    check_frame,
    check_number,
    check_numeric,
    check_positive_int,
)


@pytest.fixture
def ratings():
    return pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 1], "rating": [4.0, 3.0, 5.0], "click": [0, 1, 1]})


def test_valid_frame_passes(ratings):
    check_frame(
        ratings,
        "ratings",
        required=["user_id", "item_id"],
        numeric=["rating"],
        binary=["click"],
        unique=["user_id", "item_id"],
    )


def test_missing_column(ratings):
    with pytest.raises(ValueError, match=r"ratings: missing column 'timestamp'.*rename yours to 'timestamp'"):
        check_frame(ratings, "ratings", required=["timestamp"])


def test_not_a_frame():
    with pytest.raises(TypeError, match="pd.DataFrame"):
        check_frame({"user_id": [1]}, "ratings")


def test_empty_frame(ratings):
    with pytest.raises(ValueError, match="empty"):
        check_frame(ratings.iloc[:0], "ratings", required=["user_id"])
    check_frame(ratings.iloc[:0], "ratings", required=["user_id"], allow_empty=True)


def test_nan(ratings):
    ratings.loc[1, "rating"] = np.nan
    with pytest.raises(ValueError, match=r"'rating' has 1 missing value.*dropna"):
        check_frame(ratings, "ratings", numeric=["rating"])


def test_wrong_dtype(ratings):
    ratings["rating"] = ["4", "three", "5"]
    with pytest.raises(ValueError, match=r"'rating' must be numeric.*'three'.*pd.to_numeric"):
        check_frame(ratings, "ratings", numeric=["rating"])


def test_infinite(ratings):
    ratings.loc[0, "rating"] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        check_numeric(ratings, "ratings", "rating")


def test_binary(ratings):
    ratings["click"] = [0, 2, 1]
    with pytest.raises(ValueError, match=r"'click' is a binary label.*\[2.0\]"):
        check_binary(ratings, "ratings", ["click"])


def test_duplicates(ratings):
    dup = pd.concat([ratings, ratings.iloc[[0]]])
    with pytest.raises(ValueError, match=r"2 rows repeat the same \('user_id', 'item_id'\).*groupby"):
        check_frame(dup, "ratings", unique=["user_id", "item_id"])


def test_duplicate_column_names(ratings):
    twice = pd.concat([ratings, ratings[["rating"]]], axis=1)
    with pytest.raises(ValueError, match="'rating' appears more than once"):
        check_frame(twice, "ratings", required=["user_id"])


def test_string_dtype_is_accepted_where_no_numeric_check():
    df = pd.DataFrame({"user_id": pd.array(["a", "b"], dtype="str")})
    check_frame(df, "users", required=["user_id"])


def test_scalar_checks():
    assert check_positive_int(3, "k") == 3
    for bad in (0, 2.5, True, "3"):
        with pytest.raises(ValueError, match="k must be an integer"):
            check_positive_int(bad, "k")
    assert check_choice("mmoe", "architecture", ["mmoe", "ple"]) == "mmoe"
    with pytest.raises(ValueError, match=r"unknown architecture 'moe'; choose one of \['mmoe', 'ple'\]"):
        check_choice("moe", "architecture", ["mmoe", "ple"])
    assert check_number(0.5, "p", 0, 1) == 0.5
    assert check_number(1, "p", 0, 1) == 1.0
    for bad in (1.0, 0.0, float("nan"), "0.5", None, True):
        with pytest.raises(ValueError, match=r"p must be a number in \(0, 1\)"):
            check_number(bad, "p", 0, 1, low_open=True, high_open=True)
    with pytest.raises(ValueError, match=r"\[0, inf\]"):
        check_number(-1, "noise", 0)
