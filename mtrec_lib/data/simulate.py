"""Simulated platforms: an e-commerce shop, a social feed and a media site.

All three simulators share one population (:func:`_population`): users and
items with latent interest factors and observable features, a Zipf-like item
exposure (the long tail, 长尾) and an activity-skewed user exposure. Each task
(click, purchase, like, watch time, ...) scores an impression by an *affinity*

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
``.world`` is the probability model itself (:class:`ShopWorld`,
:class:`SocialWorld`, :class:`MediaWorld`): the simulator computes ``.truth``
through it, and it scores *any* (user, item) pair at any position, so it is
also the oracle that recommendation lists are measured against.

Examples
--------
>>> import mtrec_lib as mt
>>> shop = mt.data.simulate_shop(n_users=200, n_items=50, n_impressions=5_000, seed=0)
>>> shop.data[["click", "purchase"]].sum().tolist()  # doctest: +SKIP
[207, 9]
>>> bool((shop.data["purchase"] <= shop.data["click"]).all())
True
>>> p = shop.world.probabilities([7, 7], [3, 3], position=[1, 5])   # never logged? no matter
>>> bool(p.loc[0, "p_click"] > p.loc[1, "p_click"])                  # the top slot is examined more
True
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .validate import check_choice, check_number, check_positive_int

__all__ = [
    "SimulatedLog",
    "SimulatedWorld",
    "ShopWorld",
    "SocialWorld",
    "MediaWorld",
    "simulate_shop",
    "simulate_social",
    "simulate_media",
    "POSITION_POLICIES",
]

# 2024-01-01 00:00:00 UTC: simulated logs start here so timestamps look like real Unix times.
_EPOCH = 1_704_067_200
_DAY = 86_400

_SEGMENTS = np.array(["bargain", "casual", "loyal", "premium"])
_SEGMENT_P = np.array([0.30, 0.40, 0.20, 0.10])
_DEVICES = np.array(["app", "mobile_web", "desktop"])
_DEVICE_P = np.array([0.55, 0.30, 0.15])


# --------------------------------------------------------------------------- the probability model
@dataclass(frozen=True, eq=False, kw_only=True)
class SimulatedWorld:
    """The probability model a simulator draws its labels from, for any (user, item) pair.

    A simulator builds one world, computes its logged ``.truth`` through it and returns it
    as ``.world``. Because the world holds the latent factors of *every* user and item, it
    also scores pairs that were never logged, at any list position and on any device: the
    ground truth against which recommendation lists are measured.

    Attributes
    ----------
    user_shared, item_shared : numpy.ndarray
        Latent factors shared by all tasks, one row per user / item id.
    user_task, item_task : dict of numpy.ndarray
        Each task's own latent factors.
    item_quality : numpy.ndarray
        Latent item quality.
    task_relatedness : float
        :math:`\\rho` of the affinity.
    position_bias : float
        Logits fall by ``position_bias * log2(position)``.
    device_share : pandas.Series
        Share of the logged impressions per device (index: device names, sorted);
        :meth:`probabilities` averages over it when no device is given.
    intercepts : dict of str to float
        Each task's intercept, calibrated on the log to the simulator's base rates.
    """

    user_shared: np.ndarray = field(repr=False)
    item_shared: np.ndarray = field(repr=False)
    user_task: dict[str, np.ndarray] = field(repr=False)
    item_task: dict[str, np.ndarray] = field(repr=False)
    item_quality: np.ndarray = field(repr=False)
    task_relatedness: float
    position_bias: float
    device_share: pd.Series = field(repr=False)
    intercepts: dict[str, float]

    #: Conditional columns of :meth:`_at` -> the probability they are conditional on
    #: (averaged over devices weighted by it).
    _GIVEN: ClassVar[dict[str, str]] = {}

    def probabilities(self, users: Any, items: Any, position: Any = 1, device: Any = None) -> pd.DataFrame:
        """The true probabilities of each (user, item) pair shown at ``position`` on ``device``.

        Parameters
        ----------
        users, items : array-like of int
            Ids of the world (``0 .. n_users - 1`` and ``0 .. n_items - 1``), one per pair.
        position : int or array-like, default 1
            List position(s) of the pairs, 1-based (1 = top).
        device : str, array-like of str or None, default None
            Device of each impression (``"app"``, ``"mobile_web"``, ``"desktop"``). ``None``
            averages over the logged device mix: probabilities of events are averaged,
            conditional ones (e.g. ``p_purchase_given_click``) are the ratio of the averaged
            joint and condition probabilities.

        Returns
        -------
        pandas.DataFrame
            One row per pair (index of ``users`` if it is a Series), one column per
            quantity of the simulator's ``.truth`` (without ``p_click_at_top``, which is
            ``p_click`` at ``position=1``).

        Raises
        ------
        ValueError
            An id outside the world, lengths that differ, a position below 1 or an
            unknown device.

        Examples
        --------
        >>> import mtrec_lib as mt
        >>> shop = mt.data.simulate_shop(n_users=50, n_items=20, n_impressions=2_000, seed=0)
        >>> d = shop.data.head(3)
        >>> p = shop.world.probabilities(d["user_id"], d["item_id"], d["position"], d["device"])
        >>> bool((p == shop.truth[p.columns].head(3)).all().all())   # the log was drawn from it
        True
        >>> list(shop.world.probabilities([0], [5]).columns)
        ['p_click', 'p_purchase_given_click', 'p_purchase']
        """
        u = _ids(users, "users", "user_id", len(self.user_shared))
        i = _ids(items, "items", "item_id", len(self.item_shared))
        if len(u) != len(i):
            raise ValueError(f"users and items must pair up: {len(u)} users for {len(i)} items.")
        pos = _broadcast(position, len(u), "position", float)
        if pos.size and not (np.isfinite(pos).all() and pos.min() >= 1):
            raise ValueError("position: list positions are 1-based; give numbers >= 1 (1 = top slot).")
        index = users.index if isinstance(users, pd.Series) else None
        if device is not None:
            codes = pd.Index(_DEVICES).get_indexer(_broadcast(device, len(u), "device", object))
            if (codes < 0).any():
                raise ValueError(
                    f"device: unknown device; use one of {_DEVICES.tolist()} or None (the logged device mix)."
                )
            return pd.DataFrame(self._at(u, i, pos, codes), index=index)
        total: dict[str, np.ndarray] = {}
        for name, share in self.device_share.items():
            p = self._at(u, i, pos, np.full(len(u), _DEVICES.tolist().index(name)))
            for col, value in p.items():  # conditional columns accumulate their joint probability
                given = self._GIVEN.get(col)
                term = share * value if given is None else share * p[given] * value
                total[col] = total.get(col, 0.0) + term
        for col, given in self._GIVEN.items():
            total[col] = np.divide(total[col], total[given], out=np.zeros(len(u)), where=total[given] > 0)
        return pd.DataFrame(total, index=index)

    def _affinity(self, task: str, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Unit-variance affinity of users ``u`` for items ``i`` under ``task``."""
        shared = np.einsum("nk,nk->n", self.user_shared[u], self.item_shared[i])
        own = np.einsum("nk,nk->n", self.user_task[task][u], self.item_task[task][i])
        rho = self.task_relatedness
        return np.sqrt(rho) * shared + np.sqrt(1.0 - rho) * own

    def _at(self, u: np.ndarray, i: np.ndarray, position: np.ndarray, device: np.ndarray) -> dict[str, np.ndarray]:
        """The truth columns for validated id, position and device-code arrays."""
        raise NotImplementedError


