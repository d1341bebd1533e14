"""Every architecture builds, trains, predicts, saves and loads; structure matches its paper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mtrec_lib as mt
from mtrec_lib.models import ARCHITECTURES, MultiTaskLearning, build_network
from mtrec_lib.models.features import FeatureSpec

TASKS = {"click": "binary", "purchase": "binary"}


@pytest.fixture(scope="module")
def shop():
    return mt.data.simulate_shop(n_users=50, n_items=25, n_impressions=800, seed=2, ctr=0.3, cvr=0.3).data


def test_architecture_list():
    assert ARCHITECTURES == ("single_task", "shared_bottom", "omoe", "mmoe", "cgc", "ple", "esmm")


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_fit_predict_save_load(shop, architecture, tmp_path):
    model = MultiTaskLearning(tasks=TASKS, architecture=architecture, epochs=1, batch_size=256).fit(shop, verbose=0)
    pred = model.predict(shop)
    assert pred.shape[0] == len(shop) and pred.notna().all().all()
    assert model.count_params() > 1000
    model.save(tmp_path)
    again = MultiTaskLearning.load(tmp_path).predict(shop)
    pd.testing.assert_frame_equal(again, pred)


def _network(shop, architecture, **hp):
    spec = FeatureSpec.infer(shop, None, exclude=list(TASKS))
    hp = {**mt.models.DEFAULT_HYPERPARAMETERS, **hp}
    return build_network(architecture, TASKS, spec, spec.to_arrays(shop, "shop"), hp)


def test_single_task_shares_nothing(shop):
    net, info = _network(shop, "single_task")
    core = net.get_layer("core")
    assert info["shared_layer"] is None
    tables = [layer.name for layer in core.layers if layer.name.endswith("embedding")]
    assert len(tables) == 2  # one embedding table per task
    # a shared-bottom model of the same sizes has one copy of embeddings and bottom, not two
    sb, _ = _network(shop, "shared_bottom")

    def count(weights):
        return sum(int(np.prod(v.shape)) for v in weights)

    sb_core = sb.get_layer("core")
    towers = count(w for layer in sb_core.layers if layer.name.startswith("tower_") for w in layer.trainable_weights)
    assert count(core.trainable_weights) == 2 * (count(sb_core.trainable_weights) - towers) + towers


def test_gate_outputs_per_architecture(shop):
    expected = {
        "omoe": {"gate/shared"},
        "mmoe": {"gate/click", "gate/purchase"},
        "cgc": {"gate/click", "gate/purchase"},
        "ple": {"gate/click", "gate/purchase", "gate/level0/click", "gate/level0/purchase", "gate/level0/shared"},
        "shared_bottom": set(),
        "esmm": set(),
    }
    for arch, gates in expected.items():
        net, info = _network(shop, arch, num_levels=2)
        assert set(info["gates"]) == gates, arch
        assert {k for k in net.output if k.startswith("gate/")} == gates, arch
    _, info = _network(shop, "ple", num_specific_experts=2, num_shared_experts=1)
    assert info["gates"]["gate/click"] == ["click_expert_0", "click_expert_1", "shared_expert_0"]
    assert len(info["gates"]["gate/level0/shared"]) == 2 * 2 + 1


def test_esmm_loss_reads_ctcvr(shop):
    net, info = _network(shop, "esmm")
    assert info["loss_outputs"] == {"click": "click", "purchase": "purchase"}
    assert set(net.output) == {"click", "purchase", "purchase_given_click"}


@pytest.mark.parametrize("architecture", ["omoe", "cgc", "ple"])
def test_gradnorm_runs_on_every_shared_architecture(shop, architecture):
    model = MultiTaskLearning(
        tasks=TASKS, architecture=architecture, loss_weights="gradnorm", epochs=1, batch_size=128
    ).fit(shop, verbose=0)
    w = [model.history_[f"w_{t}"][-1] for t in TASKS]
    assert sum(w) == pytest.approx(2.0, rel=1e-5) and not np.allclose(w, 1.0)


@pytest.fixture(scope="module")
def correlated():
    # The first two of the generator's ten sinusoids (n_sin=2: alpha = 1, 2; beta = 0, 1): non-linear
    # tasks that a small network learns from 2,000 rows in seconds. With the default ten, networks
    # need tens of thousands of rows and dozens of epochs to get past the linear part, too slow here.
    frame = mt.data.make_correlated_tasks(n_samples=3_000, task_correlation=0.8, n_features=20, seed=0, n_sin=2)
    return frame.iloc[:2_000], frame.iloc[2_000:]


def _least_squares_mse(train, test, task):
    x = [c for c in train if c.startswith("x")]
    design_train = np.column_stack([np.ones(len(train)), train[x].to_numpy()])
    design_test = np.column_stack([np.ones(len(test)), test[x].to_numpy()])
    coef = np.linalg.lstsq(design_train, train[task].to_numpy(), rcond=None)[0]
    return float(np.mean((test[task].to_numpy() - design_test @ coef) ** 2))


@pytest.mark.parametrize("architecture", [a for a in ARCHITECTURES if a != "esmm"])
def test_regression_tasks_of_the_mmoe_generator(correlated, architecture):
    # Two regression targets through the same estimator API; every architecture learns their
    # non-linear part: its test MSE is far below that of a linear regression fitted on the same
    # rows (which explains about 80% of the variance; a network that only found the linear part
    # would score about 1.0 of it). Measured: 0.13-0.25 of the linear MSE.
    train, test = correlated
    tasks = {"y1": "regression", "y2": "regression"}
    model = MultiTaskLearning(
        tasks=tasks, architecture=architecture, epochs=8, batch_size=128, learning_rate=1e-2, seed=0
    )
    result = model.fit(train, verbose=0).evaluate(test)
    for task in tasks:
        linear_mse = _least_squares_mse(train, test, task)
        assert result[f"{task}_rmse"] ** 2 < 0.4 * linear_mse, (architecture, task, result, linear_mse)
        assert result[f"{task}_mae"] < result[f"{task}_rmse"] + 1e-12


def test_esmm_refuses_regression_tasks(correlated):
    with pytest.raises(ValueError, match="two binary tasks"):
        MultiTaskLearning(tasks={"y1": "regression", "y2": "regression"}, architecture="esmm").fit(
            correlated[0], verbose=0
        )
