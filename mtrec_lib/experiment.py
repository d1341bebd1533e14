"""Online controlled experiments (A/B tests, 在线A/B实验) on a simulated shop.

A platform judges a new ranking by showing it to a random half of its users and comparing a
per-user metric with the other half. On a :func:`mtrec_lib.data.simulate_shop` world the
truth is known (:class:`mtrec_lib.pipeline.ShopTruth`), so an A/B test can be checked against
the exact lift it tries to estimate.

=================================  ==========================================================
function                           what it does
=================================  ==========================================================
:func:`simulate_ab_test`           split users into buckets, serve each bucket one policy's
                                   lists, draw visits, clicks, purchases and GMV; also the
                                   pre-period (everyone on control) and the exact expectations
:func:`difference_in_means`        lift with a Welch confidence interval and p-value; the
                                   relative lift's interval by the delta method
:func:`cuped`                      the CUPED adjustment with a pre-period covariate
:func:`ab_summary`                 one row per treatment: estimate, interval, true lift
:func:`sample_size`                users per bucket for a minimum detectable effect
:func:`minimum_detectable_effect`  the inverse: the effect ``n`` users per bucket can detect
:func:`sample_ratio_mismatch`      chi-square test that buckets have the planned sizes
=================================  ==========================================================

Examples
--------
>>> sample_size(sd=1.0, mde=0.1)
1570
>>> round(minimum_detectable_effect(sd=1.0, n=1570), 4)
0.1
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from mtrec_lib.data.frames import ITEM, RANK, USER
from mtrec_lib.data.validate import check_choice, check_frame, check_number, check_positive_int
from mtrec_lib.pipeline import ShopTruth, shown_lists

__all__ = [
    "METRICS",
    "ABTestResult",
    "CupedResult",
    "simulate_ab_test",
    "difference_in_means",
    "cuped",
    "ab_summary",
    "sample_size",
    "minimum_detectable_effect",
    "sample_ratio_mismatch",
]

#: The per-user outcomes :func:`simulate_ab_test` records (the pre-period's carry a ``pre_`` prefix).
METRICS = ("visits", "clicks", "purchases", "gmv")


@dataclass
class ABTestResult:
    """What :func:`simulate_ab_test` returns.

    Attributes
    ----------
    users : pandas.DataFrame
        One row per user: ``user_id, bucket, visit_prob``, the experiment period's
        ``visits, clicks, purchases, gmv`` and the pre-period's ``pre_visits, pre_clicks,
        pre_purchases, pre_gmv`` (everyone served the control policy).
    expected : pandas.DataFrame
        The exact expected experiment-period outcomes of every user under every policy:
        ``user_id, policy, visits, clicks, purchases, gmv`` (from the simulator's truth, not
        from draws).
    control : str
        Name of the control policy.
    policies : list of str
        Policy (= bucket) names, control first.
    params : dict
        The arguments the experiment was simulated with.
    """

    users: pd.DataFrame
    expected: pd.DataFrame
    control: str
    policies: list[str]
    params: dict[str, Any] = field(default_factory=dict)

    def true_mean(self, metric: str, policy: str) -> float:
        """Mean over ALL experiment users of the expected ``metric`` if everyone got ``policy``."""
        check_choice(metric, "metric", list(METRICS))
        check_choice(policy, "policy", self.policies)
        return float(self.expected.loc[self.expected["policy"] == policy, metric].mean())

    def true_lift(self, metric: str, treatment: str, control: str | None = None) -> dict[str, float]:
        """The exact lift of ``treatment`` over ``control`` on the experiment's population.

        This is the average treatment effect over every user in the experiment (both
        buckets), the quantity a difference in means estimates without bias under random
        assignment. Returns ``{"absolute": ..., "relative": ...}``.
        """
        control = self.control if control is None else control
        c, t = self.true_mean(metric, control), self.true_mean(metric, treatment)
        return {"absolute": t - c, "relative": t / c - 1.0 if c > 0 else float("nan")}


class CupedResult(NamedTuple):
    """The output of :func:`cuped`."""

    adjusted: np.ndarray
    theta: float
    variance_reduction: float


# ---------------------------------------------------------------------------
# Simulation
# ---------------------------------------------------------------------------
def _top_lists(name: str, table: pd.DataFrame, users: np.ndarray, list_size: int) -> pd.DataFrame:
    """The first ``list_size`` items of each user's list, with their display position."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"policies[{name!r}]: expected a DataFrame user_id, item_id, rank, got {type(table).__name__}.")
    check_frame(table, f"policies[{name!r}]", required=[USER, ITEM, RANK], unique=[USER, ITEM])
    missing = np.setdiff1d(users, table[USER].unique())
    if len(missing):
        raise ValueError(
            f"policies[{name!r}] has no list for {len(missing)} of the experiment's users "
            f"(e.g. user_id {missing[0]!r}); recommend for every user or pass users= "
            f"with the users all policies cover."
        )
    return shown_lists(table.loc[table[USER].isin(users), [USER, ITEM, RANK]], list_size).reset_index(drop=True)


