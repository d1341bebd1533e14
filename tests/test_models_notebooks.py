"""Chapter 3 multi-task notebooks: the numbers their prose states hold.

Reads the ``RESULT {json}`` lines of the copies the book build executed
(tests/conftest.py, ``book_build``); the notebooks must be listed in book/_toc.yml.
"""

from __future__ import annotations

import pytest

from conftest import notebook_results

pytestmark = pytest.mark.slow

ARCHS = ("single_task", "shared_bottom", "omoe", "mmoe", "cgc", "ple", "esmm")


def test_architectures_notebook(built_site):
    r = notebook_results("notebooks/ch03_mtl/01_mtl_architectures.ipynb")
    for arch in ARCHS:
        # "every model is far above 0.5 and well below the ceiling"
        assert 0.65 < r[f"{arch}_click_auc"] < r["oracle_click_auc"], arch
        assert 0.6 < r[f"{arch}_purchase_auc"] < r["oracle_purchase_auc"], arch
    # "about half the parameters of the single-task baseline"
    assert 1.8 < r["single_task_params"] / r["shared_bottom_params"] < 2.2
    # "the purchase task is where sharing should pay"
    assert r["sharing_mean_purchase_auc"] > r["single_task_purchase_auc"]
    # "the click task and the purchase task lean on different experts"
    assert r["mmoe_gate_task_gap"] > 0.05
    assert r["test_purchases"] < 100  # "only a few dozen purchases"


def test_purchase_and_interest_notebook(built_site):
    r = notebook_results("notebooks/ch03_mtl/02_example_purchase_and_interest.ipynb")
    assert r["rows"] == 4963
    # the article's call no longer takes purchase_30d as a feature, so its AUC is not near 1
    assert r["article_used_purchase_30d"] is False
    assert r["article_purchase_auc_on_training_rows"] < 0.95
    # handing the estimator the leaking column by name gets a LabelLeakWarning naming it
    assert r["leak_warned"] is True
    # training rows flatter the model
    assert r["train_click_auc"] > r["test_click_auc"] and r["train_purchase_30d_auc"] > r["test_purchase_30d_auc"]
    assert r["test_click_auc"] > 0.55 and r["test_purchase_30d_auc"] > 0.6
    assert r["reload_identical"] is True
