"""Chapter 6 notebooks: the numbers their prose states hold.

The book build executes each notebook (tests/conftest.py, ``book_build``); these tests read
the ``RESULT {json}`` lines of the executed copies and check them against what the text
of the notebooks and of book/ch06_applications.md claims.
"""

from __future__ import annotations

import pytest

from conftest import notebook_results

pytestmark = pytest.mark.slow


def _run(name: str) -> dict:
    return notebook_results(f"notebooks/ch06_applications/{name}")


def test_ecommerce(built_site):
    r = _run("01_ecommerce.ipynb")
    # the funnel the page describes: 8% CTR, 10% CVR after a click, a few hundred purchases
    assert r["impressions"] == 60_000
    assert 0.07 < r["ctr"] < 0.09 and 0.08 < r["cvr_after_click"] < 0.12
    assert 300 < r["purchases"] < 700
    # "ESMM ranks purchases better than the single-task purchase network" (and the classic product)
    assert r["esmm_purchase_auc"] > r["single_purchase_auc"] + 0.01
    assert r["esmm_purchase_auc"] > r["classic_purchase_auc"] + 0.01
    # "click AUC is about the same for every model"
    assert abs(r["esmm_click_auc"] - r["single_click_auc"]) < 0.02
    # ESMM's CVR beats the clicked-only CVR network on clicked rows and, more clearly, over all rows
    assert r["esmm_cvr_auc_clicked"] > r["classic_cvr_auc_clicked"] + 0.01
    assert r["esmm_cvr_rank_corr_truth"] > r["classic_cvr_rank_corr_truth"] + 0.05
    # "both predicted CVRs are too high on average over all impressions"
    assert r["esmm_mean_pcvr_all"] > r["true_mean_pcvr_all"]
    rev, clicks, buys = r["revenue_per_1000"], r["clicks_per_1000"], r["purchases_per_1000"]
    esmm_value, esmm_click = "p(click) x p(buy|click) x price, ESMM", "p(click), ESMM"
    classic = "p(click) x p(buy|click) x price, classic"
    oracle = "true p(click) x p(buy|click) x price"
    # revenue ranking beats click ranking with the same model, and costs clicks and purchases
    assert r["esmm_revenue_uplift_vs_click_rank"] > 0.03
    assert rev[esmm_value] > rev[esmm_click]
    assert clicks[esmm_value] < clicks[esmm_click] and buys[esmm_value] < buys[esmm_click]
    # ESMM's revenue rule earns the most of the estimated rules; classic does no better than clicks
    estimated = [k for k in rev if not k.startswith("true") and k != "random order"]
    assert max(estimated, key=rev.get) == esmm_value
    assert rev[classic] < rev[esmm_click]
    # the truth is the ceiling, random the floor; with the truth the switch pays too
    assert rev[oracle] == max(rev.values()) and rev["random order"] == min(rev.values())
    assert r["oracle_revenue_uplift_vs_click_rank"] > 0
    assert rev[esmm_value] < 0.8 * rev[oracle]  # "far below that ceiling"
    assert r["pool_users"] > 150
    assert r["cpu_seconds"] < 120