class _Exposure(NamedTuple):
    row_user: np.ndarray  # index into the experiment's user array, one per (user, slot)
    price: np.ndarray  # item price per slot
    p_click: np.ndarray  # (slots, devices) true click probability
    p_buy: np.ndarray  # (slots, devices) true purchase probability given a click
    mean: np.ndarray  # (users, 3) device-averaged expected clicks, purchases, gmv per visit


def _exposure(
    truth: Any, top: pd.DataFrame, user_pos: pd.Index, price: pd.Series, devices: list[str], share: np.ndarray
) -> _Exposure:
    pc = np.empty((len(top), len(devices)))
    pv = np.empty_like(pc)
    for d, dev in enumerate(devices):
        p = truth.probabilities(top, position=top["position"].to_numpy(), device=np.full(len(top), dev))
        pc[:, d], pv[:, d] = p["p_click"].to_numpy(), p["p_purchase_given_click"].to_numpy()
    row_user = user_pos.get_indexer(top[USER].to_numpy())
    prices = price.reindex(top[ITEM].to_numpy()).to_numpy()
    if np.isnan(prices).any():
        bad = top[ITEM].to_numpy()[np.isnan(prices)][0]
        raise KeyError(f"item_id {bad!r} of a policy is not in shop.items; recommend items of this shop only.")
    click = pc @ share  # expectation over the device mix of one visit
    buy = (pc * pv) @ share
    per_visit = np.zeros((len(user_pos), 3))
    np.add.at(per_visit, row_user, np.column_stack([click, buy, buy * prices]))
    return _Exposure(row_user, prices, pc, pv, per_visit)


def _draw_period(
    rng: np.random.Generator, exp: _Exposure, rows: np.ndarray, visit_prob: np.ndarray, n_days: int, share: np.ndarray
) -> np.ndarray:
    """Draw visits, clicks, purchases and GMV of the users ``rows`` over ``n_days`` days.

    Every visit shows the user's whole list on a device drawn from the log's mix; each
    impression is clicked, and a click converted, independently with the true probabilities.
    Summing Bernoullis per (slot, device) as binomials draws exactly that distribution
    without a loop over days.
    """
    n = len(visit_prob)
    visits = np.zeros(n, dtype=np.int64)
    visits[rows] = rng.binomial(n_days, visit_prob[rows])
    by_device = np.zeros((n, len(share)), dtype=np.int64)
    by_device[rows] = rng.multinomial(visits[rows], share)
    slots = np.isin(exp.row_user, rows)
    shown = by_device[exp.row_user[slots]]  # (slots, devices) impressions
    clicks = rng.binomial(shown, exp.p_click[slots])
    buys = rng.binomial(clicks, exp.p_buy[slots]).sum(axis=1)
    out = np.zeros((n, 4))
    out[:, 0] = visits
    np.add.at(out[:, 1], exp.row_user[slots], clicks.sum(axis=1))
    np.add.at(out[:, 2], exp.row_user[slots], buys)
    np.add.at(out[:, 3], exp.row_user[slots], buys * exp.price[slots])
    return out


