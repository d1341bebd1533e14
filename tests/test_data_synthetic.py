"""Tests of mtrec_lib.data.synthetic.make_correlated_tasks (the MMoE paper's generator)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mtrec_lib as mt


@pytest.mark.parametrize("p", [-0.5, 0.0, 0.5, 0.9, 1.0])
def test_linear_parts_have_requested_correlation(p):
    df, w = mt.data.make_correlated_tasks(n_samples=10_000, task_correlation=p, seed=0, return_weights=True)
    x = df[[f"x{j}" for j in range(100)]].to_numpy()
    r = np.corrcoef(x @ w["w1"], x @ w["w2"])[0, 1]
    assert r == pytest.approx(p, abs=0.03)
    # by construction the weight vectors have norm c = 1 and cosine p
    assert np.linalg.norm(w["w1"]) == pytest.approx(1.0)
    assert np.linalg.norm(w["w2"]) == pytest.approx(1.0)
    assert w["w1"] @ w["w2"] == pytest.approx(p, abs=1e-12)


def test_label_correlation_falls_with_p():
    """The labels' correlation falls with p, faster than p itself (the sinusoids decorrelate)."""
    rs = []
    for p in (1.0, 0.9, 0.5, 0.0):
        df = mt.data.make_correlated_tasks(n_samples=20_000, task_correlation=p, seed=1)
        rs.append(np.corrcoef(df["y1"], df["y2"])[0, 1])
    assert rs[0] > rs[1] > rs[2] > rs[3]
    assert rs[0] > 0.99 and abs(rs[3]) < 0.05
    assert 0.35 < rs[1] < 0.6 and 0.1 < rs[2] < 0.35  # 0.46 and 0.22 measured


def test_defaults_are_non_linear():
    """With the default sinusoids a least-squares fit is far from the noise ceiling."""
    df = mt.data.make_correlated_tasks(n_samples=20_000, task_correlation=0.9, seed=0)
    x = np.c_[df.filter(like="x").to_numpy(), np.ones(len(df))]
    for task in ("y1", "y2"):
        y = df[task].to_numpy()
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        r2 = 1 - np.var(y - x @ coef) / np.var(y)
        assert r2 < 0.6  # 0.42 measured; the noise ceiling is 1 - 0.01 / var(y) > 0.99
        assert np.var(y) > 5


def test_sinusoid_parameters_are_google_researchs_and_fixed():
    alpha, beta = mt.data.sinusoid_parameters()
    np.testing.assert_array_equal(alpha, np.arange(1, 11))
    np.testing.assert_array_equal(beta, np.arange(10) ** 2)
    for seed, p in ((0, 0.9), (7, 0.0)):
        _, w = mt.data.make_correlated_tasks(n_samples=10, task_correlation=p, seed=seed, return_weights=True)
        np.testing.assert_array_equal(w["alpha"], alpha)
        np.testing.assert_array_equal(w["beta"], beta)


def test_first_edition_sinusoids_are_nearly_linear():
    """Small alpha and beta (the first edition drew them from N(0, 0.1^2)) make the tasks linear."""
    rng = np.random.default_rng(0)
    alpha, beta = rng.normal(0, 0.1, 10), rng.normal(0, 0.1, 10)
    df = mt.data.make_correlated_tasks(n_samples=20_000, task_correlation=0.9, seed=0, alpha=alpha, beta=beta)
    x = np.c_[df.filter(like="x").to_numpy(), np.ones(len(df))]
    coef, *_ = np.linalg.lstsq(x, df["y1"].to_numpy(), rcond=None)
    assert 1 - np.var(df["y1"].to_numpy() - x @ coef) / np.var(df["y1"]) > 0.95


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
    df, w = mt.data.make_correlated_tasks(
        n_samples=2_000, task_correlation=0.5, n_features=10, seed=3, noise_std=0.0, return_weights=True
    )
    x = df[[f"x{j}" for j in range(10)]].to_numpy()
    lin = x @ w["w1"]
    expected = lin + np.sin(np.outer(lin, w["alpha"]) + w["beta"]).sum(axis=1)
    np.testing.assert_allclose(df["y1"], expected, rtol=1e-12, atol=1e-12)
    assert len(w["alpha"]) == 10


def test_deterministic():
    a = mt.data.make_correlated_tasks(n_samples=1_000, seed=5)
    b = mt.data.make_correlated_tasks(n_samples=1_000, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(mt.data.make_correlated_tasks(n_samples=1_000, seed=6))


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"task_correlation": 1.2}, "task_correlation"),
        ({"task_correlation": "high"}, "task_correlation"),
        ({"n_features": 1}, "n_features"),
        ({"n_samples": 0}, "n_samples"),
        ({"noise_std": -0.1}, "noise_std"),
        ({"alpha": [1.0, 2.0], "beta": [0.0]}, "same length"),
        ({"alpha": [1.0, np.nan], "beta": [0.0, 1.0]}, "alpha"),
    ],
)
def test_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        mt.data.make_correlated_tasks(**kwargs)