def test_social_network(built_site):
    r = _run("02_social_network.ipynb")
    rates = r["base_rates"]
    # "6% liked, 1% commented on, 0.5% shared": more than an order of magnitude apart
    assert 0.05 < rates["like"] < 0.07 and 0.008 < rates["comment"] < 0.012 and 0.003 < rates["share"] < 0.007
    assert rates["like"] / rates["share"] > 10
    # comments and shares are several times more frequent among liked impressions
    assert r["lift_given_like"]["comment"] > 2 and r["lift_given_like"]["share"] > 2
    auc, loss = r["auc"], r["logloss"]
    single = auc["single-task"]
    # likes: within half a point; comment and share: two to three points for both MTL models
    for m in ("MMoE", "PLE"):
        assert abs(auc[m]["like"] - single["like"]) < 0.006
        assert auc[m]["comment"] > single["comment"] + 0.015
        assert auc[m]["share"] > single["share"] + 0.015
        for t in ("comment", "share"):
            assert loss[m][t] < loss["single-task"][t]
    # "MMoE does a little better than PLE on this feed"
    assert all(auc["MMoE"][t] > auc["PLE"][t] for t in ("like", "comment", "share"))
    # the truth is the best any model can do
    assert all(auc["truth"][t] > auc["MMoE"][t] for t in ("like", "comment", "share"))
    # gates: share leans on the same expert as like, comment on another
    top = r["mmoe_top_expert"]
    assert top["share"] == top["like"] != top["comment"]
    lists = r["top10_per_1000"]
    # like-only ranking maximises likes; the fused score trades likes for comments and shares
    assert lists["true fused"]["likes"] < lists["true p(like) only"]["likes"]
    assert lists["true fused"]["shares"] > lists["true p(like) only"]["shares"] + 1
    assert lists["true fused"]["comments"] > lists["true p(like) only"]["comments"] + 1
    assert lists["fused, MMoE"]["shares"] > lists["p(like) only, MMoE"]["shares"]
    assert lists["fused, MMoE"]["comments"] > lists["p(like) only, MMoE"]["comments"]
    assert all(v["shares"] > 2 * lists["random order"]["shares"] for k, v in lists.items() if k != "random order")
    # label noise: about three points of share AUC; MMoE wins on most redraws
    assert 0.015 < r["share_auc_redraw_sd"] < 0.045
    assert r["mmoe_minus_single_share_auc_redraws"]["mean"] > 0.01
    assert r["mmoe_minus_single_share_auc_redraws"]["share_positive"] > 0.75
    truth_auc = r["auc_against_truth"]
    for m in ("MMoE", "PLE"):
        for t in ("comment", "share"):
            assert 0.01 < truth_auc[m][t] - truth_auc["single-task"][t] < 0.035
        assert abs(truth_auc[m]["like"] - truth_auc["single-task"]["like"]) < 0.01
    # "the draw happened to be a kind one" for comment and share
    for m in ("single-task", "MMoE", "PLE"):
        assert auc[m]["share"] > truth_auc[m]["share"] and auc[m]["comment"] > truth_auc[m]["comment"]
    # the exchange rate: positive, and the blurred-truth curve falls as the noise grows
    assert 0.2 < r["shares_per_auc_point"] < 0.8
    curve = r["blur_curve"]
    assert curve[0][1] > curve[-1][1] + 5 and curve[0][0] > curve[-1][0] + 0.1
    # models above the curve; MMoE's list gain is positive but smaller than its AUC gain promises
    shares = r["model_share_rank_shares"]
    assert shares["MMoE"] > shares["single-task"]
    assert 0 < r["mmoe_share_gain_lists"] < r["mmoe_share_gain_auc_points"] * r["shares_per_auc_point"]
    assert r["cpu_seconds"] < 120


def test_media(built_site):
    r = _run("03_media.ipynb")
    assert 0.07 < r["ctr"] < 0.09 and 5 < r["minutes_per_click"] < 15
    m = r["metrics"]
    single, equal, unc = m["single-task"], m["MMoE, equal weights"], m["MMoE, uncertainty weights"]
    # negative transfer from the loss scale, repaired by uncertainty weighting
    assert equal["click_auc"] < single["click_auc"] - 0.015
    assert unc["click_auc"] > equal["click_auc"] + 0.015 and unc["click_auc"] > single["click_auc"] - 0.005
    assert unc["watch_time_rmse"] <= min(single["watch_time_rmse"], equal["watch_time_rmse"])
    assert unc["watch_time_rmse_vs_truth"] <= min(single["watch_time_rmse_vs_truth"], equal["watch_time_rmse_vs_truth"])
    # the watch-time loss is more than fifty times the click's; uncertainty weights the click ~10x more
    losses = r["equal_weights_last_losses"]
    assert losses["watch_time_loss"] > 50 * losses["click_loss"]
    w = r["uncertainty_weights"]
    assert 5 < w["w_click"] / w["w_watch_time"] < 20
    # even the truth has an RMSE above 3 minutes; every model beats the training mean against the truth
    assert m["truth"]["watch_time_rmse"] > 3
    for name in ("single-task", "MMoE, equal weights", "MMoE, uncertainty weights"):
        assert m[name]["watch_time_rmse_vs_truth"] < m["training mean"]["watch_time_rmse_vs_truth"]
    # about a third more minutes for about a tenth fewer clicks
    assert 0.25 < r["watch_rank_minutes_gain_vs_click_rank"] < 0.45
    assert -0.2 < r["watch_rank_click_change_vs_click_rank"] < 0
    minutes = r["minutes_per_list"]
    by_click = minutes["p(click), MMoE uncertainty"]
    watch_rules = [k for k in minutes if k.startswith("watch time")]
    assert all(minutes[k] > 1.2 * by_click for k in watch_rules)
    assert max(watch_rules, key=minutes.get) == "watch time, MMoE, uncertainty weights"
    assert minutes["true expected minutes"] == max(minutes.values())
    # the cost of a one-minute error: several minutes per list, a falling curve
    assert 2 < r["one_minute_error_cost"] < 5
    curve = list(r["noise_curve"].values())
    assert all(a > b for a, b in zip(curve, curve[1:]))
    assert r["cpu_seconds"] < 120
