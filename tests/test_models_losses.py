"""Loss weighting: one training step of fixed, uncertainty and GradNorm weighting vs a hand computation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtrec_lib.models import MLP, FixedWeights, GradNorm, MultiTaskModel, UncertaintyWeighting, task_loss
from mtrec_lib.models.losses import make_weighting

TASKS = {"click": "binary", "time": "regression"}
LR = 0.1


def _batch(seed=0, n=16):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = {
        "click": (rng.random((n, 1)) < 0.4).astype("float32"),
        "time": rng.normal(1.0, 2.0, size=(n, 1)).astype("float32"),
    }
    return {"x": x}, y


def _model(weighting, seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((3,), name="x")
    h = MLP((4,), name="shared")(inp)
    out = {
        "click": keras.layers.Dense(1, activation="sigmoid", name="click")(h),
        "time": keras.layers.Dense(1, name="time")(h),
    }
    net = keras.Model({"x": inp}, out)
    model = MultiTaskModel(net, TASKS, weighting, shared_layer="shared")
    model.compile(optimizer=keras.optimizers.SGD(LR))
    return model


def _hand_losses(net, x, y):
    """BCE and MSE written out independently of mtrec_lib.models.losses."""
    out = net(x, training=True)
    p = tf.clip_by_value(out["click"], 1e-7, 1 - 1e-7)
    bce = -tf.reduce_mean(y["click"] * tf.math.log(p) + (1 - y["click"]) * tf.math.log(1 - p))
    mse = tf.reduce_mean((y["time"] - out["time"]) ** 2)
    return bce, mse


def _values(variables):
    return [np.array(v.numpy()) for v in variables]


def test_task_loss_matches_numpy():
    y = np.array([[1.0], [0.0], [1.0]], "float32")
    p = np.array([[0.9], [0.2], [0.4]], "float32")
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert float(task_loss("binary", y, p)) == pytest.approx(expected, rel=1e-5)
    assert float(task_loss("regression", y, p)) == pytest.approx(np.mean((y - p) ** 2), rel=1e-6)
    with pytest.raises(ValueError, match="task type"):
        task_loss("ranking", y, p)


def test_fixed_weights_one_step_by_hand():
    x, y = _batch()
    model = _model(FixedWeights(list(TASKS.values()), [2.0, 0.5]))
    net = model.network
    before = _values(net.trainable_variables)
    with tf.GradientTape() as tape:
        bce, mse = _hand_losses(net, x, y)
        objective = 2.0 * bce + 0.5 * mse
    grads = tape.gradient(objective, net.trainable_variables)
    logs = model.train_on_batch(x, y, return_dict=True)
    for b, g, v in zip(before, grads, net.trainable_variables):
        np.testing.assert_allclose(v.numpy(), b - LR * g.numpy(), rtol=1e-5, atol=1e-7)
    assert logs["objective"] == pytest.approx(float(objective), rel=1e-5)
    assert logs["loss"] == pytest.approx(float(bce + mse), rel=1e-5)


def test_uncertainty_weighting_one_step_by_hand():
    x, y = _batch(1)
    weighting = UncertaintyWeighting(list(TASKS.values()))
    model = _model(weighting)
    net = model.network
    before = _values(net.trainable_variables)
    s = tf.Variable(np.zeros(2, "float32"))
    with tf.GradientTape() as tape:
        bce, mse = _hand_losses(net, x, y)
        # Kendall et al. 2018: binary exp(-s) L + s/2, regression 1/2 exp(-s) L + s/2
        objective = tf.exp(-s[0]) * bce + 0.5 * s[0] + 0.5 * tf.exp(-s[1]) * mse + 0.5 * s[1]
    grads = tape.gradient(objective, [*net.trainable_variables, s])
    model.train_on_batch(x, y)
    for b, g, v in zip(before, grads[:-1], net.trainable_variables):
        np.testing.assert_allclose(v.numpy(), b - LR * g.numpy(), rtol=1e-5, atol=1e-7)
    # closed form at s = 0: d/ds_click = 0.5 - L_click, d/ds_time = 0.5 - L_time / 2
    expected_s = -LR * np.array([0.5 - float(bce), 0.5 - 0.5 * float(mse)])
    np.testing.assert_allclose(weighting.log_vars.numpy(), expected_s, rtol=1e-5)
    np.testing.assert_allclose(grads[-1].numpy(), [0.5 - float(bce), 0.5 - 0.5 * float(mse)], rtol=1e-5)


def test_uncertainty_combine_and_weights():
    w = UncertaintyWeighting(["binary", "regression"])
    w.log_vars.assign([np.log(2.0), 0.0])
    # 0.5 * 4 + 0.5 * log 2 + 0.5 * 3 + 0
    assert float(w.combine([4.0, 3.0])) == pytest.approx(2.0 + 0.5 * np.log(2.0) + 1.5, rel=1e-6)
    np.testing.assert_allclose(w.effective_weights().numpy(), [0.5, 0.5], rtol=1e-6)


def _hand_gradnorm(net, x, y, w, l0, alpha, lr_w):
    """GradNorm (Chen et al. 2018) with nested tapes: G_i = ||grad_W (w_i L_i)||."""
    kernel = net.get_layer("shared").dense_layers[-1].kernel
    wv = tf.Variable(w)
    with tf.GradientTape() as outer:
        with tf.GradientTape(persistent=True) as inner:
            losses = _hand_losses(net, x, y)
        g = [inner.gradient(loss, kernel) for loss in losses]
        G = tf.stack([tf.norm(wv[i] * g[i]) for i in range(2)])
        L = np.array([float(v) for v in losses])
        ratio = L / l0
        r = ratio / ratio.mean()
        target = tf.stop_gradient(tf.reduce_mean(G) * r.astype("float32") ** alpha)
        l_grad = tf.reduce_sum(tf.abs(G - target))
    grad_w = outer.gradient(l_grad, wv).numpy()
    new_w = np.maximum(w - lr_w * grad_w, 1e-3)
    return L, new_w * 2 / new_w.sum(), float(l_grad)


def test_gradnorm_two_steps_by_hand():
    alpha, lr_w = 1.5, 0.05
    weighting = GradNorm(list(TASKS.values()), alpha=alpha, optimizer=keras.optimizers.SGD(lr_w))
    model = _model(weighting)
    net = model.network
    w = np.ones(2, "float32")
    l0 = None
    for step in range(2):
        x, y = _batch(10 + step)
        before = _values(net.trainable_variables)
        with tf.GradientTape() as tape:
            bce, mse = _hand_losses(net, x, y)
            objective = w[0] * bce + w[1] * mse  # network step uses the current weights
        grads = tape.gradient(objective, net.trainable_variables)
        L = np.array([float(bce), float(mse)])
        l0 = L if l0 is None else l0  # L_i(0) from the first step
        _, expected_w, _ = _hand_gradnorm(net, x, y, w, l0, alpha, lr_w)
        model.train_on_batch(x, y)
        for b, g, v in zip(before, grads, net.trainable_variables):
            np.testing.assert_allclose(v.numpy(), b - LR * g.numpy(), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(weighting.w.numpy(), expected_w, rtol=1e-4)
        assert weighting.w.numpy().sum() == pytest.approx(2.0, rel=1e-6)  # renormalised to T
        w = weighting.w.numpy().copy()
    np.testing.assert_allclose(weighting.initial_losses.numpy(), l0, rtol=1e-5)
    assert not np.allclose(w, 1.0)  # the weights moved


def test_gradnorm_needs_shared_layer():
    with pytest.raises(ValueError, match="shared layer"):
        MultiTaskModel(keras.Sequential([keras.layers.Dense(1)]), TASKS, GradNorm(list(TASKS.values())))


def test_make_weighting_choices_and_errors():
    names, types = list(TASKS), list(TASKS.values())
    assert isinstance(make_weighting(None, names, types), FixedWeights)
    fixed = make_weighting({"time": 0.25}, names, types)
    np.testing.assert_allclose(fixed.effective_weights().numpy(), [1.0, 0.25])
    assert isinstance(make_weighting("uncertainty", names, types), UncertaintyWeighting)
    assert isinstance(make_weighting("gradnorm", names, types), GradNorm)
    with pytest.raises(ValueError, match="'purchase'"):
        make_weighting({"purchase": 1.0}, names, types)
    with pytest.raises(ValueError, match="'click'"):
        make_weighting({"click": -1.0}, names, types)
    with pytest.raises(ValueError, match="unknown loss_weights"):
        make_weighting("equal", names, types)


def test_uncertainty_combine_accepts_float64_losses():
    # Losses computed with numpy are float64; combine must not fail on the dtype mismatch.
    from mtrec_lib.models.losses import UncertaintyWeighting

    w = UncertaintyWeighting(["binary", "regression"])
    losses = np.array([0.5, 2.0])  # float64; log-variances start at 0, so weights are c_t
    assert float(w.combine(losses)) == pytest.approx(1.0 * 0.5 + 0.5 * 2.0)
