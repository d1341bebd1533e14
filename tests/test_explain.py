"""mtrec_lib.explain: gate summaries, permutation importance and expert knockout on tiny data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

import mtrec_lib as mt
from mtrec_lib import explain

TASKS = {"click": "binary", "buy": "binary"}


def _frame(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """click depends on x only, buy on x and z; `noise` and `segment` on nothing."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "segment": pd.array(rng.choice(["a", "b", "c"], n), dtype="str"),
            "device": pd.array(rng.choice(["app", "web"], n), dtype="str"),
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
            "noise": rng.normal(size=n),
        }
    )
    df["click"] = (rng.random(n) < 1 / (1 + np.exp(-3 * df["x"]))).astype(int)
    df["buy"] = df["click"] * (rng.random(n) < 1 / (1 + np.exp(-3 * df["z"]))).astype(int)
    return df


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return _frame()


def _fit(data, architecture, **kw):
    params = {"seed": 0, "epochs": 4, "learning_rate": 1e-2, "batch_size": 128, **kw}
    return mt.MultiTaskLearning(tasks=TASKS, architecture=architecture, **params).fit(data, verbose=0)


@pytest.fixture(scope="module")
def mmoe(data):
    return _fit(data, "mmoe", num_experts=3)


@pytest.fixture(scope="module")
def cgc(data):
    return _fit(data, "cgc", num_specific_experts=1, num_shared_experts=2)