def _ids(values: Any, name: str, column: str, n: int) -> np.ndarray:
    """Ids as an int array, or a ValueError naming ``name`` and the valid range."""
    arr = np.atleast_1d(np.asarray(values))
    if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        arr = arr.astype(np.int64)  # e.g. ids that went through a float column
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValueError(f"{name}: give a one-dimensional array of integer {column}s, got dtype {arr.dtype}.")
    bad = (arr < 0) | (arr >= n)
    if bad.any():
        raise ValueError(
            f"{name}: {column} {arr[bad][0].item()!r} is not in the simulated world "
            f"({column}s 0..{n - 1}); score ids of this simulation only."
        )
    return arr


def _broadcast(value: Any, n: int, name: str, dtype: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype)
    if arr.ndim > 1 or (arr.ndim == 1 and len(arr) != n):
        raise ValueError(f"{name}: give one value or one per pair ({n}), got shape {arr.shape}.")
    return np.broadcast_to(arr, (n,))


def _device_share(codes: np.ndarray) -> pd.Series:
    """Share of the logged impressions per device, devices that occur only, sorted by name."""
    counts = np.bincount(codes, minlength=len(_DEVICES))
    share = pd.Series(counts / counts.sum(), index=pd.Index(_DEVICES, name="device"), name="share")
    return share[counts > 0].sort_index()


