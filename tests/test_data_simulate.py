"""Tests of mtrec_lib.data.simulate: the shop, social and media simulators."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

import mtrec_lib as mt
from mtrec_lib.data.simulate import _calibrate_intercept, _sigmoid

SHOP_DATA_COLUMNS = [
    "user_id",
    "item_id",
    "timestamp",
    "day",
    "position",
    "device",
    "user_segment",
    "user_age",
    "user_activity",
    "item_category",
    "item_price",
    "item_price_band",
    "item_popularity",
    "click",
    "purchase",
]


@pytest.fixture(scope="module")
def shop():
    return mt.data.simulate_shop(seed=0)


def test_shop_columns_and_dtypes(shop):
    assert list(shop.data.columns) == SHOP_DATA_COLUMNS
    assert list(shop.truth.columns) == ["p_click", "p_purchase_given_click", "p_purchase", "p_click_at_top"]
    for col in ["user_id", "item_id", "timestamp", "day", "position", "click", "purchase"]:
        assert shop.data[col].dtype == np.int64, col
    for col in ["device", "user_segment", "item_category", "item_price_band"]:
        assert pd.api.types.is_string_dtype(shop.data[col]), col
    assert len(shop.data) == 100_000
    assert list(shop.users.columns) == ["user_id", "segment", "age", "activity"]
    assert list(shop.items.columns) == ["item_id", "category", "price", "price_band", "popularity"]
    assert len(shop.users) == 2000 and len(shop.items) == 500


def test_truth_is_kept_apart_and_aligned(shop):
    assert not set(shop.truth.columns) & set(shop.data.columns)
    assert shop.truth.index.equals(shop.data.index)
    np.testing.assert_allclose(shop.truth["p_purchase"], shop.truth["p_click"] * shop.truth["p_purchase_given_click"])
    assert shop.truth.to_numpy().min() > 0 and shop.truth.to_numpy().max() < 1
    # the features joined into .data are those of the users/items tables
    row = shop.data.iloc[123]
    user = shop.users.set_index("user_id").loc[row["user_id"]]
    item = shop.items.set_index("item_id").loc[row["item_id"]]
    assert (row["user_segment"], row["user_age"]) == (user["segment"], user["age"])
    assert (row["item_category"], row["item_price"]) == (item["category"], item["price"])


def test_purchase_only_after_click(shop):
    d = shop.data
    assert set(d["click"].unique()) <= {0, 1} and set(d["purchase"].unique()) <= {0, 1}
    assert (d["purchase"] <= d["click"]).all()
    assert d["purchase"].sum() > 0


def test_default_rates_are_realistic(shop):
    ctr = shop.data["click"].mean()
    cvr = shop.data["purchase"].sum() / shop.data["click"].sum()
    assert 0.03 <= ctr <= 0.06
    assert 0.02 <= cvr <= 0.08
    assert shop.truth["p_click"].mean() == pytest.approx(0.04, abs=1e-6)  # calibrated exactly
    # the observed rates agree with the truth they were drawn from
    assert ctr == pytest.approx(shop.truth["p_click"].mean(), abs=0.003)


def test_rates_follow_targets():
    s = mt.data.simulate_shop(n_impressions=50_000, ctr=0.1, cvr=0.2, seed=3)
    assert s.data["click"].mean() == pytest.approx(0.1, abs=0.01)
    assert s.data["purchase"].sum() / s.data["click"].sum() == pytest.approx(0.2, abs=0.03)


def test_same_seed_same_frames_other_seed_differs():
    a = mt.data.simulate_shop(n_impressions=20_000, seed=7)
    b = mt.data.simulate_shop(n_impressions=20_000, seed=7)
    for attr in ("data", "truth", "users", "items"):
        pd.testing.assert_frame_equal(getattr(a, attr), getattr(b, attr))
    c = mt.data.simulate_shop(n_impressions=20_000, seed=8)
    assert not a.data.equals(c.data)


def test_fast_enough():
    mt.data.simulate_shop(n_impressions=1000)  # warm-up (imports)
    best = min(_timed(lambda: mt.data.simulate_shop(n_impressions=100_000)) for _ in range(2))
    assert best < 2.0, f"simulate_shop(100k) took {best:.2f} s"


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def test_long_tail(shop):
    counts = shop.data["item_id"].value_counts().to_numpy()  # sorted, descending
    top20 = counts[: len(counts) // 5].sum() / counts.sum()
    assert top20 > 0.6, f"top 20% items get only {top20:.0%} of impressions"
    # Zipf-like: log(frequency) against log(rank) has a slope near -1 on the head
    ranks = np.arange(1, 101)
    slope = np.polyfit(np.log(ranks), np.log(counts[:100]), 1)[0]
    assert -1.5 < slope < -0.6
    # observable popularity tracks exposure
    pop = shop.items.set_index("item_id")["popularity"]
    vc = shop.data["item_id"].value_counts()
    assert np.corrcoef(np.log1p(pop.loc[vc.index]), np.log(vc))[0, 1] > 0.8


def test_position_bias(shop):
    ctr = shop.data.groupby("position")["click"].mean()
    assert ctr.loc[1] > 2 * ctr.loc[10]


def test_task_relatedness_sets_affinity_correlation():
    for rho in (0.0, 0.5, 1.0):
        s = mt.data.simulate_shop(n_impressions=30_000, task_relatedness=rho, seed=1)
        r = np.corrcoef(s.latent["affinity_click"], s.latent["affinity_purchase"])[0, 1]
        assert r == pytest.approx(rho, abs=0.1), (rho, r)


def _selection_ratio(log) -> float:
    clicked = log.data["click"] == 1
    p = log.truth["p_purchase_given_click"]
    return p[clicked].mean() / p.mean()


def test_click_selectivity_creates_sample_selection_bias():
    """Clicked impressions buy more readily than impressions in general, more so with selectivity."""
    biased = mt.data.simulate_shop(n_impressions=50_000, click_selectivity=2.0, task_relatedness=0.8)
    random_clicks = mt.data.simulate_shop(n_impressions=50_000, click_selectivity=0.0, task_relatedness=0.8)
    unrelated = mt.data.simulate_shop(n_impressions=50_000, click_selectivity=2.0, task_relatedness=0.0)
    assert _selection_ratio(biased) > 3.0
    assert _selection_ratio(random_clicks) < 1.3
    assert _selection_ratio(unrelated) < _selection_ratio(biased) / 2
    # A CVR estimated on clicked rows (what a clicked-only model learns on average)
    # overestimates the conversion propensity of the whole impression space.
    d, t = biased.data, biased.truth
    clicked_cvr = d.loc[d["click"] == 1, "purchase"].mean()
    assert clicked_cvr > 2 * t["p_purchase_given_click"].mean()


def test_observable_features_carry_signal(shop):
    d, t = shop.data, shop.truth
    # cheap items convert better after a click, as price sensitivity says
    by_band = t.groupby(d["item_price_band"])["p_purchase_given_click"].mean()
    assert by_band["low"] > by_band["high"]
    # loyal users convert better than bargain hunters
    by_seg = t.groupby(d["user_segment"])["p_purchase_given_click"].mean()
    assert by_seg["loyal"] > by_seg["bargain"]


def test_days_and_timestamps(shop):
    d = shop.data
    assert d["timestamp"].is_monotonic_increasing
    assert d["day"].min() == 0 and d["day"].max() == 29
    assert ((d["timestamp"] - 1_704_067_200) // 86_400 == d["day"]).all()
    assert d["position"].between(1, 10).all()


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"task_relatedness": 1.5}, "task_relatedness"),
        ({"click_selectivity": -1}, "click_selectivity"),
        ({"n_users": 0}, "n_users"),
        ({"n_items": 10.5}, "n_items"),
        ({"seed": -1}, "seed"),
        ({"ctr": 0.0}, "ctr"),
        ({"cvr": 1.0}, "cvr"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, word):
    with pytest.raises(ValueError, match=word):
        mt.data.simulate_shop(n_impressions=100, **kwargs)


def test_calibrate_intercept_hits_target():
    z = np.random.default_rng(0).normal(size=10_000) * 2
    b = _calibrate_intercept(z, 0.05)
    assert _sigmoid(z + b).mean() == pytest.approx(0.05, abs=1e-9)
    w = np.linspace(0.1, 1, 10_000)
    b = _calibrate_intercept(z, 0.2, weights=w)
    assert (w @ _sigmoid(z + b)) / w.sum() == pytest.approx(0.2, abs=1e-9)


def test_social_feed():
    feed = mt.data.simulate_social(n_impressions=50_000, seed=0)
    d = feed.data
    assert list(d.columns[-3:]) == ["like", "comment", "share"]
    assert list(feed.truth.columns) == ["p_like", "p_comment", "p_share"]
    assert d["like"].mean() == pytest.approx(0.06, abs=0.01)
    assert d["comment"].mean() == pytest.approx(0.01, abs=0.003)
    assert d["share"].mean() == pytest.approx(0.005, abs=0.002)
    assert {"item_topic", "item_type", "item_popularity"} <= set(d.columns)
    assert not set(feed.truth.columns) & set(d.columns)
    pd.testing.assert_frame_equal(d, mt.data.simulate_social(n_impressions=50_000, seed=0).data)
    # related tasks: likes and shares go together more than chance
    r = np.corrcoef(feed.truth["p_like"], feed.truth["p_share"])[0, 1]
    assert r > 0.2


def test_media_click_and_watch_time():
    media = mt.data.simulate_media(n_impressions=50_000, seed=0)
    d, t = media.data, media.truth
    assert d["click"].mean() == pytest.approx(0.08, abs=0.01)
    assert (d.loc[d["click"] == 0, "watch_time"] == 0).all()
    watched = d.loc[d["click"] == 1]
    assert (watched["watch_time"] > 0).mean() > 0.95
    assert (watched["watch_time"] <= watched["item_duration"] + 1e-9).all()
    # observed watch time follows the expected watch time given click
    r = np.corrcoef(watched["watch_time"], t.loc[watched.index, "expected_watch_time_given_click"])[0, 1]
    assert r > 0.5
    assert list(t.columns) == ["p_click", "expected_watch_fraction", "expected_watch_time_given_click"]
    pd.testing.assert_frame_equal(d, mt.data.simulate_media(n_impressions=50_000, seed=0).data)


def test_simulators_share_one_world():
    """Same seed and sizes: the three simulators build the same users."""
    shop = mt.data.simulate_shop(n_users=300, n_items=100, n_impressions=1000, seed=5)
    feed = mt.data.simulate_social(n_users=300, n_items=100, n_impressions=1000, seed=5)
    media = mt.data.simulate_media(n_users=300, n_items=100, n_impressions=1000, seed=5)
    pd.testing.assert_frame_equal(shop.users, feed.users)
    pd.testing.assert_frame_equal(shop.users, media.users)
    assert "SimulatedLog(" in repr(shop)
