"""MultiTaskLearning's contract: scikit-learn estimator, pickle, NotFittedError, label leaks,
training-row evaluation, Unicode task names, clear errors on typos, corrupt saves, one set-up."""

from __future__ import annotations

import inspect
import json
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

import mtrec_lib as mt
from mtrec_lib.models import DEFAULT_HYPERPARAMETERS, LabelLeakWarning, MultiTaskLearning
from mtrec_lib.models.features import FeatureSpec, check_label_leaks

TASKS = {"click": "binary", "purchase": "binary"}
FEATURES = ["user_id", "item_id", "position", "device", "item_price"]


@pytest.fixture(scope="module")
def shop():
    return mt.data.simulate_shop(n_users=60, n_items=30, n_impressions=1200, seed=0, ctr=0.3, cvr=0.3).data


@pytest.fixture(scope="module")
def fitted(shop):
    return MultiTaskLearning(features=FEATURES, epochs=1, seed=0, batch_size=128).fit(shop, verbose=0)


@pytest.fixture(scope="module")
def csv():
    return pd.read_csv(mt.data.data_path("user_behavior.csv"))


# --------------------------------------------------------------------------- scikit-learn
def test_constructor_defaults_are_the_hyperparameter_defaults():
    params = MultiTaskLearning().get_params()
    for k, v in DEFAULT_HYPERPARAMETERS.items():
        assert params[k] == v, k
    sig = inspect.signature(MultiTaskLearning.__init__)
    assert not any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())  # no **hyperparameters


def test_clone_repr_set_params_and_tags():
    model = MultiTaskLearning(tasks=TASKS, architecture="cgc", num_shared_experts=3, tower_units=(4,), seed=5)
    twin = clone(model)
    assert twin is not model and twin.get_params() == model.get_params()
    assert " ".join(repr(model).split()) == (
        "MultiTaskLearning(architecture='cgc', num_shared_experts=3, seed=5, "
        "tasks={'click': 'binary', 'purchase': 'binary'}, tower_units=(4,))"
    )
    assert model.set_params(epochs=2, architecture="ple") is model and model.epochs == 2
    with pytest.raises(ValueError, match="Invalid parameter 'epoch'"):
        model.set_params(epoch=3)
    assert hasattr(model, "__sklearn_tags__") and model.__sklearn_tags__().estimator_type is None
    assert "architecture='ple'" in repr(model)


def test_pipeline_fit_and_predict(shop, fitted):
    pipe = Pipeline([("mtl", MultiTaskLearning(features=FEATURES, epochs=1, seed=0, batch_size=128))])
    pipe.fit(shop, mtl__verbose=0)
    pd.testing.assert_frame_equal(pipe.predict(shop), fitted.predict(shop))


def test_retrieval_model_is_a_sklearn_estimator():
    from mtrec_lib.models import JointRetrievalRating

    model = JointRetrievalRating(embedding_dim=4, seed=3)
    assert clone(model).get_params() == model.get_params()
    assert repr(model) == "JointRetrievalRating(embedding_dim=4, seed=3)"
    with pytest.raises(NotFittedError, match="call fit first"):
        model.user_embeddings()


def test_pickle_round_trip_predicts_identically(shop, fitted):
    again = pickle.loads(pickle.dumps(fitted))
    pd.testing.assert_frame_equal(again.predict(shop), fitted.predict(shop), check_exact=True)
    assert again.get_params() == fitted.get_params() and again.history_ == fitted.history_
    np.testing.assert_array_equal(again.train_rows_, fitted.train_rows_)
    # training continues from the same optimiser state
    assert int(again.model_.optimizer.iterations.numpy()) == int(fitted.model_.optimizer.iterations.numpy())
    unfitted = pickle.loads(pickle.dumps(MultiTaskLearning(epochs=3)))
    assert unfitted.epochs == 3 and not hasattr(unfitted, "model_")


@pytest.mark.parametrize(
    "call",
    ["predict", "evaluate", "score", "gate_weights", "save", "position_bias", "count_params", "partial_fit_is_fit"],
)
def test_not_fitted_raises_not_fitted_error(shop, tmp_path, call):
    model = MultiTaskLearning(features=FEATURES, epochs=1)
    calls = {
        "predict": lambda: model.predict(shop),
        "evaluate": lambda: model.evaluate(shop),
        "score": lambda: model.score(shop),
        "gate_weights": lambda: model.gate_weights(shop),
        "save": lambda: model.save(tmp_path / "m"),
        "position_bias": model.position_bias,
        "count_params": model.count_params,
    }
    if call == "partial_fit_is_fit":  # scikit-learn: partial_fit on an unfitted estimator fits it
        assert model.partial_fit(shop.head(200)).n_fit_calls_ == 1
        return
    with pytest.raises(NotFittedError, match="MultiTaskLearning is not fitted yet: call fit first"):
        calls[call]()


