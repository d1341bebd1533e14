"""Chapter 1 notebooks: the numbers their prose states hold.

The book build executes each notebook (tests/conftest.py, ``book_build``); these tests read
the ``RESULT {json}`` lines of the executed copies and check them against what the text
claims.
"""

from __future__ import annotations

import pytest

from conftest import notebook_results

pytestmark = pytest.mark.slow


def _run(name: str) -> dict:
    return notebook_results(f"notebooks/ch01_background/{name}")


def test_data_tour(built_site):
    r = _run("01_data_tour.ipynb")
    assert (r["ml_ratings"], r["ml_users"], r["ml_items"]) == (100_000, 943, 1682)
    assert r["ml_density"] == pytest.approx(0.063, abs=0.001)
    assert r["ml_top20_share"] > 0.6  # "the top 20% of films hold ..."
    assert 0.03 <= r["shop_ctr"] <= 0.06 and 0.02 <= r["shop_cvr"] <= 0.08
    assert r["selection_bias_ratio"] > 2  # "several times that of all impressions"
    assert r["user_behavior_rows"] == 4963


def test_three_families(built_site):
    r = _run("02_three_families.ipynb")
    # the prose: content-based loses to popularity; item-based CF is best; UserKNN ~ 0.98 RMSE
    assert r["content_p10"] < r["popularity_p10"] < r["itemcf_p10"]
    assert r["deep_p10"] > r["popularity_p10"]
    assert r["itemcf_p10"] > 0.33  # at least the SAR reference precision on this protocol
    assert r["userknn_rmse"] == pytest.approx(0.98, abs=0.02)


def test_first_multitask(built_site):
    r = _run("03_first_multitask.ipynb")
    # linear tasks (n_sin=0): "its error drops by more than half, for every seed"
    assert r["related_gain"] > 0.5 and r["related_wins"] == 3
    assert 0.65 < r["related_single"] < 0.8  # "explains only about a quarter of its variance"
    # unrelated: "the paired differences per seed ... are of the size of the differences between seeds"
    assert len(r["unrelated_paired_diffs"]) == 3
    assert max(abs(d) for d in r["unrelated_paired_diffs"]) < 1.5 * r["unrelated_single_std"]
    assert abs(r["unrelated_shared"] - r["unrelated_single"]) < r["unrelated_single_std"]
    # default sinusoids: "Both ways of training end *worse* than predicting the mean of task B"
    assert r["default_single"] > 1.0 and r["default_shared"] > 1.0
