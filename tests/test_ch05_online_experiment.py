"""Chapter 5, "An A/B test on the simulator": the prose's numbers and claims hold.

The book build executes the notebook (tests/conftest.py, ``book_build``); these tests read the
``RESULT {json}`` line of the executed copy. Each assertion pins a sentence of the prose,
quoted in the comments. The notebook must be listed in book/_toc.yml.
"""

from __future__ import annotations

import pytest

from conftest import notebook_results

pytestmark = pytest.mark.slow

NOTEBOOK = "notebooks/ch05_project/05_online_experiment.ipynb"


@pytest.fixture(scope="module")
def r(built_site):
    return notebook_results(NOTEBOOK)


def test_design_and_sanity_checks(r):
    # "The 1,000 users are shuffled ... dealt into one bucket per policy, 250 each."
    assert r["n_users"] == 1000
    assert r["bucket_sizes"] == {"popularity": 250, "item_cf": 250, "mtl": 250, "oracle": 250}
    assert r["srm_p"] > 0.5
    # "The pre-period columns differ between buckets only by chance"
    assert r["pre_p_min"] > 0.05
    # the A/A test: "Its interval for the purchase lift ... contains 0"
    assert r["aa"]["ci_low"] <= 0 <= r["aa"]["ci_high"] and r["aa"]["p_value"] > 0.05


def test_lifts_against_the_truth(r):
    ab = r["ab"]
    # every interval of this run contains the true lift ("3 of the three intervals")
    for name in ("item_cf", "mtl", "oracle"):
        assert ab[name]["ci_low"] <= ab[name]["true_lift"] <= ab[name]["ci_high"], name
        assert ab[name]["covers_truth"]
    # "mtl raised that ... (p = ...)": significant, and the true lift is positive
    assert ab["mtl"]["p_value"] < 0.01 and ab["mtl"]["ci_low"] > 0 and ab["mtl"]["true_lift"] > 0
    # "the oracle's lists are far ahead of the model's online too"
    assert ab["oracle"]["ci_low"] > ab["mtl"]["ci_high"]
    assert ab["oracle"]["true_lift"] > 3 * ab["mtl"]["true_lift"]
    # item_cf: "real, but far too small ... to see"; "Not significant" does not mean "no effect"
    assert ab["item_cf"]["p_value"] > 0.05 and 0 < ab["item_cf"]["true_lift"] < 0.1 * ab["mtl"]["true_lift"]


def test_benchmark_coverage_and_false_positives(r):
    b = r["bench"]
    assert b["experiments"] >= 500
    # "the 95% intervals contain the true lift in at least ... of experiments"
    assert b["coverage_min"] >= 0.92 and b["coverage_max"] <= 0.99
    # "the promised 5% false-positive rate"
    assert all(0.02 <= v <= 0.08 for v in b["aa_fpr"].values())
    # power: mtl almost always detected; item_cf's "hardly more than the false-positive rate"
    assert b["power_mtl"] > 0.95 and b["power_item_cf"] < 0.15
    # "over the benchmark's experiments the interval ... is on average ...% narrower with CUPED"
    assert b["mtl_purchase_ci_width"]["cuped"] < b["mtl_purchase_ci_width"]["plain"]


def test_sample_size(r):
    s = r["sample_size"]
    # "most users buy nothing in two weeks": the sd is far larger than the mean
    assert s["sd_pre"] > 2 * s["mean_pre"]
    # "... users per bucket, ... times this shop's whole user base"
    assert s["needed"] > 5 * r["n_users"]
    # "With 250 users per bucket the MDE is ..." (the inverse of the sample size)
    assert s["mde_250"] > 5 * s["mde"]
    d = {row["days"]: row for row in r["duration"]}
    # longer helps "but less than one might hope": 8x the days, fewer than 8x fewer users
    assert d[56]["relative MDE, 500 per bucket"] < d[7]["relative MDE, 500 per bucket"]
    ratio = d[7]["users per bucket for a 10% lift"] / d[56]["users per bucket for a 10% lift"]
    assert 1.5 < ratio < 8


def test_cuped(r):
    c = r["cuped"]
    # "For purchases that is little"; clicks gain more
    assert 0 < c["purchases"]["variance_reduction"] < 0.1
    assert c["clicks"]["variance_reduction"] > c["purchases"]["variance_reduction"]
    assert c["clicks"]["mtl_ci_width_cuped"] < c["clicks"]["mtl_ci_width"]
    # "Even the true expectation explains only about ..."; the pre-period stays below that ceiling
    # and improves with a longer pre-period
    ceiling, by_days = r["cuped_ceiling"], r["cuped_by_pre_days"]
    for m in ("purchases", "clicks"):
        assert by_days[f"{m}/56"] > by_days[f"{m}/14"] > by_days[f"{m}/7"]
        assert by_days[f"{m}/56"] < ceiling[m] < 0.6
    assert ceiling["purchases"] < ceiling["clicks"]


def test_offline_against_online(r):
    off, pairs = r["offline"], r["pairs"]
    # "An agreement: oracle against popularity"
    assert pairs["popularity vs oracle"]["offline_winner"] == pairs["popularity vs oracle"]["true_winner"] == "oracle"
    assert pairs["popularity vs oracle"]["ab"] == "oracle"
    # "A disagreement: mtl against popularity. Offline, popularity wins clearly ...; online, mtl ...
    # and the experiment detected that lift"
    assert pairs["popularity vs mtl"]["offline_winner"] == "popularity"
    assert pairs["popularity vs mtl"]["true_winner"] == "mtl" == pairs["popularity vs mtl"]["ab"]
    assert off["popularity"]["ndcg@10"] > 1.5 * off["mtl"]["ndcg@10"]
    assert off["mtl"]["true mean purchases"] > 2 * off["popularity"]["true mean purchases"]
    # the logging-policy bias: the popularity list's items took most of the later log's purchases
    assert r["share_purchases"] > r["share_impressions"] > 0.4


def test_budget(r):
    assert r["cpu_seconds"] < 40
