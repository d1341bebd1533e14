"""Layers of mtrec_lib.models: experts, gates, MMoE, CGC, PLE, towers (numbers by hand)."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from mtrec_lib.models import CGC, MLP, PLE, ExpertGroup, LogitShift, MMoE, PositionBias, ProductLayer, Tower


def _np(x):
    return np.asarray(x.numpy()) if hasattr(x, "numpy") else np.asarray(x)


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _relu(z):
    return np.maximum(z, 0.0)


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(7, 5)).astype("float32")


def test_experts_start_from_different_weights(x):
    keras.utils.set_random_seed(0)
    group = ExpertGroup(num_experts=4, units=(6, 3))
    group(x)
    for kernel in group.kernels:
        k = _np(kernel)
        for a, b in itertools.combinations(range(4), 2):
            assert not np.allclose(k[a], k[b]), f"experts {a} and {b} start as copies"
    # each expert is Glorot-uniform on its own (d_in, d_out): limit sqrt(6 / (5 + 6))
    k0 = _np(group.kernels[0])
    limit = np.sqrt(6.0 / (5 + 6))
    assert np.abs(k0).max() <= limit + 1e-6
    assert np.abs(k0).max() > 0.8 * limit


def test_mmoe_experts_and_gates_differ_at_init(x):
    keras.utils.set_random_seed(0)
    layer = MMoE(num_tasks=2, num_experts=3, expert_units=4)
    layer(x)
    k = _np(layer.experts.kernels[0])
    assert not np.allclose(k[0], k[1]) and not np.allclose(k[1], k[2])


def test_expert_group_matches_numpy(x):
    group = ExpertGroup(num_experts=3, units=(4, 2))
    out = _np(group(x))
    k0, b0, k1, b1 = (_np(v) for v in (group.kernels[0], group.biases[0], group.kernels[1], group.biases[1]))
    for e in range(3):
        h = _relu(x @ k0[e] + b0[e])
        np.testing.assert_allclose(out[:, e, :], _relu(h @ k1[e] + b1[e]), rtol=1e-5, atol=1e-6)


def test_mmoe_matches_hand_computation(x):
    layer = MMoE(num_tasks=2, num_experts=3, expert_units=4, return_gates=True)
    outs, gates = layer(x)
    k, b = _np(layer.experts.kernels[0]), _np(layer.experts.biases[0])
    experts = np.stack([_relu(x @ k[e] + b[e]) for e in range(3)], axis=1)  # (n, 3, 4)
    wg = _np(layer.gate.kernel)  # (5, 2*3)
    for t in range(2):
        g = _softmax(x @ wg[:, t * 3 : (t + 1) * 3])
        np.testing.assert_allclose(_np(gates[t]), g, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(_np(outs[t]), np.einsum("ne,neu->nu", g, experts), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(_np(gates[t]).sum(axis=1), 1.0, rtol=1e-6)


def test_omoe_is_mmoe_with_one_gate(x):
    outs, gates = MMoE(num_tasks=1, num_experts=4, expert_units=3, return_gates=True)(x)
    assert len(outs) == 1 and _np(gates[0]).shape == (7, 4)


def test_cgc_task_gate_sees_own_and_shared_experts_only(x):
    layer = CGC(num_tasks=2, num_specific_experts=2, num_shared_experts=1, expert_units=3, return_gates=True)
    outs, gates = layer(x)
    assert [tuple(_np(g).shape) for g in gates] == [(7, 3), (7, 3)]
    k, b = _np(layer.all_experts.kernels[0]), _np(layer.all_experts.biases[0])
    experts = np.stack([_relu(x @ k[e] + b[e]) for e in range(5)], axis=1)  # order: t0 t0 t1 t1 shared
    for t in range(2):
        own = experts[:, [2 * t, 2 * t + 1, 4], :]
        g = _softmax(x @ _np(layer.task_gates[t].kernel))
        np.testing.assert_allclose(_np(outs[t]), np.einsum("ne,neu->nu", g, own), rtol=1e-5, atol=1e-6)
    # task 0's output ignores task 1's experts: perturb them and nothing changes for task 0
    before = _np(outs[0])
    kernel = _np(layer.all_experts.kernels[0])
    kernel[2:4] += 1.0
    layer.all_experts.kernels[0].assign(kernel)
    after_outs, _ = layer(x)
    np.testing.assert_allclose(_np(after_outs[0]), before, rtol=1e-6)
    assert not np.allclose(_np(after_outs[1]), _np(outs[1]))


def test_ple_inner_level_has_shared_gate_over_all_experts(x):
    layer = PLE(
        num_tasks=2, num_levels=2, num_specific_experts=1, num_shared_experts=2, expert_units=4, return_gates=True
    )
    outs, gates = layer(x)
    assert len(outs) == 2 and _np(outs[0]).shape == (7, 4)
    level0, level1 = gates
    # inner level: two task gates over own + shared (1 + 2) and a shared gate over all 2*1 + 2
    assert [tuple(_np(g).shape) for g in level0] == [(7, 3), (7, 3), (7, 4)]
    # last level: task gates only
    assert [tuple(_np(g).shape) for g in level1] == [(7, 3), (7, 3)]
    for g in level0 + level1:
        np.testing.assert_allclose(_np(g).sum(axis=1), 1.0, rtol=1e-6)


def test_ple_second_level_reads_first_level_outputs(x):
    layer = PLE(num_tasks=2, num_levels=2, num_specific_experts=1, num_shared_experts=1, expert_units=3)
    outs = layer(x)
    first = layer.levels[0](x)[0]  # [task0, task1, shared]
    expected = layer.levels[1](first)[0]
    for a, b in zip(outs, expected):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-6)


def test_tower_activation_and_product():
    z = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
    p = _np(Tower((5,), "binary")(z))
    assert p.shape == (4, 1) and ((p > 0) & (p < 1)).all()
    r = Tower((), "regression")
    v = _np(r(z))
    np.testing.assert_allclose(v, z @ _np(r.out.kernel) + _np(r.out.bias), rtol=1e-5)
    np.testing.assert_allclose(_np(ProductLayer()([p, p])), p * p, rtol=1e-6)
    with pytest.raises(ValueError, match="task type"):
        Tower((4,), "ranking")


# Every constructor argument set to a NON-default value: a key that get_config drops makes
# from_config fall back to the default, and the round trip below fails on it.
ROUND_TRIP = [
    (MLP, dict(units=(4, 2), activation="tanh", dropout=0.2), "x"),
    (ExpertGroup, dict(num_experts=3, units=(4, 3), activation="tanh", dropout=0.1), "x"),
    (
        MMoE,
        dict(num_tasks=3, num_experts=2, expert_units=(4, 3), activation="tanh", dropout=0.1, return_gates=True),
        "x",
    ),
    (
        CGC,
        dict(
            num_tasks=3,
            num_specific_experts=2,
            num_shared_experts=1,
            expert_units=(4,),
            activation="tanh",
            dropout=0.1,
            is_last=False,
            return_gates=True,
        ),
        "x",
    ),
    (
        PLE,
        dict(
            num_tasks=3,
            num_levels=3,
            num_specific_experts=2,
            num_shared_experts=1,
            expert_units=(4,),
            activation="tanh",
            dropout=0.1,
            return_gates=True,
        ),
        "x",
    ),
    (Tower, dict(units=(3, 2), task_type="regression", activation="tanh", dropout=0.1), "x"),
    (PositionBias, dict(max_position=5, num_outputs=2, dropout=0.3, seed=7, scale=3.0), "positions"),
    (LogitShift, dict(column=1), "shift"),
]


def _plain(v):
    return list(v) if isinstance(v, tuple) else v


@pytest.mark.parametrize("cls,kwargs,kind", ROUND_TRIP, ids=[c[0].__name__ for c in ROUND_TRIP])
def test_config_round_trip_keeps_every_argument(cls, kwargs, kind, x):
    layer = cls(**kwargs, name="custom")
    config = layer.get_config()
    for k, v in kwargs.items():
        assert _plain(config[k]) == _plain(v), f"get_config drops or changes {k!r}"
    clone = cls.from_config(config)
    assert clone.name == "custom"
    for k, v in kwargs.items():
        assert _plain(clone.get_config()[k]) == _plain(v), f"from_config loses {k!r}"
    # Same behaviour: same outputs on the same input once the weights are copied.
    inputs = {"x": x, "positions": np.array([[1], [2], [5], [9], [3], [1], [4]]), "shift": [x[:, :1], x[:, 1:3]]}[kind]
    a = layer(inputs, training=False)
    clone(inputs, training=False)  # build
    clone.set_weights(layer.get_weights())
    b = clone(inputs, training=False)
    for u, v in zip(keras.tree.flatten(a), keras.tree.flatten(b), strict=True):
        np.testing.assert_array_equal(_np(u), _np(v))


def test_model_with_layers_saves_and_loads(tmp_path, x):
    inp = keras.Input((5,))
    outs, gates = MMoE(2, 3, 4, return_gates=True, name="mmoe")(inp)
    cgc = CGC(2, 1, 1, 4, name="cgc")(inp)
    y = Tower((3,), "binary", name="t0")(outs[0]) + Tower((3,), "binary", name="t1")(cgc[1])
    model = keras.Model(inp, {"y": y, "g": gates[0]})
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    a, b = model(x), loaded(x)
    np.testing.assert_array_equal(_np(a["y"]), _np(b["y"]))
    np.testing.assert_array_equal(_np(a["g"]), _np(b["g"]))


def test_bad_layer_arguments():
    with pytest.raises(ValueError):
        ExpertGroup(num_experts=0)
    with pytest.raises(ValueError):
        MMoE(expert_units=[16, 0])
    with pytest.raises(ValueError):
        CGC(num_specific_experts=0, num_shared_experts=0)
    with pytest.raises(ValueError):
        PLE(num_levels=2, num_shared_experts=0)