def simulate_ab_test(
    shop: Any,
    policies: Mapping[str, pd.DataFrame],
    *,
    truth: Any = None,
    users: Iterable | None = None,
    control: str | None = None,
    n_days: int = 14,
    pre_days: int = 14,
    list_size: int = 10,
    visit_rate: float = 0.3,
    seed: int = 0,
) -> ABTestResult:
    """Simulate an online A/B test of recommendation policies on a simulated shop.

    1. **Assignment.** The users are shuffled with ``seed`` and dealt round-robin into one
       bucket per policy (complete randomisation, buckets differ in size by at most one).
    2. **Visits.** User *u* visits on each day independently with probability
       :math:`1 - e^{-\\lambda a_u / \\bar a}`, where :math:`a_u` is the shop's observable
       ``activity`` (log-normal, so a few users visit almost daily and many rarely) and
       :math:`\\lambda` is ``visit_rate``. This heterogeneity is what CUPED exploits.
    3. **Feedback.** At each visit the user sees their bucket's list, rank *r* at position
       *r*, on a device drawn from the log's device mix; each item is clicked with its true
       probability at that position and device, and a click becomes a purchase with the true
       conversion probability. GMV adds the item's price per purchase.
    4. **Pre-period.** Before the experiment, every user gets the ``control`` policy for
       ``pre_days`` days (independent draws): the covariate of :func:`cuped`.

    Impressions are independent given the probabilities: no fatigue, novelty or
    cross-user effects, so a list earns the same each visit.

    Parameters
    ----------
    shop : mtrec_lib.data.SimulatedLog
        The output of :func:`mtrec_lib.data.simulate_shop` (users' ``activity``, items' ``price``).
    policies : mapping of str to pandas.DataFrame
        Policy name -> recommendation table ``user_id, item_id, rank`` (e.g. from
        ``RecommendationPipeline.recommend`` or a CF model's ``recommend``). Each user's
        ``list_size`` best-ranked items are shown. Pass the same table under two names for
        an A/A test.
    truth : mtrec_lib.pipeline.ShopTruth, optional
        The shop's truth; default ``ShopTruth(shop)``, a view over ``shop.world``.
    users : array-like, optional
        The experiment's users; default: every user of the control policy's table. Every
        policy must have a list for each of them.
    control : str, optional
        Name of the control policy; default the first.
    n_days, pre_days : int
        Length of the experiment and of the pre-period (``pre_days`` may be 0).
    list_size : int, default 10
        Items shown per visit.
    visit_rate : float > 0, default 0.3
        :math:`\\lambda` above: a user of average activity visits on about 26% of days.
    seed : int
        Seed of ``np.random.default_rng``; the same seed gives the same result.

    Returns
    -------
    ABTestResult
        Per-user outcomes (``.users``) and the exact expectations (``.expected``).

    Examples
    --------
    >>> import mtrec_lib as mt, numpy as np, pandas as pd
    >>> shop = mt.data.simulate_shop(n_users=200, n_items=50, n_impressions=5_000, seed=0)
    >>> users = shop.users["user_id"].to_numpy()
    >>> top = shop.items.sort_values("popularity", ascending=False)["item_id"].to_numpy()[:5]
    >>> popular = pd.DataFrame({"user_id": np.repeat(users, 5), "item_id": np.tile(top, len(users)),
    ...                         "rank": np.tile(np.arange(1, 6), len(users))})
    >>> res = simulate_ab_test(shop, {"A": popular, "B": popular}, n_days=7, list_size=5, seed=1)
    >>> res.users["bucket"].value_counts().sort_index().to_dict()
    {'A': 100, 'B': 100}
    >>> res.true_lift("purchases", "B")["absolute"]   # an A/A test: the truth is no lift
    0.0
    """
    if not isinstance(policies, Mapping) or len(policies) < 2:
        raise ValueError(
            "policies must map at least two names to recommendation tables (the same table twice for an A/A test)."
        )
    names = [str(k) for k in policies]
    if len(set(names)) != len(names):
        raise ValueError(f"policies: names must be distinct as strings, got {names}.")
    tables = dict(zip(names, policies.values()))
    control = names[0] if control is None else check_choice(str(control), "control", names)
    n_days = check_positive_int(n_days, "n_days")
    pre_days = check_positive_int(pre_days, "pre_days", minimum=0)
    list_size = check_positive_int(list_size, "list_size")
    visit_rate = check_number(visit_rate, "visit_rate", 0, None, low_open=True)
    seed = check_positive_int(seed, "seed", minimum=0)
    check_frame(shop.users, "shop.users", required=[USER, "activity"], numeric=["activity"])
    check_frame(shop.items, "shop.items", required=[ITEM, "price"], numeric=["price"])
    truth = ShopTruth(shop) if truth is None else truth

    if users is None:
        user_ids = np.sort(pd.unique(tables[control][USER].to_numpy()))
    else:
        user_ids = np.asarray(pd.unique(np.asarray(list(users))))
    if len(user_ids) < len(names):
        raise ValueError(f"users: {len(user_ids)} users cannot fill {len(names)} buckets; pass more users.")
    activity = shop.users.set_index(USER)["activity"].reindex(user_ids).to_numpy(dtype=float)
    if np.isnan(activity).any():
        bad = user_ids[np.isnan(activity)][0]
        raise KeyError(f"users: user_id {bad!r} is not in shop.users; use users of this shop only.")
    # Relative to the shop's mean activity, so visit_rate means the same for any subset of users.
    rel = activity / float(shop.users["activity"].mean())
    visit_prob = -np.expm1(-visit_rate * rel)

    devices = list(truth.device_share_.index)
    share = truth.device_share_.to_numpy(dtype=float)
    share = share / share.sum()
    user_pos = pd.Index(user_ids)
    price = shop.items.set_index(ITEM)["price"].astype(float)
    exposures = {
        n: _exposure(truth, _top_lists(n, tables[n], user_ids, list_size), user_pos, price, devices, share)
        for n in names
    }

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(user_ids))
    bucket_of = np.empty(len(user_ids), dtype=np.int64)
    bucket_of[order] = np.arange(len(user_ids)) % len(names)
    everyone = np.arange(len(user_ids))
    pre = (
        _draw_period(rng, exposures[control], everyone, visit_prob, pre_days, share)
        if pre_days
        else np.zeros((len(user_ids), 4))
    )
    post = np.zeros((len(user_ids), 4))
    for b, n in enumerate(names):
        rows = np.flatnonzero(bucket_of == b)
        post[rows] = _draw_period(rng, exposures[n], rows, visit_prob, n_days, share)[rows]

    out = pd.DataFrame({USER: user_ids, "bucket": np.asarray(names, dtype=object)[bucket_of], "visit_prob": visit_prob})
    for j, m in enumerate(METRICS):
        out[m] = post[:, j] if m == "gmv" else post[:, j].astype(np.int64)
    for j, m in enumerate(METRICS):
        out[f"pre_{m}"] = pre[:, j] if m == "gmv" else pre[:, j].astype(np.int64)
    expected_visits = n_days * visit_prob
    expected = pd.concat(
        [
            pd.DataFrame(
                {
                    USER: user_ids,
                    "policy": n,
                    "visits": expected_visits,
                    **{
                        m: expected_visits * exposures[n].mean[:, j]
                        for j, m in enumerate(("clicks", "purchases", "gmv"))
                    },
                }
            )
            for n in names
        ],
        ignore_index=True,
    )
    params = dict(
        n_days=n_days, pre_days=pre_days, list_size=list_size, visit_rate=visit_rate, seed=seed, n_users=len(user_ids)
    )
    return ABTestResult(
        users=out,
        expected=expected,
        control=control,
        policies=[control] + [n for n in names if n != control],
        params=params,
    )