def _position_effect(position: np.ndarray, position_bias: float) -> np.ndarray:
    # Examination falls with rank; log2 as in DCG: position 1 -> 0, position 8 -> -3*bias.
    return -position_bias * np.log2(position)


def _click_logit(
    world: Any, u: np.ndarray, i: np.ndarray, position: np.ndarray | None, device: np.ndarray
) -> np.ndarray:
    """The click logit of the shop and the media site; ``position=None``: position-free."""
    z = world.click_selectivity * world._affinity("click", u, i) + 0.3 * world.item_quality[i]
    if position is not None:
        z = z + _position_effect(position, world.position_bias)
    return z + _DEVICE_CLICK[device] + world.intercepts["click"]


@dataclass(frozen=True, eq=False, kw_only=True)
class ShopWorld(SimulatedWorld):
    """The probability model of :func:`simulate_shop`: click, then purchase given the click.

    .. math::

        \\operatorname{logit} p_{\\text{click}} = \\sigma_c a_{\\text{click}} + 0.3\\,q_i
            - b \\log_2(\\text{position}) + d_{\\text{device}} + c_0,

        \\operatorname{logit} p_{\\text{purchase|click}} = 1.5\\,a_{\\text{purchase}} + 0.5\\,q_i
            + g_{\\text{segment}} - s_{\\text{segment}} z(\\log \\text{price}_i)
            + e_{\\text{device}} + c_1,

    with :math:`\\sigma_c` the ``click_selectivity``, :math:`q` the item quality and the
    intercepts :math:`c_0, c_1` calibrated to the log's ``ctr`` and ``cvr``.
    :meth:`probabilities` returns ``p_click``, ``p_purchase_given_click`` and ``p_purchase``.

    Attributes
    ----------
    click_selectivity : float
    user_segment : numpy.ndarray
        Segment code of each user (0 bargain, 1 casual, 2 loyal, 3 premium).
    item_log_price_z : numpy.ndarray
        Standardised log price of each item.
    prices : pandas.Series
        Each item's price (index ``item_id``), for expected GMV.
    """

    click_selectivity: float
    user_segment: np.ndarray = field(repr=False)
    item_log_price_z: np.ndarray = field(repr=False)
    prices: pd.Series = field(repr=False)

    _GIVEN: ClassVar[dict[str, str]] = {"p_purchase_given_click": "p_click"}

    def _logits(self, u, i, position, device) -> tuple[np.ndarray, np.ndarray]:
        seg = self.user_segment[u]
        buy = (
            1.5 * self._affinity("purchase", u, i)
            + 0.5 * self.item_quality[i]
            + _SEGMENT_BUY[seg]
            - _PRICE_SENSITIVITY[seg] * self.item_log_price_z[i]
            + _DEVICE_BUY[device]
        )
        return _click_logit(self, u, i, position, device), buy + self.intercepts["purchase"]

    def _at(self, u, i, position, device):
        click, buy = self._logits(u, i, position, device)
        p_click, p_cvr = _sigmoid(click), _sigmoid(buy)
        return {"p_click": p_click, "p_purchase_given_click": p_cvr, "p_purchase": p_click * p_cvr}


