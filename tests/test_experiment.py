"""mtrec_lib.experiment: A/B test simulation, Welch intervals, CUPED, sample sizes, SRM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mtrec_lib as mt
from mtrec_lib import experiment as ex
from mtrec_lib.pipeline import ShopTruth

Z975, Z80 = 1.959963984540054, 0.8416212335729143  # standard normal quantiles, written out


# ---------------------------------------------------------------------------- a small world
@pytest.fixture(scope="module")
def world():
    shop = mt.data.simulate_shop(n_users=400, n_items=60, n_impressions=20_000, ctr=0.08, cvr=0.12, seed=3)
    truth = ShopTruth(shop)
    users = shop.users["user_id"].to_numpy()
    popular = shop.items.sort_values("popularity", ascending=False)["item_id"].to_numpy()[:10]
    pop = pd.DataFrame(
        {
            "user_id": np.repeat(users, 10),
            "item_id": np.tile(popular, len(users)),
            "rank": np.tile(np.arange(1, 11), len(users)),
        }
    )
    oracle = truth.best_lists(users, n=10)
    return shop, truth, users, pop, oracle


# ---------------------------------------------------------------------------- planning formulas
def test_sample_size_hand_computed():
    # n = 2 (z_0.975 + z_0.8)^2 sd^2 / mde^2 = 2 * 2.801585^2 / 0.01 = 1569.77 -> 1570 per arm
    assert 2 * (Z975 + Z80) ** 2 / 0.1**2 == pytest.approx(1569.77, abs=0.01)
    assert ex.sample_size(sd=1.0, mde=0.1, alpha=0.05, power=0.8) == 1570
    # sd 0.5, mde 0.05: the same ratio, the same n
    assert ex.sample_size(0.5, 0.05) == 1570
    # alpha 0.01, power 0.9: 2 (2.575829 + 1.281552)^2 / 0.04 = 743.95 -> 744
    assert ex.sample_size(1.0, 0.2, alpha=0.01, power=0.9) == 744


def test_minimum_detectable_effect_inverts_sample_size():
    assert ex.minimum_detectable_effect(1.0, 1570) == pytest.approx((Z975 + Z80) * np.sqrt(2 / 1570))
    for sd, mde in [(1.0, 0.1), (0.45, 0.013), (30.0, 2.5)]:
        n = ex.sample_size(sd, mde)
        # n rounds up, so n users detect at most mde, and n - 1 users do not reach it
        assert ex.minimum_detectable_effect(sd, n) <= mde < ex.minimum_detectable_effect(sd, n - 1)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"sd": 1.0, "mde": 0.0}, "mde"),
        ({"sd": 1.0, "mde": -0.1}, "mde"),
        ({"sd": 0.0, "mde": 0.1}, "sd"),
        ({"sd": 1.0, "mde": 0.1, "power": 1.0}, "power"),
        ({"sd": 1.0, "mde": 0.1, "alpha": 0.0}, "alpha"),
    ],
)
def test_sample_size_rejects_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word):
        ex.sample_size(**kwargs)
    with pytest.raises(ValueError, match="n must"):
        ex.minimum_detectable_effect(1.0, 1)


# ---------------------------------------------------------------------------- Welch and delta method
def test_difference_in_means_welch_toy():
    y = [1, 2, 3, 2, 4, 6]
    b = ["c", "c", "c", "t", "t", "t"]
    r = ex.difference_in_means(y, b, "c", "t")
    se = np.sqrt(1 / 3 + 4 / 3)  # variances 1 and 4, three users each
    assert (r["control_mean"], r["treatment_mean"], r["lift"]) == (2.0, 4.0, 2.0)
    assert r["se"] == pytest.approx(se)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((2 - Z975 * se, 2 + Z975 * se))
    assert r["p_value"] == pytest.approx(0.121335, abs=1e-6)  # 2 * (1 - Phi(2 / 1.29099))
    # delta method: relative lift 4/2 - 1 = 1, se^2 = (4/3)/2^2 + 4^2 (1/3)/2^4 = 2/3
    assert r["relative_lift"] == pytest.approx(1.0)
    assert r["relative_se"] == pytest.approx(np.sqrt(2 / 3))
    assert r["n_control"] == r["n_treatment"] == 3
    # swapping the roles flips the sign of the absolute lift
    assert ex.difference_in_means(y, b, "t", "c")["lift"] == -2.0


def test_difference_in_means_errors():
    with pytest.raises(ValueError, match="treatment"):
        ex.difference_in_means([1, 2, 3, 4], ["a", "a", "b", "b"], "a", "x")
    with pytest.raises(ValueError, match="at least 2"):
        ex.difference_in_means([1, 2, 3], ["a", "a", "b"], "a", "b")
    with pytest.raises(ValueError, match="bucket"):
        ex.difference_in_means([1, 2, 3], ["a", "b"], "a", "b")
    with pytest.raises(ValueError, match="y has missing"):
        ex.difference_in_means([1, np.nan, 3, 4], ["a", "a", "b", "b"], "a", "b")


# ---------------------------------------------------------------------------- CUPED
def test_cuped_hand_computed():
    y, x = np.array([2.0, 4, 6, 9]), np.array([1.0, 2, 3, 4])
    r = ex.cuped(y, x)
    # cov(x, y) = 11.5 / 3, var(x) = 5 / 3 -> theta = 2.3; var(y) = 26.75 / 3
    assert r.theta == pytest.approx(2.3)
    assert r.adjusted == pytest.approx([2 + 3.45, 4 + 1.15, 6 - 1.15, 9 - 3.45])
    rho2 = (11.5 / 3) ** 2 / ((5 / 3) * (26.75 / 3))
    assert r.variance_reduction == pytest.approx(rho2)
    # the reduction is exactly the variance removed, and the mean is unchanged
    assert 1 - r.adjusted.var(ddof=1) / y.var(ddof=1) == pytest.approx(rho2)
    assert r.adjusted.mean() == pytest.approx(y.mean())


def test_cuped_uncorrelated_covariate_changes_nothing():
    r = ex.cuped([1.0, 2, 1, 2], [1.0, 1, 2, 2])  # cov = 0
    assert r.theta == 0 and r.variance_reduction == 0
    assert r.adjusted.tolist() == [1.0, 2, 1, 2]


def test_cuped_errors():
    with pytest.raises(ValueError, match="constant"):
        ex.cuped([1, 2, 3], [5, 5, 5])
    with pytest.raises(ValueError, match="one value per value of y"):
        ex.cuped([1, 2, 3], [1, 2])


# ---------------------------------------------------------------------------- SRM
def test_sample_ratio_mismatch():
    # chi2 = 2 * 100^2 / 5100 = 3.9216 with one degree of freedom
    r = ex.sample_ratio_mismatch(["A"] * 5000 + ["B"] * 5200)
    assert r["chi2"] == pytest.approx(2 * 100**2 / 5100)
    assert r["p_value"] == pytest.approx(0.04767, abs=1e-4)
    assert r["counts"] == {"A": 5000, "B": 5200}
    # planned 1:3 split, observed exactly 1:3
    r = ex.sample_ratio_mismatch(["A"] * 100 + ["B"] * 300, expected={"A": 1, "B": 3})
    assert r["chi2"] == pytest.approx(0.0) and r["p_value"] == pytest.approx(1.0)
    with pytest.raises(KeyError, match="share"):
        ex.sample_ratio_mismatch(["A", "B", "C"], expected={"A": 1, "B": 1})


# ---------------------------------------------------------------------------- simulation
def test_simulation_is_deterministic_and_seeded(world):
    shop, truth, users, pop, oracle = world
    a = ex.simulate_ab_test(shop, {"pop": pop, "oracle": oracle}, truth=truth, seed=5)
    b = ex.simulate_ab_test(shop, {"pop": pop, "oracle": oracle}, truth=truth, seed=5)
    c = ex.simulate_ab_test(shop, {"pop": pop, "oracle": oracle}, truth=truth, seed=6)
    pd.testing.assert_frame_equal(a.users, b.users)
    pd.testing.assert_frame_equal(a.expected, b.expected)
    assert not a.users["bucket"].equals(c.users["bucket"])
    # truth does not depend on the seed: it is the population's expectation
    pd.testing.assert_frame_equal(a.expected, c.expected)


def test_simulation_output(world):
    shop, truth, users, pop, oracle = world
    res = ex.simulate_ab_test(shop, {"pop": pop, "oracle": oracle}, truth=truth, n_days=10, pre_days=7, seed=0)
    u = res.users
    assert list(u.columns) == [
        "user_id",
        "bucket",
        "visit_prob",
        "visits",
        "clicks",
        "purchases",
        "gmv",
        "pre_visits",
        "pre_clicks",
        "pre_purchases",
        "pre_gmv",
    ]
    assert len(u) == 400 and u["bucket"].value_counts().to_dict() == {"pop": 200, "oracle": 200}
    assert (u["visits"] <= 10).all() and (u["pre_visits"] <= 7).all()
    assert (u["purchases"] <= u["clicks"]).all() and (u["clicks"] <= 10 * u["visits"]).all()
    assert ((u["gmv"] > 0) == (u["purchases"] > 0)).all()
    assert res.policies == ["pop", "oracle"] and res.control == "pop"
    # visits are heterogeneous: the most active tenth visits far more often than the least active
    p = u["visit_prob"].sort_values().to_numpy()
    assert p[-40:].mean() > 5 * p[:40].mean()
    # expectations: visit probability x the list's true expected purchases per visit
    e = res.expected.set_index(["policy", "user_id"])
    one = oracle[oracle["user_id"] == users[0]].assign(position=lambda d: d["rank"])
    per_visit = truth.probabilities(one, position=one["position"].to_numpy())["p_purchase"].sum()
    assert e.loc[("oracle", users[0]), "purchases"] == pytest.approx(10 * u["visit_prob"].iloc[0] * per_visit)
    assert e.loc[("oracle", users[0]), "visits"] == pytest.approx(10 * u["visit_prob"].iloc[0])
    # the draws agree with the expectations: bucket means within 4 standard errors
    for name in res.policies:
        rows = u[u["bucket"] == name]
        exp_mean = e.loc[name].loc[rows["user_id"], "clicks"].mean()
        assert abs(rows["clicks"].mean() - exp_mean) < 4 * rows["clicks"].std() / np.sqrt(len(rows))
    # the pre-period serves the control to everyone: pre-clicks match the control's expectation
    pre_exp = e.loc["pop", "clicks"].mean() * 7 / 10
    assert abs(u["pre_clicks"].mean() - pre_exp) < 4 * u["pre_clicks"].std() / np.sqrt(len(u))


def test_ab_summary_cuped_pools_the_two_compared_buckets(world):
    shop, truth, users, pop, oracle = world
    res = ex.simulate_ab_test(shop, {"pop": pop, "oracle": oracle, "again": pop}, truth=truth, seed=2)
    s = ex.ab_summary(res, "clicks", covariate="pre_clicks")
    u = res.users[res.users["bucket"].isin(["pop", "again"])]
    manual = ex.cuped(u["clicks"], u["pre_clicks"])
    assert s.loc["again", "theta"] == pytest.approx(manual.theta)
    ref = ex.difference_in_means(manual.adjusted, u["bucket"], "pop", "again")
    assert s.loc["again", "lift"] == pytest.approx(ref["lift"]) and s.loc["again", "se"] == pytest.approx(ref["se"])
    # the oracle's bucket does not enter the A/A comparison's theta
    assert s.loc["again", "theta"] != pytest.approx(s.loc["oracle", "theta"])


def test_simulation_errors(world):
    shop, truth, users, pop, oracle = world
    with pytest.raises(ValueError, match="unknown control"):
        ex.simulate_ab_test(shop, {"a": pop, "b": oracle}, truth=truth, control="c")
    with pytest.raises(ValueError, match=r"policies\['b'\] has no list"):
        ex.simulate_ab_test(shop, {"a": pop, "b": oracle[oracle["user_id"] != users[3]]}, truth=truth)
    with pytest.raises(ValueError, match="missing column 'rank'"):
        ex.simulate_ab_test(shop, {"a": pop, "b": oracle.drop(columns="rank")}, truth=truth)
    with pytest.raises(ValueError, match="at least two"):
        ex.simulate_ab_test(shop, {"a": pop}, truth=truth)
    with pytest.raises(ValueError, match="n_days"):
        ex.simulate_ab_test(shop, {"a": pop, "b": oracle}, truth=truth, n_days=0)
    with pytest.raises(KeyError, match="not in shop.users"):
        ex.simulate_ab_test(shop, {"a": pop, "b": oracle}, truth=truth, users=[0, 1, 99_999])
    res = ex.simulate_ab_test(shop, {"a": pop, "b": oracle}, truth=truth)
    with pytest.raises(ValueError, match="unknown metric"):
        ex.ab_summary(res, "revenue")
    with pytest.raises(ValueError, match="unknown covariate"):
        ex.ab_summary(res, "clicks", covariate="pre_revenue")


def test_coverage_of_the_true_lift_and_aa_false_positives(world):
    """Over 100 experiments, the 95% interval covers the simulator's true lift >= 90% of the time."""
    shop, truth, users, pop, oracle = world
    covered, covered_cuped, aa_reject, narrower = [], [], [], []
    for seed in range(100):
        res = ex.simulate_ab_test(
            shop, {"pop": pop, "oracle": oracle, "pop_again": pop}, truth=truth, n_days=7, pre_days=14, seed=seed
        )
        plain = ex.ab_summary(res, "purchases")
        adj = ex.ab_summary(res, "purchases", covariate="pre_purchases")
        covered.append(plain.loc["oracle", "covers_truth"])
        covered_cuped.append(adj.loc["oracle", "covers_truth"])
        aa_reject.append(plain.loc["pop_again", "p_value"] < 0.05)
        narrower.append(adj.loc["oracle", "se"] < plain.loc["oracle", "se"])
        assert plain.loc["pop_again", "true_lift"] == 0.0
    assert plain.loc["oracle", "true_lift"] > 0
    assert np.mean(covered) >= 0.90
    assert np.mean(covered_cuped) >= 0.90
    assert np.mean(aa_reject) <= 0.12  # nominal 5%; 100 tests: a binomial sd of 2.2 points
    assert np.mean(narrower) >= 0.9  # CUPED narrows the interval in (almost) every experiment
