"""Simulated platforms: an e-commerce shop, a social feed and a media site.

All three simulators share one *world* (:func:`_world`): users and items with
latent interest factors and observable features, a Zipf-like item exposure
(the long tail, 长尾) and an activity-skewed user exposure. Each task (click,
purchase, like, watch time, ...) scores an impression by an *affinity*

.. math::

    a_t(u, i) = \\sqrt{\\rho}\\,\\langle s_u, s_i\\rangle
              + \\sqrt{1-\\rho}\\,\\langle t_u, t_i\\rangle ,

where $s$ are latent factors shared by all tasks, $t$ are factors specific to
task $t$ and $\\rho$ is ``task_relatedness``. Both inner products have unit
variance, so the correlation between two tasks' affinities is $\\rho$: at
$\\rho = 1$ the tasks want the same items, at $\\rho = 0$ they are unrelated.

What a platform would log goes to ``.data``; the probabilities that generated
the labels go to ``.truth`` (same row order and index), so a chapter can
measure a model's bias against the truth without the model ever seeing it.

Examples
--------
>>> import mtrec_lib as mt
>>> shop = mt.data.simulate_shop(n_users=200, n_items=50, n_impressions=5_000, seed=0)
>>> shop.data[["click", "purchase"]].sum().tolist()  # doctest: +SKIP
[207, 9]
>>> bool((shop.data["purchase"] <= shop.data["click"]).all())
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .validate import check_choice, check_number, check_positive_int

__all__ = ["SimulatedLog", "simulate_shop", "simulate_social", "simulate_media", "POSITION_POLICIES"]

# 2024-01-01 00:00:00 UTC: simulated logs start here so timestamps look like real Unix times.
_EPOCH = 1_704_067_200
_DAY = 86_400

_SEGMENTS = np.array(["bargain", "casual", "loyal", "premium"])
_SEGMENT_P = np.array([0.30, 0.40, 0.20, 0.10])
_DEVICES = np.array(["app", "mobile_web", "desktop"])
_DEVICE_P = np.array([0.55, 0.30, 0.15])


@dataclass
class SimulatedLog:
    """A simulated interaction log with its ground truth kept apart.

    Attributes
    ----------
    data : pandas.DataFrame
        What the platform logs, one row per impression: ids, position, time,
        observable user/item/context features and the observed labels.
    truth : pandas.DataFrame
        The probabilities that generated the labels, same index and row order as
        ``data``, and for the shop the position-free click probability
        ``p_click_at_top`` (the impression shown at position 1). Never give these
        columns to a model.
    users : pandas.DataFrame
        Observable user features, one row per user (``user_id`` first).
    items : pandas.DataFrame
        Observable item features, one row per item (``item_id`` first).
    params : dict
        The arguments the log was simulated with.
    latent : dict of numpy.ndarray
        Latent factors and affinities, for chapters that look under the hood.
    """

    data: pd.DataFrame
    truth: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)
    latent: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        labels = [c for c in self.truth.columns]
        return (
            f"SimulatedLog(data={self.data.shape[0]:,} rows x {self.data.shape[1]} cols, "
            f"users={len(self.users):,}, items={len(self.items):,}, truth={labels})"
        )


# --------------------------------------------------------------------------- helpers
def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _calibrate_intercept(
    logits: np.ndarray, target: float, weights: np.ndarray | None = None
) -> float:
    """Return b such that the (weighted) mean of sigmoid(logits + b) equals ``target``.

    Bisection on a monotone function: deterministic and exact to ~1e-12, so the
    base rates are the ones asked for whatever the other knobs do.
    """
    lo, hi = -30.0, 30.0
    w = None if weights is None else weights / weights.sum()
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        p = _sigmoid(logits + mid)
        mean = p.mean() if w is None else float(w @ p)
        if mean < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _check_unit(value: float, name: str, low: float = 0.0, high: float = 1.0) -> float:
    return check_number(value, name, low, high)


def _check_rate(value: float, name: str) -> float:
    return check_number(value, name, 0.0, 1.0, low_open=True, high_open=True)


def _check_seed(seed: int) -> int:
    return check_positive_int(seed, "seed", minimum=0)


@dataclass
class _World:
    """Users, items and their latent factors; shared by every simulator."""

    users: pd.DataFrame
    items: pd.DataFrame
    user_shared: np.ndarray
    item_shared: np.ndarray
    user_task: dict[str, np.ndarray]
    item_task: dict[str, np.ndarray]
    user_weight: np.ndarray  # probability that an impression goes to each user
    item_weight: np.ndarray  # probability that an impression shows each item (Zipf-like)
    item_quality: np.ndarray  # latent quality; the observable popularity is a noisy echo of it
    user_group: np.ndarray  # index of the user's segment
    item_group: np.ndarray  # index of the item's category

    def affinity(self, task: str, u: np.ndarray, i: np.ndarray, relatedness: float) -> np.ndarray:
        """Unit-variance affinity of users ``u`` for items ``i`` under ``task``."""
        shared = np.einsum("nk,nk->n", self.user_shared[u], self.item_shared[i])
        own = np.einsum("nk,nk->n", self.user_task[task][u], self.item_task[task][i])
        return np.sqrt(relatedness) * shared + np.sqrt(1.0 - relatedness) * own


def _factors(rng: np.random.Generator, centroids: np.ndarray, groups: np.ndarray,
             group_share: float) -> np.ndarray:
    """Latent vectors = a group centroid (observable group) + individual noise.

    Entries have variance 1/sqrt(k) so the inner product of two independent vectors
    has variance 1 (k * (1/sqrt(k))**2).
    """
    k = centroids.shape[1]
    noise = rng.normal(0.0, 1.0, size=(len(groups), k))
    z = np.sqrt(group_share) * centroids[groups] + np.sqrt(1.0 - group_share) * noise
    return z * k ** -0.25


def _world(
    rng: np.random.Generator,
    n_users: int,
    n_items: int,
    tasks: tuple[str, ...],
    *,
    n_factors: int = 8,
    categories: tuple[str, ...],
    popularity_exponent: float = 1.0,
    activity_sigma: float = 1.0,
) -> _World:
    """Build users and items with latent factors and observable features.

    The observable features are noisy views of the latent world, so a model can
    learn from them: a user's segment shifts their interests, an item's category
    shifts its factors, and the logged popularity follows latent quality.
    """
    k = n_factors
    n_cat = len(categories)
    # --- users: segment (categorical), age (int), activity (numeric, heavy-tailed)
    seg = rng.choice(len(_SEGMENTS), size=n_users, p=_SEGMENT_P)
    seg_centroids = rng.normal(size=(len(_SEGMENTS), k))
    user_shared = _factors(rng, seg_centroids, seg, group_share=0.3)
    age = np.clip(np.round(rng.normal(36, 12, size=n_users)), 18, 75).astype(np.int64)
    activity = np.exp(rng.normal(0.0, activity_sigma, size=n_users))
    activity *= np.array([1.0, 0.8, 1.6, 1.2])[seg]  # loyal users come back more often
    # --- items: category (categorical), latent quality, Zipf exposure by quality rank
    cat = rng.choice(n_cat, size=n_items)
    cat_centroids = rng.normal(size=(n_cat, k))
    item_shared = _factors(rng, cat_centroids, cat, group_share=0.5)
    quality = rng.normal(size=n_items)
    # Better items get shown more, but not perfectly: rank by a noisy quality score.
    rank = np.argsort(np.argsort(-(quality + rng.normal(0.0, 1.0, size=n_items))))
    item_weight = 1.0 / (rank + 1.0) ** popularity_exponent
    item_weight /= item_weight.sum()
    user_weight = activity / activity.sum()
    # Task-specific factors: fresh noise, with the same group structure as the shared ones.
    user_task, item_task = {}, {}
    for t in tasks:
        user_task[t] = _factors(rng, rng.normal(size=(len(_SEGMENTS), k)), seg, 0.3)
        item_task[t] = _factors(rng, rng.normal(size=(n_cat, k)), cat, 0.5)
    # Logged popularity: views in the month before the log starts (a Poisson echo of exposure).
    views = rng.poisson(item_weight * 50.0 * n_items * 20).astype(np.int64)
    users = pd.DataFrame({
        "user_id": np.arange(n_users, dtype=np.int64),
        "segment": pd.array(_SEGMENTS[seg], dtype="str"),
        "age": age,
        "activity": np.round(activity, 2),
    })
    items = pd.DataFrame({
        "item_id": np.arange(n_items, dtype=np.int64),
        "category": pd.array(np.asarray(categories)[cat], dtype="str"),
        "popularity": views,
    })
    return _World(users, items, user_shared, item_shared, user_task, item_task,
                  user_weight, item_weight, quality, seg, cat)


def _impressions(rng: np.random.Generator, world: _World, n: int, n_days: int,
                 n_positions: int) -> dict[str, np.ndarray]:
    """Draw who saw what, when, where on the page and on which device."""
    u = rng.choice(len(world.user_weight), size=n, p=world.user_weight)
    i = rng.choice(len(world.item_weight), size=n, p=world.item_weight)
    ts = _EPOCH + rng.integers(0, n_days * _DAY, size=n)
    position = rng.integers(1, n_positions + 1, size=n)
    device = rng.choice(len(_DEVICES), size=n, p=_DEVICE_P)
    order = np.argsort(ts, kind="stable")  # a log is written in time order
    return {"u": u[order], "i": i[order], "timestamp": ts[order],
            "position": position[order], "device": device[order]}


def _frame(world: _World, imp: dict[str, np.ndarray], item_cols: list[str]) -> pd.DataFrame:
    """The observable columns every simulator logs, user and item features joined in."""
    u, i = imp["u"], imp["i"]
    df = pd.DataFrame({
        "user_id": u.astype(np.int64),
        "item_id": i.astype(np.int64),
        "timestamp": imp["timestamp"].astype(np.int64),
        "day": ((imp["timestamp"] - _EPOCH) // _DAY).astype(np.int64),
        "position": imp["position"].astype(np.int64),
        "device": pd.array(_DEVICES[imp["device"]], dtype="str"),
    })
    for col in ("segment", "age", "activity"):
        df[f"user_{col}"] = world.users[col].to_numpy()[u]
    for col in item_cols:
        df[f"item_{col}"] = world.items[col].to_numpy()[i]
    for col in df.columns:  # keep string columns as pandas' str dtype after numpy indexing
        if pd.api.types.is_object_dtype(df[col]):
            df[col] = df[col].astype("str")
    return df


def _position_effect(position: np.ndarray, position_bias: float) -> np.ndarray:
    # Examination falls with rank; log2 as in DCG: position 1 -> 0, position 8 -> -3*bias.
    return -position_bias * np.log2(position)


#: How ``simulate_shop`` assigns list positions (``position_policy``).
POSITION_POLICIES = ("random", "relevance")


def _ranked_positions(rng: np.random.Generator, user: np.ndarray, score: np.ndarray,
                      n_positions: int, noise: float) -> np.ndarray:
    """Positions written by a logging policy that ranks what it believes relevant first.

    The log (already in time order) is cut into pages: each user's consecutive
    impressions, ``n_positions`` at a time. Within a page the policy sorts by
    ``score`` (standardised) plus Gaussian noise of standard deviation ``noise``
    and shows the best at position 1. ``noise=0`` ranks by true relevance (the
    strongest confounding of position and relevance); as ``noise`` grows the
    positions approach random ones. A user's last page may be short, so it only
    fills the top positions.
    """
    z = (score - score.mean()) / (score.std() + 1e-12)
    noisy = z + noise * rng.normal(0.0, 1.0, size=len(z))
    frame = pd.DataFrame({"user": user, "noisy": noisy})
    page = frame.groupby("user", sort=False).cumcount().to_numpy() // n_positions
    frame["page"] = page
    # rank 1 = highest noisy score on the page; "first" breaks (measure-zero) ties by row order
    rank = frame.groupby(["user", "page"], sort=False)["noisy"].rank(ascending=False, method="first")
    return rank.to_numpy().astype(np.int64)


# --------------------------------------------------------------------------- shop
_SHOP_CATEGORIES = ("electronics", "fashion", "home", "beauty", "sports", "books", "toys", "grocery")
_SHOP_PRICE = np.array([150.0, 40.0, 60.0, 25.0, 50.0, 15.0, 30.0, 8.0])  # median price per category
_PRICE_BANDS = np.array(["low", "mid", "high"])
_PRICE_EDGES = np.array([20.0, 80.0])  # low < 20 <= mid < 80 <= high
_PRICE_SENSITIVITY = np.array([1.0, 0.6, 0.4, 0.1])  # bargain, casual, loyal, premium
_SEGMENT_BUY = np.array([-0.2, 0.0, 0.4, 0.2])
_DEVICE_CLICK = np.array([0.2, 0.0, -0.1])
_DEVICE_BUY = np.array([0.0, -0.3, 0.2])


def simulate_shop(
    n_users: int = 2000,
    n_items: int = 500,
    n_impressions: int = 100_000,
    seed: int = 0,
    task_relatedness: float = 0.7,
    click_selectivity: float = 1.5,
    *,
    ctr: float = 0.04,
    cvr: float = 0.05,
    position_bias: float = 0.5,
    popularity_exponent: float = 1.0,
    n_factors: int = 8,
    n_days: int = 30,
    n_positions: int = 10,
    position_policy: str = "random",
    position_noise: float = 1.0,
) -> SimulatedLog:
    """Simulate an e-commerce impression log: click, then maybe purchase.

    Each impression shows one item to one user at a list position. The user
    clicks with probability ``p_click`` and, only after a click, buys with
    probability ``p_purchase_given_click`` (the click -> purchase funnel that
    ESMM models). Both come from logistic models of latent affinities plus
    observable effects (position, device, price, segment, item quality).

    Parameters
    ----------
    n_users, n_items, n_impressions : int
        Size of the world and of the log.
    seed : int
        Seed of ``np.random.default_rng``; the same seed gives the same frames.
    task_relatedness : float in [0, 1], default 0.7
        Correlation between the click affinity and the purchase affinity
        (shared vs task-specific latent factors). 1: users click what they buy;
        0: clicking tells nothing about buying (beyond observable features).
    click_selectivity : float >= 0, default 1.5
        Weight of the click affinity in the click logit. At 0 users click at
        random (position aside), so clicked impressions look like all
        impressions. The larger it is (and the more related the tasks), the
        more the clicked population differs from the impression population in
        its purchase propensity: the sample-selection bias (样本选择偏差) that
        a conversion model trained on clicks only suffers from.
    ctr : float, default 0.04
        Target click-through rate: the click intercept is calibrated so the
        mean ``p_click`` over the log equals it.
    cvr : float, default 0.05
        Target conversion rate after a click:
        ``sum(p_click * p_purchase_given_click) / sum(p_click)``.
    position_bias : float, default 0.5
        Click logit falls by ``position_bias * log2(position)`` (position bias,
        位置偏差: lower slots are examined less, whatever their relevance).
        ``.truth["p_click_at_top"]`` is the click probability of the same
        impression shown at position 1, where this term is 0.
    popularity_exponent : float, default 1.0
        Item exposure is proportional to ``1 / rank**popularity_exponent``
        (Zipf); 1.0 puts about three quarters of the impressions on the top 20%
        of items.
    n_factors : int, default 8
        Dimension of each latent factor vector.
    n_days : int, default 30
        The log spans this many days from 2024-01-01 UTC.
    n_positions : int, default 10
        Slots in the recommendation list; positions are 1-based.
    position_policy : {"random", "relevance"}, default "random"
        How the logging policy places impressions in the list. ``"random"``:
        uniformly at random, independent of the item, so position and relevance
        are unrelated. ``"relevance"``: like a real ranker, it puts what it
        believes relevant on top. The log is cut into pages (each user's
        consecutive impressions, ``n_positions`` at a time) and each page is
        sorted by the position-free click logit plus noise, so position and
        relevance are confounded. Everything else (users, items, who saw what,
        when, on which device, and the uniform draws behind the labels) is the
        same as with ``"random"`` for the same seed; only positions, and hence
        probabilities and labels, differ.
    position_noise : float >= 0, default 1.0
        Only with ``position_policy="relevance"``: the standard deviation of the
        Gaussian noise added to the standardised click logit before ranking.
        0 ranks by true relevance (strongest confounding); large values tend
        to random positions.

    Returns
    -------
    SimulatedLog
        ``.data`` columns: ``user_id, item_id, timestamp, day, position, device,
        user_segment, user_age, user_activity, item_category, item_price,
        item_price_band, item_popularity, click, purchase``.
        ``.truth`` columns: ``p_click, p_purchase_given_click, p_purchase,
        p_click_at_top`` (the last: the click probability at position 1, i.e.
        the position-free relevance; ``p_click`` is it at the logged position).
        ``.users``: ``user_id, segment, age, activity``.
        ``.items``: ``item_id, category, price, price_band, popularity``.

    Examples
    --------
    >>> import mtrec_lib as mt
    >>> shop = mt.data.simulate_shop(n_users=500, n_items=100, n_impressions=20_000, seed=1)
    >>> round(float(shop.data["click"].mean()), 2), round(float(shop.truth["p_click"].mean()), 2)
    (0.04, 0.04)
    >>> list(shop.truth.columns)
    ['p_click', 'p_purchase_given_click', 'p_purchase', 'p_click_at_top']
    >>> bool((shop.truth["p_click_at_top"] >= shop.truth["p_click"]).all())  # position 1 is the best slot
    True

    A ranked log puts relevant items on top, so the top slot's clicks mix
    position and relevance:

    >>> ranked = mt.data.simulate_shop(n_users=500, n_items=100, n_impressions=20_000, seed=1,
    ...                                position_policy="relevance", position_noise=0.5)
    >>> t, d = ranked.truth, ranked.data
    >>> bool(t.loc[d["position"] == 1, "p_click_at_top"].mean() > t.loc[d["position"] == 10, "p_click_at_top"].mean())
    True
    """
    n_users = check_positive_int(n_users, "n_users")
    n_items = check_positive_int(n_items, "n_items")
    n_impressions = check_positive_int(n_impressions, "n_impressions")
    seed = _check_seed(seed)
    rho = _check_unit(task_relatedness, "task_relatedness")
    sel = _check_unit(click_selectivity, "click_selectivity", 0.0, 10.0)
    ctr, cvr = _check_rate(ctr, "ctr"), _check_rate(cvr, "cvr")
    position_bias = _check_unit(position_bias, "position_bias", 0.0, 5.0)
    popularity_exponent = _check_unit(popularity_exponent, "popularity_exponent", 0.0, 3.0)
    n_factors = check_positive_int(n_factors, "n_factors")
    n_days = check_positive_int(n_days, "n_days")
    n_positions = check_positive_int(n_positions, "n_positions")
    position_policy = check_choice(position_policy, "position_policy", POSITION_POLICIES)
    position_noise = check_number(position_noise, "position_noise", 0.0, 100.0)
    params = dict(n_users=n_users, n_items=n_items, n_impressions=n_impressions, seed=seed,
                  task_relatedness=rho, click_selectivity=sel, ctr=ctr, cvr=cvr,
                  position_bias=position_bias, popularity_exponent=popularity_exponent,
                  n_factors=n_factors, n_days=n_days, n_positions=n_positions,
                  position_policy=position_policy, position_noise=position_noise)

    rng = np.random.default_rng(seed)
    world = _world(rng, n_users, n_items, ("click", "purchase"), n_factors=n_factors,
                   categories=_SHOP_CATEGORIES, popularity_exponent=popularity_exponent)
    # Shop-specific item features: price (log-normal around the category median) and band.
    price = np.round(_SHOP_PRICE[world.item_group] * np.exp(rng.normal(0.0, 0.5, n_items)), 2)
    price = np.maximum(price, 0.99)
    world.items["price"] = price
    world.items["price_band"] = pd.array(_PRICE_BANDS[np.searchsorted(_PRICE_EDGES, price, "right")],
                                         dtype="str")
    world.items = world.items[["item_id", "category", "price", "price_band", "popularity"]]

    imp = _impressions(rng, world, n_impressions, n_days, n_positions)
    u, i = imp["u"], imp["i"]
    aff_click = world.affinity("click", u, i, rho)
    aff_buy = world.affinity("purchase", u, i, rho)
    quality = world.item_quality[i]
    seg = world.user_group[u]
    log_price = np.log(price)[i]
    log_price_z = (log_price - np.log(price).mean()) / (np.log(price).std() + 1e-12)

    relevance = sel * aff_click + 0.3 * quality + _DEVICE_CLICK[imp["device"]]  # position-free
    if position_policy == "relevance":
        # A separate stream, so that the "random" log and every other draw stay as they were.
        policy_rng = np.random.default_rng([seed, 1])
        imp["position"] = _ranked_positions(policy_rng, u, relevance, n_positions, position_noise)
    position_term = _position_effect(imp["position"], position_bias)
    click_logit = (sel * aff_click + 0.3 * quality
                   + position_term + _DEVICE_CLICK[imp["device"]])
    buy_logit = (1.5 * aff_buy + 0.5 * quality + _SEGMENT_BUY[seg]
                 - _PRICE_SENSITIVITY[seg] * log_price_z + _DEVICE_BUY[imp["device"]])
    click_logit += _calibrate_intercept(click_logit, ctr)
    p_click = _sigmoid(click_logit)
    buy_logit += _calibrate_intercept(buy_logit, cvr, weights=p_click)
    p_cvr = _sigmoid(buy_logit)

    click = (rng.random(n_impressions) < p_click).astype(np.int64)
    # Purchase is drawn for every row but observed only after a click: the funnel.
    purchase = (click * (rng.random(n_impressions) < p_cvr)).astype(np.int64)

    data = _frame(world, imp, ["category", "price", "price_band", "popularity"])
    data["click"] = click
    data["purchase"] = purchase
    truth = pd.DataFrame({"p_click": p_click, "p_purchase_given_click": p_cvr,
                          "p_purchase": p_click * p_cvr,
                          # the same impression at position 1, where the position term is 0
                          "p_click_at_top": _sigmoid(click_logit - position_term)}, index=data.index)
    latent = {"user_shared": world.user_shared, "item_shared": world.item_shared,
              **{f"user_{t}": world.user_task[t] for t in world.user_task},
              **{f"item_{t}": world.item_task[t] for t in world.item_task},
              "item_quality": world.item_quality,
              "affinity_click": aff_click, "affinity_purchase": aff_buy}
    return SimulatedLog(data=data, truth=truth, users=world.users, items=world.items,
                        params=params, latent=latent)


# --------------------------------------------------------------------------- social
_SOCIAL_TOPICS = ("news", "sports", "music", "food", "travel", "tech", "humor", "fashion")
_POST_TYPES = np.array(["text", "image", "video"])
_POST_TYPE_P = np.array([0.3, 0.5, 0.2])


def simulate_social(
    n_users: int = 2000,
    n_items: int = 1000,
    n_impressions: int = 100_000,
    seed: int = 0,
    task_relatedness: float = 0.6,
    *,
    like_rate: float = 0.06,
    comment_rate: float = 0.01,
    share_rate: float = 0.005,
    position_bias: float = 0.3,
    popularity_exponent: float = 1.0,
    n_factors: int = 8,
    n_days: int = 30,
    n_positions: int = 20,
) -> SimulatedLog:
    """Simulate a social feed: each shown post may be liked, commented on, shared.

    Same world as :func:`simulate_shop` (users, items = posts, shared and
    task-specific latent factors); three binary tasks drawn independently given
    their probabilities, each calibrated to its base rate.

    Parameters
    ----------
    task_relatedness : float in [0, 1], default 0.6
        Correlation between any two tasks' affinities.
    like_rate, comment_rate, share_rate : float
        Target mean probabilities of the three tasks.
    Other parameters
        As in :func:`simulate_shop`.

    Returns
    -------
    SimulatedLog
        ``.data`` columns: ``user_id, item_id, timestamp, day, position, device,
        user_segment, user_age, user_activity, item_topic, item_type,
        item_popularity, like, comment, share``; ``.truth``: ``p_like,
        p_comment, p_share``.

    Examples
    --------
    >>> import mtrec_lib as mt
    >>> feed = mt.data.simulate_social(n_users=300, n_items=100, n_impressions=10_000, seed=0)
    >>> list(feed.truth.columns)
    ['p_like', 'p_comment', 'p_share']
    """
    n_users = check_positive_int(n_users, "n_users")
    n_items = check_positive_int(n_items, "n_items")
    n_impressions = check_positive_int(n_impressions, "n_impressions")
    seed = _check_seed(seed)
    rho = _check_unit(task_relatedness, "task_relatedness")
    rates = {"like": _check_rate(like_rate, "like_rate"),
             "comment": _check_rate(comment_rate, "comment_rate"),
             "share": _check_rate(share_rate, "share_rate")}
    position_bias = _check_unit(position_bias, "position_bias", 0.0, 5.0)
    popularity_exponent = _check_unit(popularity_exponent, "popularity_exponent", 0.0, 3.0)
    params = dict(n_users=n_users, n_items=n_items, n_impressions=n_impressions, seed=seed,
                  task_relatedness=rho, **{f"{t}_rate": r for t, r in rates.items()},
                  position_bias=position_bias, popularity_exponent=popularity_exponent,
                  n_factors=n_factors, n_days=n_days, n_positions=n_positions)
    rng = np.random.default_rng(seed)
    world = _world(rng, n_users, n_items, tuple(rates), n_factors=check_positive_int(n_factors, "n_factors"),
                   categories=_SOCIAL_TOPICS, popularity_exponent=popularity_exponent)
    ptype = rng.choice(len(_POST_TYPES), size=n_items, p=_POST_TYPE_P)
    world.items = world.items.rename(columns={"category": "topic"})
    world.items["type"] = pd.array(_POST_TYPES[ptype], dtype="str")
    world.items = world.items[["item_id", "topic", "type", "popularity"]]
    imp = _impressions(rng, world, n_impressions, check_positive_int(n_days, "n_days"),
                       check_positive_int(n_positions, "n_positions"))
    u, i = imp["u"], imp["i"]
    quality = world.item_quality[i]
    # Videos get liked and shared more, text gets commented on more.
    type_effect = {"like": np.array([-0.2, 0.0, 0.3]), "comment": np.array([0.4, 0.0, -0.2]),
                   "share": np.array([-0.3, 0.0, 0.4])}
    data = _frame(world, imp, ["topic", "type", "popularity"])
    truth = {}
    latent: dict[str, np.ndarray] = {"user_shared": world.user_shared,
                                     "item_shared": world.item_shared}
    for t, rate in rates.items():
        aff = world.affinity(t, u, i, rho)
        logit = (1.5 * aff + 0.4 * quality + type_effect[t][ptype[i]]
                 + _position_effect(imp["position"], position_bias))
        p = _sigmoid(logit + _calibrate_intercept(logit, rate))
        truth[f"p_{t}"] = p
        latent[f"affinity_{t}"] = aff
    for t in rates:  # draw labels after all probabilities, in a fixed order
        data[t] = (rng.random(n_impressions) < truth[f"p_{t}"]).astype(np.int64)
    return SimulatedLog(data=data, truth=pd.DataFrame(truth, index=data.index),
                        users=world.users, items=world.items, params=params, latent=latent)


# --------------------------------------------------------------------------- media
_MEDIA_GENRES = ("drama", "comedy", "documentary", "kids", "sports", "music", "news", "thriller")
_MEDIA_LENGTH = np.array([45.0, 25.0, 50.0, 15.0, 20.0, 5.0, 8.0, 50.0])  # median minutes


def simulate_media(
    n_users: int = 2000,
    n_items: int = 500,
    n_impressions: int = 100_000,
    seed: int = 0,
    task_relatedness: float = 0.5,
    click_selectivity: float = 1.5,
    *,
    ctr: float = 0.08,
    mean_watch_fraction: float = 0.45,
    position_bias: float = 0.5,
    popularity_exponent: float = 1.0,
    n_factors: int = 8,
    n_days: int = 30,
    n_positions: int = 10,
) -> SimulatedLog:
    """Simulate a video site: click (binary) and then watch time (regression).

    Same world as :func:`simulate_shop`. After a click the user watches a
    fraction of the video drawn from a Beta distribution whose mean
    ``expected_watch_fraction`` follows the watch affinity; ``watch_time`` is in
    minutes and is 0 without a click (observed only after a click, like a
    purchase).

    Parameters
    ----------
    task_relatedness : float in [0, 1], default 0.5
        Correlation between the click affinity and the watch affinity. Low
        values model click-bait: items people click but do not watch.
    click_selectivity : float, default 1.5
        As in :func:`simulate_shop`.
    ctr : float, default 0.08
        Target mean click probability.
    mean_watch_fraction : float, default 0.45
        Target mean expected watch fraction over clicked impressions.
    Other parameters
        As in :func:`simulate_shop`.

    Returns
    -------
    SimulatedLog
        ``.data`` columns: ``user_id, item_id, timestamp, day, position, device,
        user_segment, user_age, user_activity, item_genre, item_duration,
        item_popularity, click, watch_time``; ``.truth``: ``p_click,
        expected_watch_fraction, expected_watch_time_given_click``.

    Examples
    --------
    >>> import mtrec_lib as mt
    >>> media = mt.data.simulate_media(n_users=300, n_items=100, n_impressions=10_000, seed=0)
    >>> bool(((media.data["click"] == 0) <= (media.data["watch_time"] == 0)).all())
    True
    """
    n_users = check_positive_int(n_users, "n_users")
    n_items = check_positive_int(n_items, "n_items")
    n_impressions = check_positive_int(n_impressions, "n_impressions")
    seed = _check_seed(seed)
    rho = _check_unit(task_relatedness, "task_relatedness")
    sel = _check_unit(click_selectivity, "click_selectivity", 0.0, 10.0)
    ctr = _check_rate(ctr, "ctr")
    mwf = _check_rate(mean_watch_fraction, "mean_watch_fraction")
    position_bias = _check_unit(position_bias, "position_bias", 0.0, 5.0)
    popularity_exponent = _check_unit(popularity_exponent, "popularity_exponent", 0.0, 3.0)
    params = dict(n_users=n_users, n_items=n_items, n_impressions=n_impressions, seed=seed,
                  task_relatedness=rho, click_selectivity=sel, ctr=ctr,
                  mean_watch_fraction=mwf, position_bias=position_bias,
                  popularity_exponent=popularity_exponent, n_factors=n_factors,
                  n_days=n_days, n_positions=n_positions)
    rng = np.random.default_rng(seed)
    world = _world(rng, n_users, n_items, ("click", "watch"),
                   n_factors=check_positive_int(n_factors, "n_factors"),
                   categories=_MEDIA_GENRES, popularity_exponent=popularity_exponent)
    duration = np.round(_MEDIA_LENGTH[world.item_group] * np.exp(rng.normal(0, 0.4, n_items)), 1)
    duration = np.maximum(duration, 0.5)
    world.items = world.items.rename(columns={"category": "genre"})
    world.items["duration"] = duration
    world.items = world.items[["item_id", "genre", "duration", "popularity"]]
    imp = _impressions(rng, world, n_impressions, check_positive_int(n_days, "n_days"),
                       check_positive_int(n_positions, "n_positions"))
    u, i = imp["u"], imp["i"]
    quality = world.item_quality[i]
    aff_click = world.affinity("click", u, i, rho)
    aff_watch = world.affinity("watch", u, i, rho)
    click_logit = (sel * aff_click + 0.3 * quality
                   + _position_effect(imp["position"], position_bias) + _DEVICE_CLICK[imp["device"]])
    click_logit += _calibrate_intercept(click_logit, ctr)
    p_click = _sigmoid(click_logit)
    # Long videos are watched to a smaller fraction.
    watch_logit = 1.2 * aff_watch + 0.4 * quality - 0.4 * np.log(duration[i] / 20.0)
    watch_logit += _calibrate_intercept(watch_logit, mwf, weights=p_click)
    frac_mean = _sigmoid(watch_logit)
    click = (rng.random(n_impressions) < p_click).astype(np.int64)
    concentration = 4.0
    frac = rng.beta(frac_mean * concentration, (1.0 - frac_mean) * concentration)
    watch_time = np.round(click * frac * duration[i], 2)
    data = _frame(world, imp, ["genre", "duration", "popularity"])
    data["click"] = click
    data["watch_time"] = watch_time
    truth = pd.DataFrame({"p_click": p_click, "expected_watch_fraction": frac_mean,
                          "expected_watch_time_given_click": frac_mean * duration[i]},
                         index=data.index)
    latent = {"user_shared": world.user_shared, "item_shared": world.item_shared,
              "item_quality": world.item_quality,
              "affinity_click": aff_click, "affinity_watch": aff_watch}
    return SimulatedLog(data=data, truth=truth, users=world.users, items=world.items,
                        params=params, latent=latent)