@dataclass(frozen=True, eq=False, kw_only=True)
class SocialWorld(SimulatedWorld):
    """The probability model of :func:`simulate_social`: like, comment and share, each
    :math:`\\operatorname{logit} p_t = 1.5\\,a_t + 0.4\\,q_i + e_t(\\text{post type})
    - b \\log_2(\\text{position}) + c_t`, independent given the pair (no device effect).

    Attributes
    ----------
    item_type : numpy.ndarray
        Post type code of each item (0 text, 1 image, 2 video).
    """

    item_type: np.ndarray = field(repr=False)

    def _logit(self, task: str, u, i, position) -> np.ndarray:
        return (
            1.5 * self._affinity(task, u, i)
            + 0.4 * self.item_quality[i]
            + _TYPE_EFFECT[task][self.item_type[i]]
            + _position_effect(position, self.position_bias)
        )

    def _at(self, u, i, position, device):
        return {f"p_{t}": _sigmoid(self._logit(t, u, i, position) + b) for t, b in self.intercepts.items()}


@dataclass(frozen=True, eq=False, kw_only=True)
class MediaWorld(SimulatedWorld):
    """The probability model of :func:`simulate_media`: the shop's click model, then the
    expected watch fraction :math:`\\sigma(1.2\\,a_{\\text{watch}} + 0.4\\,q_i
    - 0.4 \\log(\\text{duration}_i / 20) + c_1)` given a click.

    Attributes
    ----------
    click_selectivity : float
    item_duration : numpy.ndarray
        Each item's length in minutes.
    """

    click_selectivity: float
    item_duration: np.ndarray = field(repr=False)

    _GIVEN: ClassVar[dict[str, str]] = {
        "expected_watch_fraction": "p_click",
        "expected_watch_time_given_click": "p_click",
    }

    def _watch_logit(self, u, i) -> np.ndarray:
        # Long videos are watched to a smaller fraction.
        logit = (
            1.2 * self._affinity("watch", u, i)
            + 0.4 * self.item_quality[i]
            - 0.4 * np.log(self.item_duration[i] / 20.0)
        )
        return logit + self.intercepts["watch"]

    def _at(self, u, i, position, device):
        frac = _sigmoid(self._watch_logit(u, i))
        return {
            "p_click": _sigmoid(_click_logit(self, u, i, position, device)),
            "expected_watch_fraction": frac,
            "expected_watch_time_given_click": frac * self.item_duration[i],
        }