def test_the_optimiser_is_keras_adam(fitted):
    import keras

    assert type(fitted.model_.optimizer) is keras.optimizers.Adam
    assert not hasattr(mt.models.architectures, "FusedAdam")


# --------------------------------------------------------------------------- label leaks
def test_default_features_leave_out_labels_and_time(csv):
    spec = FeatureSpec.infer(csv, None, exclude=list(TASKS))
    assert not {"purchase_30d", "timestamp", "day", "click", "purchase"} & set(spec.columns)
    assert mt.models.LABEL_COLUMNS == ("click", "purchase", "purchase_30d")
    assert mt.models.TIME_COLUMNS == ("timestamp", "day")


def test_article_call_on_the_shipped_csv_does_not_read_the_future(csv):
    train, test = csv[csv["day"] < 20], csv[csv["day"] >= 20]
    with warnings.catch_warnings():
        warnings.simplefilter("error", LabelLeakWarning)  # no leak left with features=None
        model = MultiTaskLearning(epochs=1, seed=0).fit(train, verbose=0)
    assert "purchase_30d" not in model.feature_spec_.columns and "day" not in model.feature_spec_.columns
    future = test.drop(columns=["purchase_30d"])  # rows to predict have no 30-day outcome yet
    assert model.predict(future).shape == (len(test), 2)
    assert model.evaluate(test)["purchase_auc"] < 0.95  # not the leaked 0.9985


def test_a_future_label_as_feature_warns_by_name(csv):
    feats = ["user_id", "item_id", "position", "purchase_30d"]
    with pytest.warns(LabelLeakWarning) as caught:
        check_label_leaks(csv, FeatureSpec.infer(csv, feats, exclude=list(TASKS)), TASKS)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    msg = messages[0]
    assert "'purchase_30d'" in msg and "task 'purchase'" in msg and "AUC 0.9" in msg
    assert "features=[...]" in msg and "df.drop(columns=['purchase_30d'])" in msg


def test_a_label_copy_is_refused_and_an_implied_label_warns(shop):
    df = shop.assign(clicked=shop["click"], not_clicked=1 - shop["click"])
    for col in ("clicked", "not_clicked"):
        with pytest.raises(ValueError, match=f"feature '{col}' is a copy of task 'click'"):
            MultiTaskLearning(features=["user_id", col], epochs=1).fit(df, verbose=0)
    # purchase happens only after a click: the click gives "no purchase" away
    spec = FeatureSpec.infer(shop, ["item_price", "click"], exclude=["purchase"])
    with pytest.warns(LabelLeakWarning, match="'click' is 1 in every row where 'purchase' is 1"):
        check_label_leaks(shop, spec, {"purchase": "binary"})


def test_honest_features_do_not_warn(shop):
    spec = FeatureSpec.infer(shop, None, exclude=list(TASKS))
    with warnings.catch_warnings():
        warnings.simplefilter("error", LabelLeakWarning)
        check_label_leaks(shop, spec, TASKS)


def test_evaluate_on_the_training_rows_warns(shop, fitted):
    with pytest.warns(UserWarning, match=r"evaluating on the training rows \(100%.*method='temporal'"):
        fitted.evaluate(shop)
    other = mt.data.simulate_shop(n_users=60, n_items=30, n_impressions=600, seed=9, ctr=0.3, cvr=0.3).data
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fitted.evaluate(other)  # held-out rows: no warning


def test_one_class_auc_is_nan_with_a_warning_naming_the_task(shop, fitted):
    rows = shop[shop["click"] == 0].tail(100)
    with pytest.warns(UserWarning, match="AUC of 'purchase' is undefined"):
        res = fitted.evaluate(rows)
    assert np.isnan(res["click_auc"]) and np.isnan(res["purchase_auc"]) and np.isfinite(res["click_logloss"])


