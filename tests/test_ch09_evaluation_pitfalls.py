"""Chapter 9, evaluation pitfalls (notebooks/ch09_faq/03_evaluation_pitfalls.ipynb): the prose's claims hold.

The book build executes the notebook (tests/conftest.py, ``book_build``); these tests read the
``RESULT {json}`` line of the executed copy. Each assertion pins a sentence of the prose,
quoted in the comment; the numbers themselves are glued, so the bounds are loose where the
prose only states a direction.
"""

from __future__ import annotations

import pytest

from conftest import notebook_results

pytestmark = pytest.mark.slow

A, B = "ItemTopN k=5", "ItemTopN k=50"


@pytest.fixture(scope="module")
def r(built_site):
    return notebook_results("notebooks/ch09_faq/03_evaluation_pitfalls.ipynb")


def test_protocol_and_chance_levels(r):
    assert r["n_heldout"] + r["n_cold"] == 943 and r["n_cold"] < 10
    # "The constant-score baseline scores exactly the chance levels ... (10 / 101)"
    assert r["sampled_hr10"]["Constant score"] == round(10 / 101, 4)
    assert 0.005 < r["full_hr10"]["Constant score"] < 0.008
    assert r["sampled_hr10_sd"]["Constant score"] == 0.0
    # "Both metrics put EASE first"
    assert max(r["full_hr10"], key=r["full_hr10"].get) == "EASE"
    assert max(r["sampled_hr10"], key=r["sampled_hr10"].get) == "EASE"
    # "the sampled numbers are between ... and ... times the full ones"
    lo, hi = r["ratio_sampled_full"]
    assert 2.5 < lo < hi < 8
    # "the seeds are not what separates the models below": seed sd far below the head pair's gap
    assert max(r["sampled_hr10_sd"].values()) < 0.02


def test_biasedmf_below_chance_in_full_above_in_sample(r):
    # "... in the full ranking, below the constant baseline, and ... in the sample, above it"
    assert r["full_hr10"]["BiasedMF (rating)"] < r["full_hr10"]["Constant score"]
    assert r["sampled_hr10"]["BiasedMF (rating)"] > r["sampled_hr10"]["Constant score"]


def test_order_changes(r):
    # "Of the 21 pairs of models, ... are ordered differently ... and ... are clear reversals"
    assert r["n_pairs"] == 21
    assert r["n_reversed"] >= r["n_clear"] >= 2
    # the head pair: better on the full ranking by > 2 SE, worse on the sampled one by > 2 SE
    head = r["head_pair"]
    assert r["full_hr10"][A] > r["full_hr10"][B] and r["sampled_hr10"][A] < r["sampled_hr10"][B]
    assert head["full_diff"] > 2 * head["full_se"]
    assert -head["sampled_diff"] > 2 * head["sampled_se"]


def test_why_the_sampled_metric_is_deep(r):
    # "a credit of ... at full rank 50 and ... at rank 100"; "below one half only from rank ..."
    assert r["credit_at_rank"]["50"] > 0.99 and r["credit_at_rank"]["100"] > 0.85
    assert 120 < r["credit_half_rank"] < 200
    # "their full HR@K curves cross, and from K = ... the 50-neighbour model is ahead"
    assert 10 < r["cross_k"] < 100
    # ties: the narrow model leaves far more negatives tied with the held-out item
    assert r["tied_share"][A] > 0.3 > 0.1 > r["tied_share"][B]
    # "the curve averaged over its users' full ranks predicts a sampled HR@10 of ...; the 20 draws gave ..."
    assert abs(r["ease_predicted_sampled_hr10"] - r["sampled_hr10"]["EASE"]) < 0.01


def test_tuning_decision(r):
    t = r["tuning"]["ItemTopN"]
    # "the two metrics pick different neighbourhoods"; the sampled pick is worse on test
    assert t["chosen by full"] != t["chosen by sampled"]
    assert t["chosen by full"] < t["chosen by sampled"]
    assert t["difference"] > 1.5 * t["SE"] > 0
    # EASE: "within the noise: for this model the choice of metric did not matter"
    e = r["tuning"]["EASE"]
    assert abs(e["difference"]) < e["SE"]


def test_saturation(r):
    s = r["saturation"]
    # "With 5 negatives ... every model, the constant one included, scores 1.00"
    assert all(v == 1.0 for v in s["5"].values())
    # hit rates fall as the sample grows, for every model
    sizes = ["5", "10", "20", "50", "100", "200", "500", "full"]
    for name in s["5"]:
        values = [s[n][name] for n in sizes]
        assert all(a >= b for a, b in zip(values, values[1:])), name
    # "EASE ... reaches ... with 20 negatives"; "squeezes the models together near 1"
    assert s["20"]["EASE"] > 0.9
    assert s["20"]["EASE"] / s["20"]["Popularity"] < 0.8 * (s["full"]["EASE"] / s["full"]["Popularity"])
    # "With 10 negatives popularity is even ahead of EASE"
    assert s["10"]["Popularity"] > s["10"]["EASE"]
    # "behind it with every sample size from 10 to 500 negatives, although with 500 the gap has almost closed"
    assert all(s[n][A] < s[n][B] for n in sizes[1:-1]) and s["full"][A] > s["full"][B]
    assert s["500"][B] - s["500"][A] < 0.02
    # AUC: "differ by at most ... for every model"
    assert r["auc_gap"] < 0.002


def test_random_holdout_leaks(r):
    # "multiplies every model's full HR@10 by between ... and ..."
    for name, v in r["leak"].items():
        assert v["random"] > 1.4 * v["latest"], name
    # "For ...% of the users the training data now contain ratings the user made after the held-out one"
    assert r["leak_future_share"] > 0.8
    assert r["cpu_seconds"] < 60