# --------------------------------------------------------------------------- the log
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
    world : SimulatedWorld or None
        The probability model ``truth`` was computed with; its
        :meth:`~SimulatedWorld.probabilities` scores any (user, item) pair.
    """

    data: pd.DataFrame
    truth: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)
    latent: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    world: SimulatedWorld | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        labels = [c for c in self.truth.columns]
        return (
            f"SimulatedLog(data={self.data.shape[0]:,} rows x {self.data.shape[1]} cols, "
            f"users={len(self.users):,}, items={len(self.items):,}, truth={labels})"
        )


# --------------------------------------------------------------------------- helpers
def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _calibrate_intercept(logits: np.ndarray, target: float, weights: np.ndarray | None = None) -> float:
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


def _check_rate(value: float, name: str) -> float:
    return check_number(value, name, 0.0, 1.0, low_open=True, high_open=True)


def _check_common(
    n_users: int,
    n_items: int,
    n_impressions: int,
    seed: int,
    task_relatedness: float,
    position_bias: float,
    popularity_exponent: float,
    n_factors: int,
    n_days: int,
    n_positions: int,
) -> dict[str, Any]:
    """Validate the arguments every simulator takes; they start its ``params``."""
    return dict(
        n_users=check_positive_int(n_users, "n_users"),
        n_items=check_positive_int(n_items, "n_items"),
        n_impressions=check_positive_int(n_impressions, "n_impressions"),
        seed=check_positive_int(seed, "seed", minimum=0),
        task_relatedness=check_number(task_relatedness, "task_relatedness", 0.0, 1.0),
        position_bias=check_number(position_bias, "position_bias", 0.0, 5.0),
        popularity_exponent=check_number(popularity_exponent, "popularity_exponent", 0.0, 3.0),
        n_factors=check_positive_int(n_factors, "n_factors"),
        n_days=check_positive_int(n_days, "n_days"),
        n_positions=check_positive_int(n_positions, "n_positions"),
    )


@dataclass
class _Population:
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

    def world_args(self, p: dict[str, Any], device: np.ndarray) -> dict[str, Any]:
        """The fields every :class:`SimulatedWorld` takes, intercepts still 0 (calibrated on the log)."""
        return dict(
            user_shared=self.user_shared,
            item_shared=self.item_shared,
            user_task=self.user_task,
            item_task=self.item_task,
            item_quality=self.item_quality,
            task_relatedness=p["task_relatedness"],
            position_bias=p["position_bias"],
            device_share=_device_share(device),
            intercepts={t: 0.0 for t in self.user_task},
        )

    def latent(self) -> dict[str, np.ndarray]:
        return {
            "user_shared": self.user_shared,
            "item_shared": self.item_shared,
            **{f"user_{t}": self.user_task[t] for t in self.user_task},
            **{f"item_{t}": self.item_task[t] for t in self.item_task},
            "item_quality": self.item_quality,
        }


def _factors(rng: np.random.Generator, centroids: np.ndarray, groups: np.ndarray, group_share: float) -> np.ndarray:
    """Latent vectors = a group centroid (observable group) + individual noise.

    Entries have variance 1/sqrt(k) so the inner product of two independent vectors
    has variance 1 (k * (1/sqrt(k))**2).
    """
    k = centroids.shape[1]
    noise = rng.normal(0.0, 1.0, size=(len(groups), k))
    z = np.sqrt(group_share) * centroids[groups] + np.sqrt(1.0 - group_share) * noise
    return z * k**-0.25


def _population(
    rng: np.random.Generator,
    params: dict[str, Any],
    tasks: tuple[str, ...],
    categories: tuple[str, ...],
    activity_sigma: float = 1.0,
) -> _Population:
    """Build users and items with latent factors and observable features.

    The observable features are noisy views of the latent world, so a model can
    learn from them: a user's segment shifts their interests, an item's category
    shifts its factors, and the logged popularity follows latent quality.
    """
    n_users, n_items, k = params["n_users"], params["n_items"], params["n_factors"]
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
    item_weight = 1.0 / (rank + 1.0) ** params["popularity_exponent"]
    item_weight /= item_weight.sum()
    user_weight = activity / activity.sum()
    # Task-specific factors: fresh noise, with the same group structure as the shared ones.
    user_task, item_task = {}, {}
    for t in tasks:
        user_task[t] = _factors(rng, rng.normal(size=(len(_SEGMENTS), k)), seg, 0.3)
        item_task[t] = _factors(rng, rng.normal(size=(n_cat, k)), cat, 0.5)
    # Logged popularity: views in the month before the log starts (a Poisson echo of exposure).
    views = rng.poisson(item_weight * 50.0 * n_items * 20).astype(np.int64)
    users = pd.DataFrame(
        {
            "user_id": np.arange(n_users, dtype=np.int64),
            "segment": pd.array(_SEGMENTS[seg], dtype="str"),
            "age": age,
            "activity": np.round(activity, 2),
        }
    )
    items = pd.DataFrame(
        {
            "item_id": np.arange(n_items, dtype=np.int64),
            "category": pd.array(np.asarray(categories)[cat], dtype="str"),
            "popularity": views,
        }
    )
    return _Population(
        users, items, user_shared, item_shared, user_task, item_task, user_weight, item_weight, quality, seg, cat
    )


def _impressions(rng: np.random.Generator, pop: _Population, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """Draw who saw what, when, where on the page and on which device."""
    n = params["n_impressions"]
    u = rng.choice(len(pop.user_weight), size=n, p=pop.user_weight)
    i = rng.choice(len(pop.item_weight), size=n, p=pop.item_weight)
    ts = _EPOCH + rng.integers(0, params["n_days"] * _DAY, size=n)
    position = rng.integers(1, params["n_positions"] + 1, size=n)
    device = rng.choice(len(_DEVICES), size=n, p=_DEVICE_P)
    order = np.argsort(ts, kind="stable")  # a log is written in time order
    return {"u": u[order], "i": i[order], "timestamp": ts[order], "position": position[order], "device": device[order]}


def _frame(pop: _Population, imp: dict[str, np.ndarray], item_cols: list[str]) -> pd.DataFrame:
    """The observable columns every simulator logs, user and item features joined in."""
    u, i = imp["u"], imp["i"]
    df = pd.DataFrame(
        {
            "user_id": u.astype(np.int64),
            "item_id": i.astype(np.int64),
            "timestamp": imp["timestamp"].astype(np.int64),
            "day": ((imp["timestamp"] - _EPOCH) // _DAY).astype(np.int64),
            "position": imp["position"].astype(np.int64),
            "device": pd.array(_DEVICES[imp["device"]], dtype="str"),
        }
    )
    for col in ("segment", "age", "activity"):
        df[f"user_{col}"] = pop.users[col].to_numpy()[u]
    for col in item_cols:
        df[f"item_{col}"] = pop.items[col].to_numpy()[i]
    for col in df.columns:  # keep string columns as pandas' str dtype after numpy indexing
        if pd.api.types.is_object_dtype(df[col]):
            df[col] = df[col].astype("str")
    return df


#: How ``simulate_shop`` assigns list positions (``position_policy``).
POSITION_POLICIES = ("random", "relevance")


def _ranked_positions(
    rng: np.random.Generator, user: np.ndarray, score: np.ndarray, n_positions: int, noise: float
) -> np.ndarray:
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
        ``.world``: the :class:`ShopWorld` the truth was computed with; it scores
        any (user, item) pair at any position and device.

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
    params = _check_common(
        n_users,
        n_items,
        n_impressions,
        seed,
        task_relatedness,
        position_bias,
        popularity_exponent,
        n_factors,
        n_days,
        n_positions,
    )
    params.update(
        click_selectivity=check_number(click_selectivity, "click_selectivity", 0.0, 10.0),
        ctr=_check_rate(ctr, "ctr"),
        cvr=_check_rate(cvr, "cvr"),
        position_policy=check_choice(position_policy, "position_policy", POSITION_POLICIES),
        position_noise=check_number(position_noise, "position_noise", 0.0, 100.0),
    )
    rng = np.random.default_rng(seed)
    pop = _population(rng, params, ("click", "purchase"), _SHOP_CATEGORIES)
    # Shop-specific item features: price (log-normal around the category median) and band.
    price = np.round(_SHOP_PRICE[pop.item_group] * np.exp(rng.normal(0.0, 0.5, params["n_items"])), 2)
    price = np.maximum(price, 0.99)
    pop.items["price"] = price
    pop.items["price_band"] = pd.array(_PRICE_BANDS[np.searchsorted(_PRICE_EDGES, price, "right")], dtype="str")
    pop.items = pop.items[["item_id", "category", "price", "price_band", "popularity"]]

    imp = _impressions(rng, pop, params)
    u, i, device = imp["u"], imp["i"], imp["device"]
    log_price = np.log(price)
    world = ShopWorld(
        **pop.world_args(params, device),
        click_selectivity=params["click_selectivity"],
        user_segment=pop.user_group,
        item_log_price_z=(log_price - log_price.mean()) / (log_price.std() + 1e-12),
        prices=pd.Series(price, index=pd.Index(pop.items["item_id"].to_numpy(), name="item_id"), name="price"),
    )
    if position_policy == "relevance":
        # Rank by the position-free click logit. A separate stream, so that the "random" log
        # and every other draw stay as they were.
        relevance = _click_logit(world, u, i, None, device)
        imp["position"] = _ranked_positions(
            np.random.default_rng([seed, 1]), u, relevance, params["n_positions"], params["position_noise"]
        )
    # The intercepts set the base rates over this log: the click one first, then the
    # purchase one weighted by p_click (a purchase needs a click).
    click_logit, buy_logit = world._logits(u, i, imp["position"], device)
    b_click = _calibrate_intercept(click_logit, params["ctr"])
    b_buy = _calibrate_intercept(buy_logit, params["cvr"], weights=_sigmoid(click_logit + b_click))
    world = replace(world, intercepts={"click": b_click, "purchase": b_buy})
    p = world._at(u, i, imp["position"], device)

    click = (rng.random(params["n_impressions"]) < p["p_click"]).astype(np.int64)
    # Purchase is drawn for every row but observed only after a click: the funnel.
    purchase = (click * (rng.random(params["n_impressions"]) < p["p_purchase_given_click"])).astype(np.int64)

    data = _frame(pop, imp, ["category", "price", "price_band", "popularity"])
    data["click"] = click
    data["purchase"] = purchase
    # The same impression at position 1, where the position term is 0.
    p["p_click_at_top"] = _sigmoid(click_logit + b_click - _position_effect(imp["position"], world.position_bias))
    latent = {
        **pop.latent(),
        "affinity_click": world._affinity("click", u, i),
        "affinity_purchase": world._affinity("purchase", u, i),
    }
    return SimulatedLog(
        data=data,
        truth=pd.DataFrame(p, index=data.index),
        users=pop.users,
        items=pop.items,
        params=params,
        latent=latent,
        world=world,
    )


# --------------------------------------------------------------------------- social
_SOCIAL_TOPICS = ("news", "sports", "music", "food", "travel", "tech", "humor", "fashion")
_POST_TYPES = np.array(["text", "image", "video"])
_POST_TYPE_P = np.array([0.3, 0.5, 0.2])
# Videos get liked and shared more, text gets commented on more.
_TYPE_EFFECT = {
    "like": np.array([-0.2, 0.0, 0.3]),
    "comment": np.array([0.4, 0.0, -0.2]),
    "share": np.array([-0.3, 0.0, 0.4]),
}


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
        p_comment, p_share``; ``.world``: the :class:`SocialWorld`.

    Examples
    --------
    >>> import mtrec_lib as mt
    >>> feed = mt.data.simulate_social(n_users=300, n_items=100, n_impressions=10_000, seed=0)
    >>> list(feed.truth.columns)
    ['p_like', 'p_comment', 'p_share']
    """
    params = _check_common(
        n_users,
        n_items,
        n_impressions,
        seed,
        task_relatedness,
        position_bias,
        popularity_exponent,
        n_factors,
        n_days,
        n_positions,
    )
    rates = {
        "like": _check_rate(like_rate, "like_rate"),
        "comment": _check_rate(comment_rate, "comment_rate"),
        "share": _check_rate(share_rate, "share_rate"),
    }
    params.update({f"{t}_rate": r for t, r in rates.items()})
    rng = np.random.default_rng(seed)
    pop = _population(rng, params, tuple(rates), _SOCIAL_TOPICS)
    ptype = rng.choice(len(_POST_TYPES), size=params["n_items"], p=_POST_TYPE_P)
    pop.items = pop.items.rename(columns={"category": "topic"})
    pop.items["type"] = pd.array(_POST_TYPES[ptype], dtype="str")
    pop.items = pop.items[["item_id", "topic", "type", "popularity"]]
    imp = _impressions(rng, pop, params)
    u, i = imp["u"], imp["i"]
    world = SocialWorld(**pop.world_args(params, imp["device"]), item_type=ptype)
    world = replace(
        world,
        intercepts={t: _calibrate_intercept(world._logit(t, u, i, imp["position"]), rate) for t, rate in rates.items()},
    )
    truth = world._at(u, i, imp["position"], imp["device"])
    data = _frame(pop, imp, ["topic", "type", "popularity"])
    for t in rates:  # draw labels after all probabilities, in a fixed order
        data[t] = (rng.random(params["n_impressions"]) < truth[f"p_{t}"]).astype(np.int64)
    latent = {**pop.latent(), **{f"affinity_{t}": world._affinity(t, u, i) for t in rates}}
    return SimulatedLog(
        data=data,
        truth=pd.DataFrame(truth, index=data.index),
        users=pop.users,
        items=pop.items,
        params=params,
        latent=latent,
        world=world,
    )


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
        expected_watch_fraction, expected_watch_time_given_click``;
        ``.world``: the :class:`MediaWorld`.

    Examples
    --------
    >>> import mtrec_lib as mt
    >>> media = mt.data.simulate_media(n_users=300, n_items=100, n_impressions=10_000, seed=0)
    >>> bool(((media.data["click"] == 0) <= (media.data["watch_time"] == 0)).all())
    True
    """
    params = _check_common(
        n_users,
        n_items,
        n_impressions,
        seed,
        task_relatedness,
        position_bias,
        popularity_exponent,
        n_factors,
        n_days,
        n_positions,
    )
    params.update(
        click_selectivity=check_number(click_selectivity, "click_selectivity", 0.0, 10.0),
        ctr=_check_rate(ctr, "ctr"),
        mean_watch_fraction=_check_rate(mean_watch_fraction, "mean_watch_fraction"),
    )
    rng = np.random.default_rng(seed)
    pop = _population(rng, params, ("click", "watch"), _MEDIA_GENRES)
    duration = np.round(_MEDIA_LENGTH[pop.item_group] * np.exp(rng.normal(0, 0.4, params["n_items"])), 1)
    duration = np.maximum(duration, 0.5)
    pop.items = pop.items.rename(columns={"category": "genre"})
    pop.items["duration"] = duration
    pop.items = pop.items[["item_id", "genre", "duration", "popularity"]]
    imp = _impressions(rng, pop, params)
    u, i = imp["u"], imp["i"]
    world = MediaWorld(
        **pop.world_args(params, imp["device"]), click_selectivity=params["click_selectivity"], item_duration=duration
    )
    click_logit = _click_logit(world, u, i, imp["position"], imp["device"])
    b_click = _calibrate_intercept(click_logit, params["ctr"])
    b_watch = _calibrate_intercept(
        world._watch_logit(u, i), params["mean_watch_fraction"], weights=_sigmoid(click_logit + b_click)
    )
    world = replace(world, intercepts={"click": b_click, "watch": b_watch})
    truth = world._at(u, i, imp["position"], imp["device"])
    click = (rng.random(params["n_impressions"]) < truth["p_click"]).astype(np.int64)
    concentration = 4.0
    frac_mean = truth["expected_watch_fraction"]
    frac = rng.beta(frac_mean * concentration, (1.0 - frac_mean) * concentration)
    data = _frame(pop, imp, ["genre", "duration", "popularity"])
    data["click"] = click
    data["watch_time"] = np.round(click * frac * duration[i], 2)
    latent = {
        **pop.latent(),
        "affinity_click": world._affinity("click", u, i),
        "affinity_watch": world._affinity("watch", u, i),
    }
    return SimulatedLog(
        data=data,
        truth=pd.DataFrame(truth, index=data.index),
        users=pop.users,
        items=pop.items,
        params=params,
        latent=latent,
        world=world,
    )
