"""Tests of mtrec_lib.data.splits.split: no lost rows, no leaks in the wrong direction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mtrec_lib as mt

METHODS = ["random", "stratified", "leave_last_out", "temporal"]


def _log(n_users=50, n_rows=2_000, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user_id": rng.integers(0, n_users, n_rows),
            "item_id": rng.integers(0, 200, n_rows),
            "timestamp": rng.integers(0, 500, n_rows),  # many ties on purpose
            "rating": rng.integers(1, 6, n_rows),
        },
        index=pd.RangeIndex(1000, 1000 + n_rows),
    )


def _assert_partition(df, train, test):
    """Disjoint, together exactly the input rows, index and order kept."""
    assert not set(train.index) & set(test.index)
    assert len(train) + len(test) == len(df)
    both = pd.concat([train, test]).sort_index()
    pd.testing.assert_frame_equal(both, df.sort_index())
    assert train.index.is_monotonic_increasing and test.index.is_monotonic_increasing


@pytest.mark.parametrize("method", METHODS)
def test_partition_and_determinism(method):
    df = _log()
    train, test = mt.data.split(df, method=method, test_size=0.25, seed=1)
    _assert_partition(df, train, test)
    train2, test2 = mt.data.split(df, method=method, test_size=0.25, seed=1)
    pd.testing.assert_frame_equal(test, test2)
    pd.testing.assert_frame_equal(train, train2)


def test_random_split_sizes_and_seed():
    df = _log()
    train, test = mt.data.split(df, "random", test_size=0.2, seed=0)
    assert len(test) == 400
    _, other = mt.data.split(df, "random", test_size=0.2, seed=1)
    assert not test.index.equals(other.index)


def test_random_split_needs_no_user_column():
    frame = mt.data.make_correlated_tasks(n_samples=100, n_features=3)
    train, test = mt.data.split(frame, "random", test_size=0.3)
    assert (len(train), len(test)) == (70, 30)


def test_stratified_every_test_user_in_train_and_ratio_per_user():
    df = _log()
    train, test = mt.data.split(df, "stratified", test_size=0.25, seed=42)
    assert set(test["user_id"]) <= set(train["user_id"])
    n_all = df.groupby("user_id").size()
    n_test = test.groupby("user_id").size().reindex(n_all.index, fill_value=0)
    expected = np.minimum(np.floor(0.25 * n_all + 0.5), n_all - 1)
    assert (n_test == expected).all()


def test_stratified_users_with_few_rows_stay_in_train():
    df = pd.DataFrame({"user_id": [1, 2, 2, 3, 3, 3, 3], "item_id": range(7)})
    train, test = mt.data.split(df, "stratified", test_size=0.5, min_rows=3)
    assert set(train["user_id"]) == {1, 2, 3}
    assert set(test["user_id"]) == {3}
    assert len(test) == 2


def test_leave_last_out_takes_each_users_latest():
    df = _log()
    train, test = mt.data.split(df, "leave_last_out", seed=0)
    assert test["user_id"].is_unique
    assert set(test["user_id"]) == set(df["user_id"])  # every user has >= 2 rows here
    latest = df.groupby("user_id")["timestamp"].max()
    assert (test.set_index("user_id")["timestamp"] == latest.loc[test["user_id"]].to_numpy()).all()
    train_max = train.groupby("user_id")["timestamp"].max()
    assert (test.set_index("user_id")["timestamp"] >= train_max.loc[test["user_id"]].to_numpy()).all()


def test_leave_last_out_with_datetimes_and_single_row_users():
    df = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2],
            "item_id": [1, 2, 3, 4],
            "timestamp": pd.to_datetime(["2024-01-03", "2024-01-01", "2024-01-02", "2024-01-01"]),
        }
    )
    train, test = mt.data.split(df, "leave_last_out")
    assert test["item_id"].tolist() == [1]
    assert 4 in train["item_id"].tolist()  # user 2 has one row: kept in train


def test_temporal_cutoff():
    df = _log()
    train, test = mt.data.split(df, "temporal", test_size=0.25)
    assert train["timestamp"].max() <= test["timestamp"].min()
    assert len(test) == 500


def test_movielens_like_stratified_reference_shape():
    """The SAR reference protocol: stratified 75/25, seed 42 -> every user in both parts."""
    df = _log(n_users=30, n_rows=3_000)
    train, test = mt.data.split(df, "stratified", test_size=0.25, seed=42)
    assert set(train["user_id"]) == set(test["user_id"]) == set(df["user_id"])
    assert len(test) / len(df) == pytest.approx(0.25, abs=0.01)


frames = (
    st.integers(min_value=1, max_value=60)
    .flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 6), min_size=n, max_size=n),
            st.lists(st.integers(0, 20), min_size=n, max_size=n),
            st.lists(st.integers(0, 5), min_size=n, max_size=n),
        )
    )
    .map(lambda cols: pd.DataFrame({"user_id": cols[0], "item_id": cols[1], "timestamp": cols[2]}))
)


@settings(max_examples=60, deadline=None)
@given(df=frames, method=st.sampled_from(METHODS), test_size=st.floats(0.05, 0.95), seed=st.integers(0, 2**16))
def test_split_properties(df, method, test_size, seed):
    train, test = mt.data.split(df, method=method, test_size=test_size, seed=seed)
    _assert_partition(df, train, test)
    if method in ("stratified", "leave_last_out"):
        assert set(test["user_id"]) <= set(train["user_id"])
    if method == "temporal" and len(train) and len(test):
        assert train["timestamp"].max() <= test["timestamp"].min()
    if method == "leave_last_out":
        assert test["user_id"].is_unique
        for user, row in test.set_index("user_id").iterrows():
            assert row["timestamp"] >= df.loc[df["user_id"] == user, "timestamp"].max()


# ------------------------------------------------------------------ validation at the boundary
def test_missing_column_is_named():
    df = _log().drop(columns="timestamp")
    with pytest.raises(ValueError, match="'timestamp'"):
        mt.data.split(df, "temporal")
    with pytest.raises(ValueError, match="'user_id'"):
        mt.data.split(df.drop(columns="user_id"), "stratified")


def test_custom_column_names():
    df = _log().rename(columns={"user_id": "uid", "item_id": "iid", "timestamp": "t"})
    train, test = mt.data.split(df, "leave_last_out", user_col="uid", item_col="iid", time_col="t")
    assert test["uid"].is_unique


def test_nan_user_is_rejected():
    df = _log().astype({"user_id": float})
    df.iloc[3, 0] = np.nan
    with pytest.raises(ValueError, match="'user_id' has 1 missing"):
        mt.data.split(df, "stratified")


def test_string_timestamps_are_rejected_with_a_fix():
    df = _log().astype({"timestamp": str})
    with pytest.raises(ValueError, match="pd.to_datetime"):
        mt.data.split(df, "temporal")


def test_empty_frame_is_rejected():
    with pytest.raises(ValueError, match="empty"):
        mt.data.split(_log().iloc[:0], "random")


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"method": "kfold"}, "split method"),
        ({"test_size": 0.0}, "test_size"),
        ({"test_size": 1.5}, "test_size"),
        ({"test_size": "a quarter"}, "test_size"),
        ({"seed": -3}, "seed"),
    ],
)
def test_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        mt.data.split(_log(), **kwargs)


def test_not_a_frame():
    with pytest.raises(TypeError, match="DataFrame"):
        mt.data.split([[1, 2, 3]], "random")
