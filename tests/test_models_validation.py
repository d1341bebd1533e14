"""Bad input to MultiTaskLearning: a ValueError (TypeError for a non-frame) naming the column, never a graph trace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mtrec_lib as mt
from mtrec_lib.models import MultiTaskLearning

TASKS = {"click": "binary", "purchase": "binary"}


@pytest.fixture(scope="module")
def shop():
    return mt.data.simulate_shop(n_users=40, n_items=20, n_impressions=600, seed=1, ctr=0.3, cvr=0.3).data


@pytest.fixture(scope="module")
def fitted(shop):
    return MultiTaskLearning(tasks=TASKS, epochs=1).fit(shop, verbose=0)


def _fit(df, **kw):
    return MultiTaskLearning(**{"tasks": TASKS, "epochs": 1, **kw}).fit(df, verbose=0)


def _with(shop, col, values):
    df = shop.copy()
    df[col] = values
    return df


# (name, frame builder, constructor kwargs, message fragment) -- errors raised before training starts
FIT_CASES = [
    ("missing label", lambda s: s.drop(columns=["purchase"]), {}, "'purchase'"),
    ("NaN in label", lambda s: _with(s, "click", s["click"].where(s.index != 3)), {}, "'click'"),
    ("label outside {0,1}", lambda s: _with(s, "purchase", s["purchase"] * 2), {}, "'purchase'"),
    ("string label", lambda s: _with(s, "click", s["click"].astype(str)), {}, "'click'"),
    ("NaN in feature", lambda s: _with(s, "item_price", s["item_price"].where(s.index != 5)), {}, "'item_price'"),
    ("NaN in id", lambda s: _with(s, "user_id", s["user_id"].where(s.index != 5)), {}, "'user_id'"),
    (
        "inf in feature",
        lambda s: _with(s, "user_activity", s["user_activity"].replace(s["user_activity"].iloc[0], np.inf)),
        {},
        "'user_activity'",
    ),
    ("empty frame", lambda s: s.iloc[:0], {}, "empty"),
    ("duplicate columns", lambda s: pd.concat([s, s[["device"]]], axis=1), {}, "'device'"),
    ("date column", lambda s: _with(s, "when", pd.to_datetime(s["timestamp"], unit="s")), {}, "'when'"),
    ("features list names a missing column", lambda s: s, {"features": ["user_id", "colour"]}, "'colour'"),
    ("feature is a label", lambda s: s, {"features": ["user_id", "click"]}, "'click'"),
    ("only labels", lambda s: s[["click", "purchase"]], {}, "no feature columns"),
    ("unknown architecture", lambda s: s, {"architecture": "transformer"}, "'transformer'"),
    ("unknown task type", lambda s: s, {"tasks": {"click": "binary", "purchase": "ordinal"}}, "'ordinal'"),
    ("tasks not a dict", lambda s: s, {"tasks": "click"}, "tasks"),
    (
        "esmm with three tasks",
        lambda s: _with(s, "share", s["click"]),
        {"architecture": "esmm", "tasks": {"click": "binary", "purchase": "binary", "share": "binary"}},
        "two binary",
    ),
    (
        "esmm with a regression task",
        lambda s: s,
        {"architecture": "esmm", "tasks": {"click": "binary", "purchase": "regression"}},
        "two binary",
    ),
    (
        "esmm purchase without click",
        lambda s: _with(s, "purchase", 1 - s["click"]),
        {"architecture": "esmm"},
        "'purchase'",
    ),
    ("gradnorm on single_task", lambda s: s, {"architecture": "single_task", "loss_weights": "gradnorm"}, "shared"),
    ("loss weight for unknown task", lambda s: s, {"loss_weights": {"share": 2.0}}, "'share'"),
    ("unknown loss weighting", lambda s: s, {"loss_weights": "equal"}, "'equal'"),
    ("bad hyperparameter value", lambda s: s, {"num_experts": 0}, "num_experts"),
    # checked at every fit, with or without validation data; the message lists what is allowed
    (
        "unknown early-stopping monitor",
        lambda s: s,
        {"monitor": "val_auc"},
        "monitor 'val_auc'; choose one of ['val_loss', 'val_objective', 'val_click_loss', 'val_purchase_loss']",
    ),
    ("monitor names no task", lambda s: s, {"monitor": "val_buy_loss"}, "'val_purchase_loss'"),
]


@pytest.mark.parametrize("name,make,kwargs,fragment", FIT_CASES, ids=[c[0] for c in FIT_CASES])
def test_fit_rejects_bad_input(shop, name, make, kwargs, fragment):
    with pytest.raises(ValueError) as err:
        _fit(make(shop), **kwargs)
    assert fragment in str(err.value)
    assert "Traceback" not in str(err.value) and "tensorflow" not in str(err.value).lower()


def test_unknown_hyperparameter_is_refused_at_construction():
    # Explicit keyword parameters (scikit-learn): a typo fails at once, naming the argument.
    with pytest.raises(TypeError, match="'num_expert'"):
        MultiTaskLearning(num_expert=8)


def test_non_dataframe_input(shop, fitted):
    with pytest.raises(TypeError, match="DataFrame"):
        _fit(shop.to_numpy())
    with pytest.raises(TypeError, match="DataFrame"):
        fitted.predict(shop.to_dict("list"))
    with pytest.raises(TypeError, match="DataFrame"):
        fitted.evaluate([1, 2, 3])


PREDICT_CASES = [
    ("missing feature", lambda s: s.drop(columns=["item_id"]), "'item_id'"),
    ("NaN in feature", lambda s: _with(s, "user_age", s["user_age"].where(s.index != 2)), "'user_age'"),
    ("string in numeric column", lambda s: _with(s, "item_price", s["item_price"].astype(str)), "'item_price'"),
    ("text in integer id column", lambda s: _with(s, "user_id", "u" + s["user_id"].astype(str)), "'user_id'"),
    ("empty frame", lambda s: s.iloc[:0], "empty"),
    ("duplicate columns", lambda s: pd.concat([s, s[["user_id"]]], axis=1), "'user_id'"),
]


@pytest.mark.parametrize("name,make,fragment", PREDICT_CASES, ids=[c[0] for c in PREDICT_CASES])
def test_predict_rejects_bad_input(shop, fitted, name, make, fragment):
    with pytest.raises(ValueError) as err:
        fitted.predict(make(shop))
    assert fragment in str(err.value)


def test_evaluate_needs_labels(shop, fitted):
    with pytest.raises(ValueError, match="'click'"):
        fitted.evaluate(shop.drop(columns=["click"]))


def test_predict_without_labels_and_with_unseen_values_works(shop, fitted):
    new = shop.drop(columns=["click", "purchase"]).head(10).copy()
    new["user_id"] = np.arange(900, 910)  # never seen at fit time
    new["item_category"] = "spaceships"  # unseen category
    pred = fitted.predict(new)
    assert pred.shape == (10, 2) and pred.notna().all().all()


def test_not_fitted_and_bad_level(shop, fitted):
    with pytest.raises(ValueError, match="not fitted yet: call fit first"):
        MultiTaskLearning().predict(shop)
    with pytest.raises(ValueError, match="level"):
        MultiTaskLearning(tasks=TASKS, architecture="ple", epochs=1).fit(shop, verbose=0).gate_weights(shop, level=5)


def test_float_ids_and_bool_features_are_accepted(shop):
    df = shop.copy()
    df["user_id"] = df["user_id"].astype(float)  # e.g. after a merge introduced floats
    df["is_mobile"] = df["device"] != "desktop"
    model = _fit(df)
    assert model.feature_spec_.kinds["user_id"] == "int"
    assert "is_mobile" in model.feature_spec_.numeric
    assert model.predict(df).notna().all().all()
