"""Position bias: the simulator's ranked logging policy and the shallow position tower of
``MultiTaskLearning`` (Zhao et al., RecSys 2019)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

import mtrec_lib as mt
from mtrec_lib.data.simulate import _ranked_positions

# sha256 of a small shop (data, the three original truth columns, users, items), computed with
# the simulator as it was before position_policy existed: the "random" log must not change.
REFERENCE = {
    "small": "65be1a6ccc90d53e147011bde33f6242daecf8841883a8fab4abf0d500825172",
    "knobs": "c01f2486d57e7c26b96e9b0ebf571608db652b6a5b171d182e05a0da27173fb2",
}
SMALL = dict(n_users=300, n_items=80, n_impressions=5000, seed=0)
KNOBS = dict(
    n_users=120, n_items=40, n_impressions=3000, seed=7, task_relatedness=0.3, position_bias=1.2, n_positions=5
)
ORIGINAL_TRUTH = ["p_click", "p_purchase_given_click", "p_purchase"]


def _hash(shop) -> str:
    m = hashlib.sha256()
    for f in (shop.data, shop.truth[ORIGINAL_TRUTH], shop.users, shop.items):
        m.update(pd.util.hash_pandas_object(f, index=True).to_numpy().tobytes())
        m.update(str(list(f.columns)).encode())
        m.update(str(list(f.dtypes.astype(str))).encode())
    return m.hexdigest()


# ------------------------------------------------------------------------------ simulator
@pytest.mark.parametrize("name,kwargs", [("small", SMALL), ("knobs", KNOBS)])
def test_random_policy_is_byte_identical_to_before(name, kwargs):
    assert _hash(mt.data.simulate_shop(**kwargs)) == REFERENCE[name]
    assert _hash(mt.data.simulate_shop(**kwargs, position_policy="random", position_noise=5.0)) == REFERENCE[name]


def test_p_click_at_top_is_the_click_probability_at_position_one():
    shop = mt.data.simulate_shop(**SMALL)
    d, t = shop.data, shop.truth
    logit = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731
    # the two logits differ exactly by the position term -bias * log2(position)
    np.testing.assert_allclose(
        logit(t["p_click"]) - logit(t["p_click_at_top"]), -0.5 * np.log2(d["position"]), atol=1e-9
    )
    top = d["position"] == 1
    np.testing.assert_array_equal(t.loc[top, "p_click"], t.loc[top, "p_click_at_top"])
    # and ShopTruth agrees at position 1
    truth = mt.pipeline.ShopTruth(shop)
    p = truth.probabilities(d.head(50), position=1, device=d["device"].head(50))
    np.testing.assert_allclose(p["p_click"], t["p_click_at_top"].head(50), atol=1e-9)


def test_relevance_policy_confounds_position_and_relevance():
    kw = dict(n_users=400, n_items=100, n_impressions=20_000, seed=3)
    rnd = mt.data.simulate_shop(**kw)
    ranked = mt.data.simulate_shop(**kw, position_policy="relevance", position_noise=0.5)
    # same impressions (who, what, when, device); only positions and what follows differ
    same = ["user_id", "item_id", "timestamp", "device", "item_price"]
    pd.testing.assert_frame_equal(rnd.data[same], ranked.data[same])
    assert (rnd.data["position"] != ranked.data["position"]).mean() > 0.5
    rel = lambda s: np.corrcoef(s.data["position"], s.truth["p_click_at_top"])[0, 1]  # noqa: E731
    assert abs(rel(rnd)) < 0.03 and rel(ranked) < -0.3
    assert ranked.data["position"].between(1, 10).all()
    assert ranked.truth["p_click"].mean() == pytest.approx(0.04, abs=1e-6)  # still calibrated
    assert mt.pipeline.ShopTruth(ranked).max_logit_error_ < 1e-9
    # the noise is the knob: more noise, weaker confounding
    noisy = mt.data.simulate_shop(**kw, position_policy="relevance", position_noise=5.0)
    assert rel(ranked) < rel(noisy) < 0
    # deterministic for a seed
    again = mt.data.simulate_shop(**kw, position_policy="relevance", position_noise=0.5)
    pd.testing.assert_frame_equal(ranked.data, again.data)


def test_ranked_positions_by_hand():
    rng = np.random.default_rng(0)
    # user 0 has 5 impressions (pages of 3: 3 + 2), user 1 has 2; noise 0 ranks by score
    user = np.array([0, 0, 1, 0, 0, 1, 0])
    score = np.array([1.0, 3.0, 0.0, 2.0, 5.0, 9.0, 4.0])
    pos = _ranked_positions(rng, user, score, n_positions=3, noise=0.0)
    # user 0, page 0 = rows 0, 1, 3 (scores 1, 3, 2); page 1 = rows 4, 6 (5, 4); user 1 = rows 2, 5 (0, 9)
    assert pos.tolist() == [3, 1, 2, 2, 1, 1, 2]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(position_policy="best"), "position_policy"),
        (dict(position_noise=-1.0), "position_noise"),
    ],
)
def test_simulator_rejects_bad_policy_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mt.data.simulate_shop(n_users=20, n_items=10, n_impressions=100, **kwargs)


# ------------------------------------------------------------------------------ estimator
@pytest.fixture(scope="module")
def biased_shop():
    # random positions and a strong position effect: the tower's target is -1.0 * log2(position)
    shop = mt.data.simulate_shop(n_users=800, n_items=150, n_impressions=40_000, seed=11, position_bias=1.0)
    return shop.data.drop(columns=["timestamp", "day"])


@pytest.fixture(scope="module")
def tower(biased_shop):
    return mt.MultiTaskLearning(architecture="shared_bottom", position_feature="position", epochs=4, seed=0).fit(
        biased_shop, verbose=0
    )


def test_tower_learns_the_simulated_position_effect(tower):
    bias = tower.position_bias()["click"]
    truth = -1.0 * np.log2(bias.index.to_numpy())
    assert bias.loc[1] == 0.0
    # about 4,000 rows per position and a 4% CTR: lower slots have a few dozen clicks, so the
    # estimates are noisy (standard error ~0.2 at the bottom); the shape must hold
    assert np.corrcoef(bias, truth)[0, 1] > 0.95
    assert np.abs(bias.to_numpy() - truth).max() < 0.8
    slope = np.polyfit(np.log2(bias.index.to_numpy()), bias.to_numpy(), 1)[0]
    assert -1.3 < slope < -0.7


def test_tower_is_absent_from_serving(tower, biased_shop):
    rows = biased_shop.head(200)
    p = tower.predict(rows)
    pd.testing.assert_frame_equal(p, tower.predict(rows.assign(position=9)))
    pd.testing.assert_frame_equal(p, tower.predict(rows.drop(columns="position")))
    # with the tower: the position matters, and position 1 is the position-free prediction
    at_top = tower.predict(rows.assign(position=1), with_position=True)
    np.testing.assert_allclose(at_top, p, rtol=1e-5)
    low = tower.predict(rows.assign(position=10), with_position=True)
    assert (low["click"] < p["click"]).all()
    np.testing.assert_allclose(low["purchase"], p["purchase"])  # only the click gets the bias
    assert "position" not in tower.feature_spec_.columns


def test_get_params_save_and_load_round_trip(tower, biased_shop, tmp_path):
    params = tower.get_params()
    assert params["position_feature"] == "position" and params["position_dropout"] == 0.1
    assert params["position_tasks"] is None
    assert "position_feature='position'" in repr(tower)
    from sklearn.base import clone

    assert clone(tower).get_params() == params
    tower.save(tmp_path / "m")
    loaded = mt.MultiTaskLearning.load(tmp_path / "m")
    assert loaded.get_params() == params
    rows = biased_shop.head(300)
    pd.testing.assert_frame_equal(loaded.predict(rows), tower.predict(rows))
    pd.testing.assert_frame_equal(loaded.predict(rows, with_position=True), tower.predict(rows, with_position=True))
    pd.testing.assert_frame_equal(loaded.position_bias(), tower.position_bias())
    loaded.partial_fit(rows)  # training continues with the tower
    assert loaded.position_bias().loc[1, "click"] == 0.0


def test_same_seed_same_tower(biased_shop):
    rows = biased_shop.head(4000)

    def fit():
        return mt.MultiTaskLearning(architecture="mmoe", position_feature="position", epochs=1, seed=3).fit(
            rows, verbose=0
        )

    a, b = fit(), fit()
    pd.testing.assert_frame_equal(a.position_bias(), b.position_bias())
    pd.testing.assert_frame_equal(a.predict(rows), b.predict(rows))


def test_esmm_and_gradient_methods_with_the_tower(biased_shop):
    rows = biased_shop.head(4000)
    esmm = mt.MultiTaskLearning(architecture="esmm", position_feature="position", epochs=1, seed=0).fit(rows, verbose=0)
    free, shown = esmm.predict(rows), esmm.predict(rows.assign(position=10), with_position=True)
    # pCTCVR at the shown position = shifted pCTR x the (position-free) pCVR
    np.testing.assert_allclose(shown["purchase"], shown["click"] * free["purchase_given_click"], rtol=1e-5)
    np.testing.assert_allclose(shown["purchase_given_click"], free["purchase_given_click"])
    assert esmm.model_.loss_outputs == {"click": "position/click", "purchase": "position/purchase"}
    with pytest.raises(ValueError, match="esmm"):
        mt.MultiTaskLearning(architecture="esmm", position_feature="position", position_tasks=("purchase",)).fit(
            rows, verbose=0
        )
    for gradient in ("pcgrad", "mgda"):
        m = mt.MultiTaskLearning(
            architecture="shared_bottom", gradient=gradient, position_feature="position", epochs=1, seed=0
        ).fit(rows, verbose=0)
        assert m.position_bias()["click"].abs().iloc[1:].min() > 0  # the tower was trained
    both = mt.MultiTaskLearning(
        position_feature="position", position_tasks=("click", "purchase"), epochs=1, seed=0
    ).fit(rows, verbose=0)
    assert list(both.position_bias().columns) == ["click", "purchase"]


@pytest.mark.parametrize(
    "change,kwargs,match",
    [
        (None, dict(position_feature="rank"), "'rank'"),
        (lambda d: d.assign(position=d["position"].astype(float).where(d.index % 7 > 0)), {}, "NaN"),
        (lambda d: d.assign(position=d["position"] + 0.5), {}, "integers >= 1"),
        (lambda d: d.assign(position=d["position"] - 1), {}, "integers >= 1"),
        (None, dict(features=["user_id", "position"]), "also listed in features"),
        (None, dict(position_tasks=("device",)), "not a binary task"),
        (None, dict(position_dropout=1.0), "position_dropout"),
        (None, dict(position_feature=None, position_tasks=("click",)), "needs position_feature"),
        (None, dict(tasks={"purchase": "regression"}), "binary task"),
    ],
)
def test_bad_position_input_is_refused(biased_shop, change, kwargs, match):
    rows = biased_shop.head(500)
    rows = rows if change is None else change(rows)
    args = {"position_feature": "position", "epochs": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        mt.MultiTaskLearning(**args).fit(rows, verbose=0)


def test_with_position_needs_a_tower_and_a_valid_column(biased_shop, tower):
    rows = biased_shop.head(300)
    plain = mt.MultiTaskLearning(epochs=1).fit(rows, verbose=0)
    with pytest.raises(ValueError, match="with_position"):
        plain.predict(rows, with_position=True)
    with pytest.raises(ValueError, match="no position tower"):
        plain.position_bias()
    with pytest.raises(ValueError, match="'position'"):
        tower.predict(rows.drop(columns="position"), with_position=True)
    with pytest.raises(ValueError, match="integers >= 1"):
        tower.predict(rows.assign(position=0), with_position=True)


def test_streaming_fit_refuses_the_tower(biased_shop):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensors(({"user_id": [[1]]}, {"click": [[0.0]]}))
    with pytest.raises(ValueError, match="works with a DataFrame only"):
        mt.MultiTaskLearning(position_feature="position").fit(ds, summary=biased_shop.head(10))