# --------------------------------------------------------------------------- typos and bad files
def test_a_stray_string_in_a_numeric_column_is_refused(shop):
    df = shop.copy()
    df["item_price"] = df["item_price"].astype(object)
    df.loc[df.index[7], "item_price"] = "12,5"  # a typo; read_csv makes the whole column text
    with pytest.raises(ValueError) as err:
        MultiTaskLearning(features=["user_id", "item_price"], epochs=1).fit(df, verbose=0)
    msg = str(err.value)
    assert "'item_price'" in msg and "'12,5'" in msg and "row 7" in msg
    assert "pd.to_numeric(df['item_price'], errors='coerce')" in msg


def test_text_labels_get_a_mapping_that_works(shop):
    df = shop.assign(click=shop["click"].map({1: "yes", 0: "no"}))
    with pytest.raises(ValueError) as err:
        MultiTaskLearning(features=FEATURES, epochs=1).fit(df, verbose=0)
    msg = str(err.value)
    assert "'click'" in msg and "pd.to_numeric" not in msg
    fix = msg.split("e.g. ")[1].split(" (1 =")[0]
    namespace = {"df": df.copy()}
    exec(fix, namespace)  # the suggested line itself turns the labels into 0/1
    assert namespace["df"]["click"].tolist() == shop["click"].tolist()


def test_a_corrupt_or_incomplete_save_is_named(shop, fitted, tmp_path):
    fitted.save(tmp_path / "m")
    (tmp_path / "m" / "estimator.json").write_text('{"format": "mtrec_lib.Multi')  # cut short
    with pytest.raises(ValueError, match=r"estimator\.json: unreadable.*not a complete saved MultiTaskLearning"):
        MultiTaskLearning.load(tmp_path / "m")
    fitted.save(tmp_path / "n")
    (tmp_path / "n" / "model.keras").unlink()
    with pytest.raises(ValueError, match=r"model\.keras: missing.*save the model again"):
        MultiTaskLearning.load(tmp_path / "n")
    fitted.save(tmp_path / "o")
    meta = json.loads((tmp_path / "o" / "estimator.json").read_text())
    del meta["tasks_"]
    (tmp_path / "o" / "estimator.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"estimator\.json: unreadable \(KeyError"):
        MultiTaskLearning.load(tmp_path / "o")


# --------------------------------------------------------------------------- Unicode task names
@pytest.mark.parametrize(
    "tasks", [{"点击": "binary", "购买": "binary"}, {"click": "binary", "achat_effectué": "binary"}]
)
@pytest.mark.parametrize("architecture", ["mmoe", "single_task", "esmm"])
def test_unicode_task_names(shop, tmp_path, tasks, architecture):
    first, second = tasks
    df = shop.rename(columns={"click": first, "purchase": second})
    train, test = df.iloc[:900], df.iloc[900:]
    model = MultiTaskLearning(tasks=tasks, architecture=architecture, features=FEATURES, epochs=1, seed=0).fit(
        train, verbose=0
    )
    pred = model.predict(test)
    assert list(pred.columns)[:2] == [first, second]
    res = model.evaluate(test)
    assert np.isfinite(res[f"{first}_auc"]) and np.isfinite(res[f"{second}_logloss"])
    assert f"{first}_loss" in model.history_
    model.save(tmp_path / "m")
    loaded = MultiTaskLearning.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.predict(test), pred, check_exact=True)
    assert all(layer.name.isascii() for layer in model.network_.get_layer("core").layers)


# --------------------------------------------------------------------------- one set-up
def test_fit_on_a_dataset_shares_the_set_up(shop):
    import keras
    import tensorflow as tf

    from mtrec_lib.models import streaming

    cols = {c: shop[c].to_numpy() for c in FEATURES}
    ds = tf.data.Dataset.from_tensor_slices((cols, {t: shop[t].to_numpy() for t in TASKS})).batch(128)
    model = MultiTaskLearning(features=FEATURES, epochs=1, seed=0).fit(ds, summary=shop[FEATURES], verbose=0)
    assert type(model.model_.optimizer) is keras.optimizers.Adam and model.n_fit_calls_ == 1
    assert (
        model.feature_spec_.columns
        == MultiTaskLearning(features=FEATURES, epochs=1).fit(shop, verbose=0).feature_spec_.columns
    )
    assert len(model.train_rows_) == 0  # a stream is not hashed; evaluate does not warn
    source = inspect.getsource(streaming)
    assert "estimator._" not in source and "import shards" not in source and "data.shards import" not in source
