"""MultiTaskLearning: fit/predict/evaluate on DataFrames, determinism, save/load, gates, params."""
from __future__ import annotations

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
    model = MultiTaskLearning(tasks={"click": "binary", "spend": "regression"}, architecture="shared_bottom",
                              features=["user_id", "item_id", "item_price", "device"], epochs=2)
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
    val_loss = sum(float(task_loss("binary", val[t].to_numpy("float32")[:, None], p[t].to_numpy("float32")[:, None]))
                   for t in TASKS)
    assert val_loss == pytest.approx(h["val_loss"][best], rel=1e-3)


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


def test_uncertainty_weights_move(shop):
    # (GradNorm through the estimator: tests/test_models_architectures.py)
    model = MultiTaskLearning(tasks=TASKS, loss_weights="uncertainty", epochs=2).fit(shop, verbose=0)
    w = [model.history_[f"w_{t}"][-1] for t in TASKS]
    assert not np.allclose(w, 1.0)
    s = model.model_.weighting.log_vars.numpy()
    np.testing.assert_allclose(w, np.exp(-s), rtol=1e-5)  # binary tasks: weight e^{-s}