# ---------------------------------------------------------------------------
# Analysis
# ---------------------------------------------------------------------------
def _as_float(y: Any, name: str) -> np.ndarray:
    arr = np.asarray(y, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has missing or infinite values; drop or fill them first.")
    return arr


def _z(alpha: float) -> float:
    return float(stats.norm.ppf(1.0 - alpha / 2.0))


def difference_in_means(y: Any, bucket: Any, control: str, treatment: str, alpha: float = 0.05) -> dict[str, float]:
    """Lift of a per-user metric in ``treatment`` over ``control``, with Welch's interval.

    The absolute lift :math:`\\bar y_T - \\bar y_C` gets the unequal-variance (Welch) standard
    error :math:`\\sqrt{s_T^2/n_T + s_C^2/n_C}` and a normal-approximation interval and
    two-sided p-value (thousands of users per bucket: the t and normal quantiles agree).
    The relative lift :math:`\\bar y_T / \\bar y_C - 1` gets its standard error by the delta
    method, :math:`\\sqrt{s_T^2/(n_T \\bar y_C^2) + \\bar y_T^2 s_C^2/(n_C \\bar y_C^4)}`.

    Parameters
    ----------
    y : array-like
        The metric, one value per user.
    bucket : array-like
        Each user's bucket name, same length as ``y``.
    control, treatment : str
        The two buckets to compare.
    alpha : float, default 0.05
        1 - confidence level of the intervals.

    Returns
    -------
    dict
        ``control_mean, treatment_mean, n_control, n_treatment, lift, se, ci_low, ci_high,
        p_value, relative_lift, relative_se, relative_ci_low, relative_ci_high``.

    Examples
    --------
    >>> r = difference_in_means([1, 2, 3, 2, 4, 6], ["c"] * 3 + ["t"] * 3, "c", "t")
    >>> r["lift"], round(r["se"], 4)          # sqrt(1/3 + 4/3)
    (2.0, 1.291)
    """
    y = _as_float(y, "y")
    bucket = np.asarray(bucket)
    if bucket.shape != y.shape:
        raise ValueError(f"bucket must have one entry per value of y ({len(y)}), got shape {bucket.shape}.")
    alpha = check_number(alpha, "alpha", 0, 1, low_open=True, high_open=True)
    found = sorted(map(str, pd.unique(bucket)))
    groups = {}
    for role, name in (("control", control), ("treatment", treatment)):
        check_choice(str(name), role, found)
        g = y[bucket.astype(str) == str(name)]
        if len(g) < 2:
            raise ValueError(f"{role} bucket {name!r} has {len(g)} user(s); a variance needs at least 2.")
        groups[role] = g
    c, t = groups["control"], groups["treatment"]
    mc, mt_ = float(c.mean()), float(t.mean())
    vc, vt = float(c.var(ddof=1)) / len(c), float(t.var(ddof=1)) / len(t)
    se = float(np.sqrt(vc + vt))
    z = _z(alpha)
    lift = mt_ - mc
    p = float(2 * stats.norm.sf(abs(lift) / se)) if se > 0 else (1.0 if lift == 0 else 0.0)
    if mc != 0:
        rel = mt_ / mc - 1.0
        rel_se = float(np.sqrt(vt / mc**2 + mt_**2 * vc / mc**4))
    else:
        rel, rel_se = float("nan"), float("nan")
    return {
        "control_mean": mc,
        "treatment_mean": mt_,
        "n_control": int(len(c)),
        "n_treatment": int(len(t)),
        "lift": lift,
        "se": se,
        "ci_low": lift - z * se,
        "ci_high": lift + z * se,
        "p_value": p,
        "relative_lift": rel,
        "relative_se": rel_se,
        "relative_ci_low": rel - z * rel_se,
        "relative_ci_high": rel + z * rel_se,
    }


def cuped(y: Any, x: Any) -> CupedResult:
    """CUPED: reduce the variance of a metric with a pre-experiment covariate.

    Deng et al. (2013) replace :math:`y` by :math:`y - \\theta (x - \\bar x)` with
    :math:`\\theta = \\mathrm{cov}(x, y) / \\mathrm{var}(x)`. Because :math:`x` was measured
    before assignment, the adjustment has mean zero in every bucket, so the difference in
    means still estimates the same lift; its variance falls by the factor
    :math:`1 - \\rho^2`, :math:`\\rho` the correlation of :math:`x` and :math:`y`.

    Pass ``y`` and ``x`` of the compared buckets together: one :math:`\\theta` and one
    :math:`\\bar x` from the pooled data apply the same correction to every bucket. A
    separate :math:`\\theta` per bucket would let the treatment's effect on :math:`y` leak
    into the adjustment and bias the lift.

    Parameters
    ----------
    y : array-like
        The metric in the experiment period, one value per user.
    x : array-like
        The covariate, e.g. the same metric in the pre-period, same users and order.

    Returns
    -------
    CupedResult
        ``adjusted`` (numpy array), ``theta`` and ``variance_reduction`` (:math:`\\rho^2`,
        the share of the variance removed: ``1 - var(adjusted) / var(y)``).

    Examples
    --------
    >>> r = cuped([2, 4, 6, 9], [1, 2, 3, 4])
    >>> round(r.theta, 6)                     # cov 3.8333 / var 1.6667
    2.3
    >>> r.adjusted.round(2).tolist()          # y - 2.3 * (x - 2.5)
    [5.45, 5.15, 4.85, 5.55]
    >>> round(r.variance_reduction, 4)        # rho^2 = 3.8333^2 / (1.6667 * 8.9167)
    0.9888
    """
    y, x = _as_float(y, "y"), _as_float(x, "x")
    if len(x) != len(y):
        raise ValueError(f"x must have one value per value of y ({len(y)}), got {len(x)}.")
    if len(y) < 2:
        raise ValueError("cuped needs at least 2 users.")
    vx = float(x.var(ddof=1))
    if vx == 0:
        raise ValueError("x is constant, so it cannot explain any variance of y; pick a covariate that varies.")
    vy = float(y.var(ddof=1))
    cov = float(np.cov(x, y, ddof=1)[0, 1])
    theta = cov / vx
    reduction = cov**2 / (vx * vy) if vy > 0 else 0.0
    return CupedResult(y - theta * (x - x.mean()), float(theta), float(reduction))


def ab_summary(
    result: ABTestResult, metric: str = "purchases", *, covariate: str | None = None, alpha: float = 0.05
) -> pd.DataFrame:
    """One row per treatment: the estimated lift, its interval, and the true lift beside it.

    Parameters
    ----------
    result : ABTestResult
        From :func:`simulate_ab_test`.
    metric : str
        One of ``visits, clicks, purchases, gmv`` (per user, over the experiment period).
    covariate : str, optional
        A column of ``result.users`` (e.g. ``"pre_purchases"``): the metric is CUPED-adjusted
        with it before the comparison, by :func:`cuped` on the pooled users of the two buckets
        compared (control and that treatment). Pooling only those two keeps a third bucket
        with a very different response (an oracle, say) from setting everyone's ``theta``.
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        Index: treatment names. Columns: those of :func:`difference_in_means`, ``true_lift``,
        ``true_relative_lift``, ``covers_truth`` (the interval contains the true lift) and,
        with a covariate, ``theta`` and ``variance_reduction``.

    Examples
    --------
    >>> import mtrec_lib as mt, numpy as np, pandas as pd
    >>> shop = mt.data.simulate_shop(n_users=200, n_items=50, n_impressions=5_000, seed=0)
    >>> users = shop.users["user_id"].to_numpy()
    >>> lists = pd.DataFrame({"user_id": np.repeat(users, 3), "item_id": np.tile([0, 1, 2], len(users)),
    ...                       "rank": np.tile([1, 2, 3], len(users))})
    >>> res = simulate_ab_test(shop, {"A": lists, "B": lists}, list_size=3, seed=0)
    >>> row = ab_summary(res, "clicks", covariate="pre_clicks").loc["B"]
    >>> float(row["true_lift"]), bool(row["covers_truth"])
    (0.0, True)
    """
    check_choice(metric, "metric", list(METRICS))
    users = result.users
    if covariate is not None:
        check_choice(covariate, "covariate", [c for c in users.columns if c not in (USER, "bucket")])
    bucket = users["bucket"].to_numpy()
    rows = {}
    for t in result.policies[1:]:
        pair = (bucket == result.control) | (bucket == t)
        y = users.loc[pair, metric].to_numpy(dtype=float)
        extra: dict[str, float] = {}
        if covariate is not None:
            adj = cuped(y, users.loc[pair, covariate].to_numpy(dtype=float))
            y = adj.adjusted
            extra = {"theta": adj.theta, "variance_reduction": adj.variance_reduction}
        r = difference_in_means(y, bucket[pair], result.control, t, alpha=alpha)
        true = result.true_lift(metric, t)
        rows[t] = {
            **r,
            "true_lift": true["absolute"],
            "true_relative_lift": true["relative"],
            "covers_truth": bool(r["ci_low"] <= true["absolute"] <= r["ci_high"]),
            **extra,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


# ---------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------
def _check_power(alpha: float, power: float) -> tuple[float, float]:
    alpha = check_number(alpha, "alpha", 0, 1, low_open=True, high_open=True)
    power = check_number(power, "power", 0, 1, low_open=True, high_open=True)
    return alpha, power


def sample_size(sd: float, mde: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Users per bucket for a two-sided test of a difference in means.

    :math:`n = 2 (z_{1-\\alpha/2} + z_{\\text{power}})^2 \\sigma^2 / \\delta^2`, rounded up,
    for two equal buckets whose metric has standard deviation :math:`\\sigma` and a true lift
    :math:`\\delta` (the minimum detectable effect, MDE).

    Parameters
    ----------
    sd : float > 0
        Standard deviation of the per-user metric (e.g. from the pre-period).
    mde : float > 0
        The smallest absolute lift the test should detect.
    alpha : float, default 0.05
        False-positive rate of the test.
    power : float, default 0.8
        Probability to detect a lift of size ``mde``.

    Examples
    --------
    >>> sample_size(1.0, 0.1)                 # 2 * (1.96 + 0.8416)^2 / 0.01 = 1569.8
    1570
    >>> sample_size(2.0, 0.1)                 # twice the sd: four times the users
    6280
    """
    sd = check_number(sd, "sd", 0, None, low_open=True)
    mde = check_number(mde, "mde", 0, None, low_open=True)
    alpha, power = _check_power(alpha, power)
    z = _z(alpha) + float(stats.norm.ppf(power))
    n = 2.0 * z**2 * sd**2 / mde**2
    # Round away float noise before ceil: 1570.0000000001 must stay 1570.
    return int(np.ceil(round(n, 9)))


def minimum_detectable_effect(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest lift ``n`` users per bucket detect with the given power: the inverse of :func:`sample_size`.

    :math:`\\delta = (z_{1-\\alpha/2} + z_{\\text{power}})\\, \\sigma \\sqrt{2 / n}`.

    Examples
    --------
    >>> round(minimum_detectable_effect(1.0, 1570), 5)
    0.09999
    """
    sd = check_number(sd, "sd", 0, None, low_open=True)
    n = check_positive_int(n, "n", minimum=2)
    alpha, power = _check_power(alpha, power)
    return float((_z(alpha) + stats.norm.ppf(power)) * sd * np.sqrt(2.0 / n))


def sample_ratio_mismatch(bucket: Any, expected: Mapping[str, float] | None = None) -> dict[str, float]:
    """Chi-square test that the buckets have the planned sizes (a sample-ratio-mismatch check).

    A bucket that is too small or too large means the assignment or the logging is broken
    (e.g. a bot filter that drops more users on one side), and its metrics cannot be trusted.

    Parameters
    ----------
    bucket : array-like
        Each user's bucket.
    expected : mapping of str to float, optional
        Planned share of each bucket (normalised); default equal shares.

    Returns
    -------
    dict
        ``chi2``, ``p_value`` and the observed ``counts``.

    Examples
    --------
    >>> r = sample_ratio_mismatch(["A"] * 5000 + ["B"] * 5200)
    >>> round(r["chi2"], 3), round(r["p_value"], 4)
    (3.922, 0.0477)
    """
    bucket = np.asarray(bucket).astype(str)
    if bucket.ndim != 1 or len(bucket) == 0:
        raise ValueError("bucket must be a non-empty one-dimensional array of bucket names.")
    counts = pd.Series(bucket).value_counts().sort_index()
    if expected is None:
        shares = pd.Series(1.0, index=counts.index)
    else:
        shares = pd.Series({str(k): float(v) for k, v in expected.items()})
        unknown = sorted(set(counts.index) - set(shares.index))
        if unknown:
            raise KeyError(f"expected has no share for bucket(s) {unknown}; give every bucket a share.")
        if (shares <= 0).any() or not np.isfinite(shares).all():
            raise ValueError("expected: every share must be a positive number.")
        counts = counts.reindex(shares.index, fill_value=0)
    if len(counts) < 2:
        raise ValueError("bucket has a single bucket; a ratio needs at least two.")
    exp = shares / shares.sum() * counts.sum()
    chi2, p = stats.chisquare(counts.to_numpy(dtype=float), exp.to_numpy(dtype=float))
    return {"chi2": float(chi2), "p_value": float(p), "counts": {k: int(v) for k, v in counts.items()}}