# --------------------------------------------------------------------------- gates
def test_expert_utilisation_is_the_mean_gate_weight(mmoe, data):
    util = explain.expert_utilisation(mmoe, data)
    gates = mmoe.gate_weights(data)
    assert list(util.index) == ["click", "buy"] and list(util.columns) == ["expert_0", "expert_1", "expert_2"]
    for task, g in gates.items():
        np.testing.assert_allclose(util.loc[task].to_numpy(), g.mean().to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(util.sum(axis=1), 1.0, atol=1e-5)


def test_expert_utilisation_by_groups(mmoe, data):
    util = explain.expert_utilisation(mmoe, data, by="segment")
    assert list(util.index.names) == ["gate", "segment"]
    assert sorted(util.loc["click"].index) == ["a", "b", "c"]
    manual = mmoe.gate_weights(data)["buy"].groupby(data["segment"]).mean()
    np.testing.assert_allclose(util.loc["buy"].loc[manual.index].to_numpy(), manual.to_numpy(), rtol=1e-6)
    two = explain.expert_utilisation(mmoe, data, by=["segment", "device"])
    assert list(two.index.names) == ["gate", "segment", "device"] and len(two) == 2 * 3 * 2
    np.testing.assert_allclose(two.sum(axis=1), 1.0, atol=1e-5)


def test_cgc_utilisation_marks_unreachable_experts_nan(cgc, data):
    util = explain.expert_utilisation(cgc, data)
    assert set(util.columns) == {"click_expert_0", "buy_expert_0", "shared_expert_0", "shared_expert_1"}
    assert np.isnan(util.loc["click", "buy_expert_0"]) and np.isnan(util.loc["buy", "click_expert_0"])
    np.testing.assert_allclose(util.sum(axis=1, skipna=True), 1.0, atol=1e-5)


def test_effective_experts_formula_and_bounds(mmoe, data):
    eff = explain.effective_experts(mmoe, data)
    w = mmoe.gate_weights(data)["click"].to_numpy(dtype=float)
    per_example = np.exp(-(w * np.log(w)).sum(axis=1)).mean()
    m = w.mean(axis=0)
    assert eff.loc["click", "per_example"] == pytest.approx(per_example, rel=1e-5)
    assert eff.loc["click", "of_mean_gate"] == pytest.approx(np.exp(-(m * np.log(m)).sum()), rel=1e-5)
    assert (eff["n_experts"] == 3).all()
    # concavity of entropy: one example never mixes more experts than the average gate
    assert ((1 <= eff["per_example"]) & (eff["per_example"] <= eff["of_mean_gate"] + 1e-9)).all()
    assert (eff["of_mean_gate"] <= 3 + 1e-9).all()
    by = explain.effective_experts(mmoe, data, by="segment")
    assert list(by.index.names) == ["gate", "segment"] and len(by) == 6


def test_gate_functions_reject_bad_input(mmoe, data):
    with pytest.raises(ValueError, match="'user_segment'"):
        explain.expert_utilisation(mmoe, data, by="user_segment")
    with pytest.raises(NotFittedError, match="MultiTaskLearning is not fitted.*call fit first"):
        explain.expert_utilisation(mt.MultiTaskLearning(tasks=TASKS), data)
    shared = _fit(data.head(200), "shared_bottom", epochs=1)
    with pytest.raises(ValueError, match="no gates"):
        explain.effective_experts(shared, data)
    with pytest.raises(ValueError, match="by must be"):
        explain.expert_utilisation(mmoe, data, by=[])


# --------------------------------------------------------------- permutation importance
def test_permutation_importance_finds_the_generating_features(mmoe, data):
    before = data.copy()
    imp = explain.permutation_importance(mmoe, data, n_repeats=3, seed=0)
    pd.testing.assert_frame_equal(data, before)  # the caller's frame is not shuffled
    assert list(imp.columns) == [
        "task",
        "feature",
        "metric",
        "baseline",
        "importance_mean",
        "importance_std",
        "n_repeats",
    ]
    assert list(imp["task"].unique()) == ["click", "buy"] and len(imp) == 2 * 5
    click = imp[imp.task == "click"].set_index("feature")["importance_mean"]
    buy = imp[imp.task == "buy"].set_index("feature")["importance_mean"]
    assert click.index[0] == "x" and click["x"] > 0.1  # sorted, largest first
    assert buy["z"] > 0.05 and buy["x"] > 0.05  # buy needs a click (x) and z
    assert abs(click["noise"]) < 0.03 and abs(click["z"]) < 0.03
    assert (imp["baseline"][imp.task == "click"] == mmoe.evaluate(data)["click_auc"]).all()


def test_permutation_importance_is_seeded_and_groups_move_together(mmoe, data):
    a = explain.permutation_importance(mmoe, data, task="click", features=["x", "noise"], n_repeats=2, seed=3)
    b = explain.permutation_importance(mmoe, data, task="click", features=["x", "noise"], n_repeats=2, seed=3)
    c = explain.permutation_importance(mmoe, data, task="click", features=["x", "noise"], n_repeats=2, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["importance_mean"], c["importance_mean"])
    g = explain.permutation_importance(
        mmoe, data, task="buy", features={"signal": ["x", "z"], "noise": "noise"}, n_repeats=2, seed=0
    )
    assert list(g["feature"]) == ["signal", "noise"]
    single = explain.permutation_importance(mmoe, data, task="buy", features=["z"], n_repeats=2, seed=0)
    assert g["importance_mean"].iloc[0] > single["importance_mean"].iloc[0]


def test_permutation_importance_logloss_is_signed_as_a_loss(mmoe, data):
    imp = explain.permutation_importance(mmoe, data, task="click", features=["x"], n_repeats=2, metric="logloss")
    assert imp["metric"].iloc[0] == "logloss" and imp["importance_mean"].iloc[0] > 0.05
    assert imp["baseline"].iloc[0] == pytest.approx(mmoe.evaluate(data)["click_logloss"], rel=1e-4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"task": "purchase"}, "unknown task 'purchase'"),
        ({"features": ["price"]}, "'price'.*not a feature"),
        ({"features": {"empty": []}}, "no columns"),
        ({"n_repeats": 0}, "n_repeats"),
        ({"metric": "rmse"}, "does not apply"),
        ({"metric": "accuracy"}, "unknown metric"),
    ],
)
def test_permutation_importance_rejects_bad_arguments(mmoe, data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        explain.permutation_importance(mmoe, data, **kwargs)


def test_permutation_importance_rejects_bad_frames(mmoe, data):
    with pytest.raises(ValueError, match="missing column 'buy'"):
        explain.permutation_importance(mmoe, data.drop(columns="buy"))
    one_class = data[data.click == 0]
    with pytest.raises(ValueError, match="'click' holds one class"):
        explain.permutation_importance(mmoe, one_class, task="click")
    bad = data.assign(click=data.click * 2)
    with pytest.raises(ValueError, match="'click'.*only 0 and 1"):
        explain.permutation_importance(mmoe, bad)


# ----------------------------------------------------------------------- knockout
def test_expert_knockout_restores_the_model(mmoe, data):
    before = mmoe.predict(data)
    ko = explain.expert_knockout(mmoe, data)
    pd.testing.assert_frame_equal(mmoe.predict(data), before)
    assert sorted(ko["expert"].unique()) == ["expert_0", "expert_1", "expert_2"] and len(ko) == 6
    util = explain.expert_utilisation(mmoe, data)
    row = ko[(ko.task == "buy") & (ko.expert == "expert_1")].iloc[0]
    assert row["gate_weight"] == pytest.approx(util.loc["buy", "expert_1"])
    assert row["importance"] == pytest.approx(row["baseline"] - row["knocked_out"])
    # some expert matters: removing it changes the ranking
    assert ko["importance"].abs().max() > 1e-3


def test_expert_knockout_equals_zeroing_by_hand(mmoe, data):
    group = mmoe.network_.get_layer("core").get_layer("mmoe").experts
    k, b = group.kernels[-1].numpy(), group.biases[-1].numpy()
    k2, b2 = k.copy(), b.copy()
    k2[2], b2[2] = 0, 0
    group.kernels[-1].assign(k2)
    group.biases[-1].assign(b2)
    by_hand = mmoe.evaluate(data)["click_auc"]
    group.kernels[-1].assign(k)
    group.biases[-1].assign(b)
    ko = explain.expert_knockout(mmoe, data, task="click").set_index("expert")
    assert ko.loc["expert_2", "knocked_out"] == pytest.approx(by_hand, abs=1e-9)


def test_expert_knockout_cgc_only_reachable_experts(cgc, data):
    ko = explain.expert_knockout(cgc, data)
    assert set(ko[ko.task == "click"]["expert"]) == {"click_expert_0", "shared_expert_0", "shared_expert_1"}
    assert set(ko[ko.task == "buy"]["expert"]) == {"buy_expert_0", "shared_expert_0", "shared_expert_1"}


def test_expert_knockout_ple_and_rejects_gateless(data):
    ple = _fit(data.head(300), "ple", epochs=1, num_levels=2)
    ko = explain.expert_knockout(ple, data)
    assert len(ko) == 2 * 3
    esmm = _fit(data.head(300), "esmm", epochs=1)
    with pytest.raises(ValueError, match="architecture 'esmm' has none"):
        explain.expert_knockout(esmm, data)
