"""The simulators' probability model (``.world``): one definition of the logits that both draws
the labels and serves as the oracle, byte-identical logs, and the oracle's numbers."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pandas as pd
import pytest

import mtrec_lib as mt
from mtrec_lib.data.simulate import MediaWorld, ShopWorld, SocialWorld
from mtrec_lib.pipeline import ShopTruth

# sha256 of every frame (data, the WHOLE truth, users, items) computed with the simulators as they
# were before .world existed (commit 163e190): drawing through the world must not change a byte.
CASES = {
    "shop_small": (
        "simulate_shop",
        dict(n_users=300, n_items=80, n_impressions=5000, seed=0),
        "3128ad13cd146b10e8ed8deb1a0f4f17a54dfaba74dfebb13184f15d06130ca3",
    ),
    "shop_knobs": (
        "simulate_shop",
        dict(
            n_users=120,
            n_items=40,
            n_impressions=3000,
            seed=7,
            task_relatedness=0.3,
            position_bias=1.2,
            n_positions=5,
            ctr=0.1,
            cvr=0.2,
            click_selectivity=2.0,
        ),
        "5df3c08c58ff10499ec0e572f35049e05a832d083acb45d1790bc416e2c14193",
    ),
    "shop_relevance": (
        "simulate_shop",
        dict(n_users=300, n_items=80, n_impressions=5000, seed=0, position_policy="relevance", position_noise=0.5),
        "7e76c1701fcc8da4149c31cf15b4f1e50813934df19121354699e38fa036125c",
    ),
    "shop_relevance0": (
        "simulate_shop",
        dict(n_users=200, n_items=60, n_impressions=4000, seed=3, position_policy="relevance", position_noise=0.0),
        "327f34df3adb97cd1ea20af76df4a22d65f40c59ab20420f99411be1fe782b66",
    ),
    "social": (
        "simulate_social",
        dict(n_users=300, n_items=100, n_impressions=5000, seed=0),
        "0fd0bad14b0ece17d5d062c0fed67049171c04a5165e210f326259775eaef636",
    ),
    "media": (
        "simulate_media",
        dict(n_users=300, n_items=100, n_impressions=5000, seed=0),
        "dd7673b4b78953ee3b968641b9da5b2642265c6507ea644badf9253ed6bdb119",
    ),
}


def _hash(log) -> str:
    m = hashlib.sha256()
    for f in (log.data, log.truth, log.users, log.items):
        m.update(pd.util.hash_pandas_object(f, index=True).to_numpy().tobytes())
        m.update(str(list(f.columns)).encode())
        m.update(str(list(f.dtypes.astype(str))).encode())
    return m.hexdigest()


def _simulate(name):
    fn, kwargs, _ = CASES[name]
    return getattr(mt.data, fn)(**kwargs)


@pytest.mark.parametrize("name", list(CASES))
def test_logs_are_byte_identical_to_before_the_world(name):
    assert _hash(_simulate(name)) == CASES[name][2]


@pytest.mark.parametrize(
    "name, world_type",
    [("shop_small", ShopWorld), ("shop_relevance", ShopWorld), ("social", SocialWorld), ("media", MediaWorld)],
)
def test_the_world_reproduces_the_logged_truth_exactly(name, world_type):
    log = _simulate(name)
    assert isinstance(log.world, world_type)
    d = log.data
    p = log.world.probabilities(d["user_id"], d["item_id"], position=d["position"], device=d["device"])
    assert p.index.equals(d.index)
    cols = [c for c in log.truth.columns if c != "p_click_at_top"]
    assert list(p.columns) == cols
    # the log was drawn from these very numbers: equal, not merely close
    np.testing.assert_array_equal(p.to_numpy(), log.truth[cols].to_numpy())


def test_p_click_at_top_is_the_world_at_position_one():
    shop = _simulate("shop_relevance")
    d = shop.data
    top = shop.world.probabilities(d["user_id"], d["item_id"], position=1, device=d["device"])
    np.testing.assert_allclose(top["p_click"], shop.truth["p_click_at_top"], rtol=1e-12)


def test_no_device_averages_over_the_logged_mix():
    shop = _simulate("shop_knobs")
    w = shop.world
    share = shop.data["device"].value_counts(normalize=True).sort_index()
    pd.testing.assert_series_equal(w.device_share, share, check_names=False, check_index_type=False)
    users, items = np.array([0, 1, 119]), np.array([39, 0, 5])
    by = {dev: w.probabilities(users, items, position=2, device=dev) for dev in share.index}
    mix = w.probabilities(users, items, position=2)
    click = sum(s * by[dev]["p_click"] for dev, s in share.items())
    buy = sum(s * by[dev]["p_purchase"] for dev, s in share.items())
    np.testing.assert_allclose(mix["p_click"], click, rtol=1e-12)
    np.testing.assert_allclose(mix["p_purchase"], buy, rtol=1e-12)
    # the conditional rate is the ratio of the averaged joint and click probabilities
    np.testing.assert_allclose(mix["p_purchase_given_click"], buy / click, rtol=1e-12)


def test_social_and_media_worlds_score_unlogged_pairs():
    feed, media = _simulate("social"), _simulate("media")
    p = feed.world.probabilities([0, 0], [99, 99], position=[1, 20])
    assert list(p.columns) == ["p_like", "p_comment", "p_share"]
    assert (p.iloc[0] > p.iloc[1]).all()  # lower in the feed: every task less likely
    m = media.world.probabilities([5], [7], position=3)
    assert m.loc[0, "expected_watch_time_given_click"] == pytest.approx(
        m.loc[0, "expected_watch_fraction"] * media.items.loc[7, "duration"]
    )


def test_the_oracle_keeps_its_numbers():
    """ShopTruth used to re-derive the logits by least squares; as a view over the world it gives
    the same numbers (values computed with that implementation, commit 163e190)."""
    shop = mt.data.simulate_shop(n_users=120, n_items=40, n_impressions=3000, seed=4)
    truth = ShopTruth(shop)
    pairs = pd.DataFrame({"user_id": [0, 5, 77, 119, 3], "item_id": [39, 0, 12, 7, 3]})
    mix = [
        [0.084295624807, 0.009051970311, 0.000763041493],
        [0.038569842622, 0.010474562391, 0.000404002223],
        [0.012331703653, 0.011851839573, 0.000146153373],
        [0.002722777144, 0.000671128099, 1.827332e-06],
        [0.137720542018, 0.001358824064, 0.000187137987],
    ]
    desktop4 = [
        [0.026935933229, 0.011530367042, 0.000310581197],
        [0.011912256774, 0.013336144307, 0.000158863575],
        [0.003736791399, 0.015083431525, 5.6363637e-05],
        [0.00081940032, 0.000856511104, 7.01825e-07],
        [0.045858980809, 0.001734450452, 7.954013e-05],
    ]
    np.testing.assert_allclose(truth.probabilities(pairs).to_numpy(), mix, atol=1e-12)
    np.testing.assert_allclose(
        truth.probabilities(pairs, position=4, device="desktop").to_numpy(), desktop4, atol=1e-12
    )
    best = truth.best_lists([3, 1, 2], n=3)
    assert best["user_id"].tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert best["item_id"].tolist() == [24, 36, 29, 11, 24, 22, 16, 24, 32]
    assert truth.max_logit_error_ < 1e-12
    assert truth.prices_.loc[3] == shop.items.loc[3, "price"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(users=[0, 300], items=[1, 1]), "users: user_id 300 is not in the simulated world"),
        (dict(users=[0], items=[-1]), "items: item_id -1 is not in the simulated world"),
        (dict(users=[0.5], items=[1]), "integer user_ids"),
        (dict(users=["a"], items=[1]), "integer user_ids"),
        (dict(users=[0, 1], items=[1]), "must pair up"),
        (dict(users=[0], items=[1], position=0), "position"),
        (dict(users=[0, 1], items=[1, 2], position=[1, 2, 3]), "position: give one value or one per pair"),
        (dict(users=[0], items=[1], device="tablet"), "device: unknown device"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    world = mt.data.simulate_shop(n_users=300, n_items=80, n_impressions=500, seed=0).world
    with pytest.raises(ValueError, match=match):
        world.probabilities(**kwargs)


def test_the_world_is_frozen_and_ids_may_be_integral_floats():
    world = mt.data.simulate_shop(n_users=30, n_items=10, n_impressions=300, seed=0).world
    with pytest.raises(dataclasses.FrozenInstanceError):
        world.position_bias = 0.0
    a = world.probabilities(np.array([1.0, 2.0]), [3, 4])
    b = world.probabilities([1, 2], [3, 4])
    pd.testing.assert_frame_equal(a, b)
    assert "ShopWorld(" in repr(world) and "user_shared" not in repr(world)
