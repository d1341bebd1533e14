"""MultiTaskLearning: fit/predict/evaluate on DataFrames, determinism, save/load, gates, params, partial_fit."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

import mtrec_lib as mt
from mtrec_lib.models import MultiTaskLearning

TASKS = {"click": "binary", "purchase": "binary"}


@pytest.fixture(scope="module")
def shop():
    data = mt.data.simulate_shop(n_users=60, n_items=30, n_impressions=1500, seed=0, ctr=0.3, cvr=0.3).data
    data.index = data.index + 10_000  # a non-default index, to check alignment
    return data


@pytest.fixture(scope="module")
def fitted(shop):
    return MultiTaskLearning(tasks=TASKS, architecture="mmoe", seed=0, epochs=3, batch_size=128).fit(shop, verbose=0)


def test_fit_returns_self_and_predict_aligns(shop, fitted):
    pred = fitted.predict(shop)
    assert list(pred.columns) == ["click", "purchase"]
    assert pred.index.equals(shop.index)
    assert ((pred > 0) & (pred < 1)).all().all()
    sub = shop.sample(50, random_state=1)
    np.testing.assert_allclose(fitted.predict(sub).to_numpy(), pred.loc[sub.index].to_numpy(), rtol=1e-5)


def test_evaluate_keys_and_values(shop, fitted):
    res = fitted.evaluate(shop)
    assert set(res) == {"click_auc", "click_logloss", "purchase_auc", "purchase_logloss"}
    pred = fitted.predict(shop)
    from sklearn.metrics import log_loss, roc_auc_score

    assert res["click_auc"] == pytest.approx(roc_auc_score(shop["click"], pred["click"]))
    assert res["purchase_logloss"] == pytest.approx(log_loss(shop["purchase"], pred["purchase"]), rel=1e-4)
    assert res["click_auc"] > 0.55  # it learned something from 1,500 rows


def test_training_steps_and_history(shop, fitted):
    # 1,500 rows / batch 128 -> 12 steps per epoch (the last one partial), 3 epochs
    assert int(fitted.model_.optimizer.iterations.numpy()) == 36
    assert len(fitted.history_["loss"]) == 3
    assert fitted.history_["loss"][-1] < fitted.history_["loss"][0]


def test_same_seed_same_predictions_other_seed_differs(shop):
    a = MultiTaskLearning(tasks=TASKS, seed=3, epochs=2).fit(shop, verbose=0).predict(shop)
    b = MultiTaskLearning(tasks=TASKS, seed=3, epochs=2).fit(shop, verbose=0).predict(shop)
    c = MultiTaskLearning(tasks=TASKS, seed=4, epochs=2).fit(shop, verbose=0).predict(shop)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert not np.allclose(a.to_numpy(), c.to_numpy())


def test_save_load_round_trip(shop, fitted, tmp_path):
    fitted.save(tmp_path / "model")
    loaded = MultiTaskLearning.load(tmp_path / "model")
    pd.testing.assert_frame_equal(loaded.predict(shop), fitted.predict(shop))
    g1, g2 = fitted.gate_weights(shop.head(20)), loaded.gate_weights(shop.head(20))
    for k in g1:
        pd.testing.assert_frame_equal(g1[k], g2[k])
    assert loaded.get_params() == fitted.get_params()
    assert loaded.evaluate(shop) == fitted.evaluate(shop)
    with pytest.raises(ValueError, match="saved MultiTaskLearning"):
        MultiTaskLearning.load(tmp_path / "nothing-here")


def test_gate_weights_per_example(shop, fitted):
    gates = fitted.gate_weights(shop.head(25))
    assert set(gates) == {"click", "purchase"}
    for g in gates.values():
        assert list(g.columns) == [f"expert_{j}" for j in range(4)]
        assert g.index.equals(shop.head(25).index)
        np.testing.assert_allclose(g.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(gates["click"].to_numpy(), gates["purchase"].to_numpy())


def test_unseen_ids_use_the_oov_bucket(shop, fitted):
    new = shop.head(5).copy()
    new["user_id"] = [10_001, 10_002, 10_003, 10_004, 10_005]
    new["device"] = "smart-fridge"
    pred = fitted.predict(new)
    assert pred.notna().all().all()
    # every unseen user shares the OOV row: rows differing only in the unseen id predict alike
    same = pd.concat([shop.head(1)] * 2)
    same["user_id"] = [99_991, 99_992]
    p = fitted.predict(same).to_numpy()
    np.testing.assert_allclose(p[0], p[1], rtol=1e-6)


def test_regression_task_and_features_argument(shop):
    df = shop.copy()
    df["spend"] = df["purchase"] * df["item_price"] + np.random.default_rng(0).normal(0, 1, len(df))
    model = MultiTaskLearning(
        tasks={"click": "binary", "spend": "regression"},
        architecture="shared_bottom",
        features=["user_id", "item_id", "item_price", "device"],
        epochs=2,
    )
    model.fit(df, verbose=0)
    assert model.feature_spec_.categorical == ["user_id", "item_id", "device"]
    assert model.feature_spec_.numeric == ["item_price"]
    res = model.evaluate(df)
    assert set(res) == {"click_auc", "click_logloss", "spend_rmse", "spend_mae"}
    p = model.predict(df)
    assert res["spend_rmse"] == pytest.approx(float(np.sqrt(np.mean((df["spend"] - p["spend"]) ** 2))), rel=1e-5)
    assert res["spend_mae"] <= res["spend_rmse"]


def test_esmm_outputs_are_consistent(shop):
    model = MultiTaskLearning(tasks=TASKS, architecture="esmm", epochs=2).fit(shop, verbose=0)
    pred = model.predict(shop)
    assert list(pred.columns) == ["click", "purchase", "purchase_given_click"]
    # pCTCVR = pCTR x pCVR
    np.testing.assert_allclose(pred["purchase"], pred["click"] * pred["purchase_given_click"], rtol=1e-5)
    res = model.evaluate(shop)
    assert "purchase_given_click_auc" in res
    with pytest.raises(ValueError, match="no gates"):
        model.gate_weights(shop)


def test_validation_data_and_early_stopping(shop):
    train, val = shop.iloc[:1000], shop.iloc[1000:]
    model = MultiTaskLearning(tasks=TASKS, epochs=30, patience=1, learning_rate=0.05)
    model.fit(train, validation_data=val, verbose=0)
    h = model.history_
    assert "val_loss" in h and "val_click_loss" in h
    assert len(h["loss"]) < 30  # stopped early
    best = int(np.argmin(h["val_loss"]))
    # restore_best_weights: validation loss of the returned model is the best epoch's
    from mtrec_lib.models.losses import task_loss

    p = model.predict(val)
    val_loss = sum(
        float(task_loss("binary", val[t].to_numpy("float32")[:, None], p[t].to_numpy("float32")[:, None]))
        for t in TASKS
    )
    assert val_loss == pytest.approx(h["val_loss"][best], rel=1e-3)


def test_early_stopping_can_monitor_one_task(shop):
    train, val = shop.iloc[:1000], shop.iloc[1000:]
    # the time columns too (features=None leaves them out): they make the two monitors part ways
    kw = dict(
        tasks=TASKS,
        epochs=20,
        patience=2,
        learning_rate=0.02,
        batch_size=128,
        features=[c for c in shop.columns if c not in TASKS],
    )
    model = MultiTaskLearning(monitor="val_purchase_loss", **kw).fit(train, validation_data=val, verbose=0)
    h = model.history_
    best = int(np.argmin(h["val_purchase_loss"]))
    # stopped `patience` epochs after the best purchase loss ...
    assert len(h["loss"]) == best + 1 + 2 < 20
    # ... which is not the best epoch of the summed loss, so the monitor made the difference
    assert int(np.argmin(h["val_loss"])) != best, "fixture no longer separates the two monitors"
    from mtrec_lib.models.losses import task_loss

    p = model.predict(val)  # best weights restored: the purchase loss of the best epoch
    purchase = float(
        task_loss("binary", val["purchase"].to_numpy("float32")[:, None], p["purchase"].to_numpy("float32")[:, None])
    )
    assert purchase == pytest.approx(h["val_purchase_loss"][best], rel=1e-3)
    # the default still watches the sum, and the monitor travels with the parameters
    default = MultiTaskLearning(**kw).fit(train, validation_data=val, verbose=0).history_
    assert len(default["loss"]) == int(np.argmin(default["val_loss"])) + 1 + 2
    assert model.get_params()["monitor"] == "val_purchase_loss" and "monitor='val_purchase_loss'" in repr(model)


def test_verbose_zero_is_quiet(shop, capsys):
    MultiTaskLearning(tasks=TASKS, epochs=1).fit(shop, verbose=0)
    assert capsys.readouterr().out == ""


def test_params_follow_sklearn_conventions(shop):
    from sklearn.base import clone

    model = MultiTaskLearning(tasks=TASKS, architecture="cgc", num_shared_experts=3, seed=5)
    assert not hasattr(model, "model_")  # the constructor only stores
    params = model.get_params()
    assert params["architecture"] == "cgc" and params["num_shared_experts"] == 3 and params["embedding_dim"] == 8
    twin = clone(model)
    assert twin.get_params() == params
    assert model.set_params(architecture="ple", num_levels=3) is model
    assert model.get_params()["num_levels"] == 3 and model.architecture == "ple"
    assert "num_shared_experts=3" in repr(clone(model))


def test_article_default_call(shop):
    # The source article: model = MultiTaskLearning(); model.fit(data); model.evaluate(data)
    model = MultiTaskLearning(epochs=1)
    model.fit(shop, verbose=0)
    assert set(model.evaluate(shop)) == {"click_auc", "click_logloss", "purchase_auc", "purchase_logloss"}
    assert "purchase" not in model.feature_spec_.columns and "click" not in model.feature_spec_.columns
    assert "timestamp" not in model.feature_spec_.columns and "day" not in model.feature_spec_.columns


def test_uncertainty_weights_move(shop):
    # (GradNorm through the estimator: tests/test_models_architectures.py)
    model = MultiTaskLearning(tasks=TASKS, loss_weights="uncertainty", epochs=2).fit(shop, verbose=0)
    w = [model.history_[f"w_{t}"][-1] for t in TASKS]
    assert not np.allclose(w, 1.0)
    s = model.model_.weighting.log_vars.numpy()
    np.testing.assert_allclose(w, np.exp(-s), rtol=1e-5)  # binary tasks: weight e^{-s}


# --------------------------------------------------------------------------- partial_fit (warm start)
@pytest.fixture(scope="module")
def new_day(shop):
    # New rows: another shop (other tastes) over the same ids, plus users 60-79 never seen by fit.
    day = mt.data.simulate_shop(n_users=80, n_items=30, n_impressions=600, seed=1, ctr=0.3, cvr=0.3).data
    day.index = day.index + 50_000
    assert (~day["user_id"].isin(shop["user_id"])).sum() > 50
    return day


def _fit_small(shop, **kw):
    return MultiTaskLearning(**{"tasks": TASKS, "seed": 0, "epochs": 2, "batch_size": 128, **kw}).fit(shop, verbose=0)


def _summed_logloss(model, df):
    res = model.evaluate(df)
    return res["click_logloss"] + res["purchase_logloss"]


def test_partial_fit_on_an_unfitted_estimator_is_fit(shop):
    a = MultiTaskLearning(tasks=TASKS, seed=0, batch_size=128).partial_fit(shop, epochs=2)
    b = MultiTaskLearning(tasks=TASKS, seed=0, batch_size=128).fit(shop, epochs=2, verbose=0)
    np.testing.assert_array_equal(a.predict(shop).to_numpy(), b.predict(shop).to_numpy())
    assert a.history_ == b.history_ and a.n_fit_calls_ == b.n_fit_calls_ == 1


def test_partial_fit_continues_the_weights_and_the_optimiser(shop, new_day):
    import keras

    from mtrec_lib.models.estimator import _run_chunks
    from mtrec_lib.models.features import make_dataset

    model, twin = _fit_small(shop), _fit_small(shop)
    before, loss_before = model.predict(new_day), _summed_logloss(model, new_day)
    steps = int(model.model_.optimizer.iterations.numpy())
    spec = model.feature_spec_
    assert model.partial_fit(new_day, epochs=2, batch_size=100, seed=7) is model
    # 600 rows in batches of 100: 6 more optimiser steps per epoch, on the same optimiser
    assert int(model.model_.optimizer.iterations.numpy()) == steps + 12
    assert model.feature_spec_ is spec  # vocabularies and scaling of the first fit
    after = model.predict(new_day)  # new_day holds users unseen at fit time: OOV ids train and predict
    assert after.notna().all().all() and ((after > 0) & (after < 1)).all().all()
    assert not np.allclose(before.to_numpy(), after.to_numpy())
    assert _summed_logloss(model, new_day) < loss_before  # it learned from the new rows
    fresh = _fit_small(new_day)  # not a refit on the new rows alone
    assert not np.allclose(fresh.predict(new_day).to_numpy(), after.to_numpy(), atol=1e-3)
    # exactly "keep training the fitted Keras model on the new rows": weights, Adam moments, step count
    x = _run_chunks(twin.network_.get_layer("preprocess"), twin.feature_spec_.to_arrays(new_day, "new_day"))
    y = {t: new_day[t].to_numpy(dtype=np.float32) for t in TASKS}
    twin.model_.fit(make_dataset(x, y, 100, shuffle=True, seed=7), epochs=2, verbose=0, shuffle=False)
    np.testing.assert_array_equal(after.to_numpy(), twin.predict(new_day).to_numpy())
    assert isinstance(twin.model_.optimizer, keras.optimizers.Adam)
    # unseen ids keep sharing the one OOV row of the first fit's vocabulary
    same = pd.concat([new_day.head(1)] * 2)
    same["user_id"] = [99_991, 99_992]
    p = model.predict(same).to_numpy()
    np.testing.assert_allclose(p[0], p[1], rtol=1e-6)


def test_partial_fit_is_seeded_and_each_call_reshuffles(shop, new_day):
    def run(*seeds):
        model = _fit_small(shop, epochs=1)
        for s in seeds:
            model.partial_fit(new_day, seed=s)
        return model.predict(shop).to_numpy()

    default = run(None, None)
    # same numbers in another run, and the documented default seeds: seed + 1, seed + 2
    np.testing.assert_array_equal(default, run(1, 2))
    assert not np.allclose(default, run(1, 1))  # the second call's order is not the first's


def test_partial_fit_history_and_time_grow(shop, new_day):
    train, val = shop.iloc[:1000], shop.iloc[1000:]
    model = MultiTaskLearning(tasks=TASKS, epochs=2, batch_size=128).fit(train, validation_data=val, verbose=0)
    seconds = model.fit_seconds_
    model.partial_fit(new_day, epochs=3)
    h = model.history_
    assert isinstance(h, dict) and all(isinstance(v, list) and len(v) == 5 for v in h.values())
    assert np.isfinite(h["loss"]).all() and np.isfinite(h["val_loss"][:2]).all()
    assert np.isnan(h["val_loss"][2:]).all()  # no validation data in partial_fit: NaN, lists stay aligned
    assert model.fit_seconds_ > seconds and model.n_fit_calls_ == 2


PARTIAL_FIT_CASES = [
    ("missing label", lambda d: d.drop(columns=["purchase"]), {}, "'purchase'"),
    ("NaN in label", lambda d: d.assign(click=d["click"].where(d.index != d.index[3])), {}, "'click'"),
    ("label outside {0,1}", lambda d: d.assign(purchase=d["purchase"] * 2), {}, "'purchase'"),
    ("string label", lambda d: d.assign(click=d["click"].astype(str)), {}, "'click'"),
    ("missing feature", lambda d: d.drop(columns=["item_price"]), {}, "'item_price'"),
    ("text in a numeric feature", lambda d: d.assign(item_price="cheap"), {}, "'item_price'"),
    ("NaN in id", lambda d: d.assign(user_id=d["user_id"].where(d.index != d.index[5])), {}, "'user_id'"),
    ("empty frame", lambda d: d.iloc[:0], {}, "empty"),
    ("epochs", lambda d: d, {"epochs": 0}, "epochs"),
    ("batch_size", lambda d: d, {"batch_size": 0}, "batch_size"),
    ("seed", lambda d: d, {"seed": -1}, "seed"),
]


@pytest.mark.parametrize("name,make,kwargs,fragment", PARTIAL_FIT_CASES, ids=[c[0] for c in PARTIAL_FIT_CASES])
def test_partial_fit_rejects_bad_input_before_training(fitted, new_day, name, make, kwargs, fragment):
    steps = int(fitted.model_.optimizer.iterations.numpy())
    with pytest.raises(ValueError, match=fragment):
        fitted.partial_fit(make(new_day), **kwargs)
    assert int(fitted.model_.optimizer.iterations.numpy()) == steps  # nothing trained
    with pytest.raises(TypeError, match="DataFrame"):
        fitted.partial_fit(new_day.to_numpy())


@pytest.mark.parametrize(
    "architecture,loss_weights", [("mmoe", "gradnorm"), ("cgc", "uncertainty"), ("esmm", {"purchase": 2.0})]
)
def test_partial_fit_after_load_continues_exactly(shop, new_day, tmp_path, architecture, loss_weights):
    model = _fit_small(shop, architecture=architecture, loss_weights=loss_weights)
    model.save(tmp_path / "m")
    loaded = MultiTaskLearning.load(tmp_path / "m")
    assert int(loaded.model_.optimizer.iterations.numpy()) == int(model.model_.optimizer.iterations.numpy())
    for m in (model, loaded):
        m.partial_fit(new_day, batch_size=64)
    # same weights, optimiser moments (GradNorm's own optimiser too) and default shuffle seed
    pd.testing.assert_frame_equal(loaded.predict(shop), model.predict(shop), check_exact=True)
    assert loaded.model_.weighting.get_state() == model.model_.weighting.get_state()
    assert loaded.history_ == model.history_ and loaded.n_fit_calls_ == model.n_fit_calls_ == 2
    if architecture == "esmm":  # ESMM's label rule holds for new rows too
        with pytest.raises(ValueError, match="'purchase'"):
            model.partial_fit(new_day.assign(purchase=1 - new_day["click"]))


def test_partial_fit_needs_the_saved_optimiser_state(shop, fitted, tmp_path):
    fitted.save(tmp_path / "m")
    # A save written before the optimiser state (and the checksums) were stored.
    (tmp_path / "m" / "optimizer.npz").unlink()
    meta = json.loads((tmp_path / "m" / "estimator.json").read_text())
    del meta["sha256"]
    (tmp_path / "m" / "estimator.json").write_text(json.dumps(meta))
    old = MultiTaskLearning.load(tmp_path / "m")
    pd.testing.assert_frame_equal(old.predict(shop), fitted.predict(shop))  # it still predicts
    with pytest.raises(ValueError, match="without optimiser state"):
        old.partial_fit(shop)
    old.save(tmp_path / "again")
    assert not (tmp_path / "again" / "optimizer.npz").exists()


def test_save_is_checked_on_load(shop, fitted, tmp_path):
    fitted.save(tmp_path / "m")
    fitted.save(tmp_path / "m")  # saving over a save works, leaves no temp files
    assert sorted(f.name for f in (tmp_path / "m").iterdir()) == [
        "estimator.json",
        "model.keras",
        "optimizer.npz",
        "train_rows.npy",
    ]
    # A folder that mixes two saves (here: another model's network) is refused, naming the file.
    other = MultiTaskLearning(tasks=TASKS, seed=1, epochs=1).fit(shop, verbose=0)
    other.save(tmp_path / "other")
    shutil.copy(tmp_path / "other" / "model.keras", tmp_path / "m" / "model.keras")
    with pytest.raises(ValueError, match=r"model\.keras: changed since estimator\.json"):
        MultiTaskLearning.load(tmp_path / "m")
    (tmp_path / "other" / "optimizer.npz").unlink()  # an interrupted save
    with pytest.raises(ValueError, match=r"optimizer\.npz: missing"):
        MultiTaskLearning.load(tmp_path / "other")
