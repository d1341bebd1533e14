"""Chapter 2's notebook: the pipeline in miniature; the numbers its prose states hold.

The book build executes the notebook (tests/conftest.py, ``built_site``); these tests read
the ``RESULT {json}`` line of the executed copy and check what its text claims.
"""

from __future__ import annotations

import pytest

from conftest import notebook_results

pytestmark = pytest.mark.slow


def test_pipeline_in_miniature(built_site):
    r = notebook_results("notebooks/ch02_concepts/01_pipeline_in_miniature.ipynb")
    assert r["impressions"] == 30_000 and r["users"] > 250
    # "the items this user clicked score higher on both features than the items they did not"
    assert r["clicked_item_similarity"] > 2 * r["unclicked_item_similarity"]
    assert r["clicked_user_similarity"] > r["unclicked_user_similarity"]
    # the ranker's click estimates order the candidates like the truth does (not perfectly)
    assert 0.3 < r["user_click_rank_corr"] < 1.0
    # "raises both the expected clicks and the expected purchases per list well above the CF
    # order, the purchases most"
    click_gain = r["mtl_expected_clicks"] / r["cf_expected_clicks"]
    purchase_gain = r["mtl_expected_purchases"] / r["cf_expected_purchases"]
    assert click_gain > 1.2 and purchase_gain > 1.4 and purchase_gain > click_gain
    # "the fused lists crowd into fewer categories and cover less of the catalogue"
    assert r["mtl_ild"] < r["cf_ild"] and r["mtl_coverage"] < r["cf_coverage"]
    # "MMR buys most of the diversity and coverage back for part of the gain; the re-ranked
    # lists still earn more than the CF order"
    assert r["mmr_ild"] > r["mtl_ild"] + 0.1 and r["mmr_coverage"] > r["mtl_coverage"]
    assert r["cf_expected_purchases"] < r["mmr_expected_purchases"] < r["mtl_expected_purchases"]
    assert r["cf_expected_clicks"] < r["mmr_expected_clicks"] < r["mtl_expected_clicks"]
    assert r["user_categories_mmr"] >= r["user_categories_fused"]
