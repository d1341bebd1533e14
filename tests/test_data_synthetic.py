"""Tests of mtrec_lib.data.synthetic.make_correlated_tasks (the MMoE paper's generator)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mtrec_lib as mt


@pytest.mark.parametrize("p", [-0.5, 0.0, 0.5, 0.9, 1.0])
def test_linear_parts_have_requested_correlation(p):
    df, w = mt.data.make_correlated_tasks(n_samples=10_000, task_correlation=p, seed=0,
                                          return_weights=True)
    x = df[[f"x{j}" for j in range(100)]].to_numpy()
    r = np.corrcoef(x @ w["w1"], x @ w["w2"])[0, 1]
    assert r == pytest.approx(p, abs=0.03)
    # by construction the weight vectors have norm c = 1 and cosine p
    assert np.linalg.norm(w["w1"]) == pytest.approx(1.0)
    assert np.linalg.norm(w["w2"]) == pytest.approx(1.0)
    assert w["w1"] @ w["w2"] == pytest.approx(p, abs=1e-12)


def test_label_correlation_tracks_p():
    """The labels' correlation rises with p (sinusoids and noise blur it only a little)."""
    rs = []
    for p in (0.0, 0.5, 0.9):
        df = mt.data.make_correlated_tasks(n_samples=10_000, task_correlation=p, seed=1)
        rs.append(np.corrcoef(df["y1"], df["y2"])[0, 1])
    assert rs[0] < rs[1] < rs[2]
    assert abs(rs[0]) < 0.1 and rs[2] > 0.8


def test_columns_shapes_and_attrs():
    df = mt.data.make_correlated_tasks(n_samples=500, task_correlation=0.3, n_features=7, seed=2)
    assert list(df.columns) == [f"x{j}" for j in range(7)] + ["y1", "y2"]
    assert df.shape == (500, 9)
    assert df.attrs["task_correlation"] == 0.3 and len(df.attrs["w1"]) == 7
    assert np.isfinite(df.to_numpy()).all()
    # x ~ N(0, I)
    assert abs(df["x0"].mean()) < 0.15 and df["x0"].std() == pytest.approx(1.0, abs=0.1)
    # attrs survive ordinary frame operations (lists, not arrays)
    pd.concat([df, df])


def test_labels_follow_the_formula():
    df, w = mt.data.make_correlated_tasks(n_samples=2_000, task_correlation=0.5, n_features=10,
                                          seed=3, noise_std=0.0, return_weights=True)
    x = df[[f"x{j}" for j in range(10)]].to_numpy()
    lin = x @ w["w1"]
    expected = lin + np.sin(np.outer(lin, w["alpha"]) + w["beta"]).sum(axis=1)
    np.testing.assert_allclose(df["y1"], expected, rtol=1e-12)
    assert len(w["alpha"]) == 10


def test_deterministic():
    a = mt.data.make_correlated_tasks(n_samples=1_000, seed=5)
    b = mt.data.make_correlated_tasks(n_samples=1_000, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(mt.data.make_correlated_tasks(n_samples=1_000, seed=6))


@pytest.mark.parametrize("kwargs, word", [
    ({"task_correlation": 1.2}, "task_correlation"),
    ({"task_correlation": "high"}, "task_correlation"),
    ({"n_features": 1}, "n_features"),
    ({"n_samples": 0}, "n_samples"),
    ({"noise_std": -0.1}, "noise_std"),
])
def test_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        mt.data.make_correlated_tasks(**kwargs)
