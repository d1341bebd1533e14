"""The training wrapper: one ``keras.Model`` subclass with a custom ``train_step``.

:class:`MultiTaskModel` wraps a functional *network* (raw features in, a dict of
outputs out) and trains it on a weighted sum of task losses. Overriding
``train_step`` is the clean way in Keras 3 (TensorFlow backend) to do what
``compile(loss_weights=...)`` cannot: learned uncertainty weights, and GradNorm, whose
weights follow their own gradient computed from per-task gradient norms.

The step also chooses how the task gradients combine (``gradient``, see
:mod:`mtrec_lib.models.gradients`): ``"sum"`` differentiates the weighted sum of the losses
once; ``"pcgrad"`` and ``"mgda"`` differentiate each task's weighted loss separately, combine
the gradients on the *shared* parameters (those that receive a gradient from two or more
tasks: embeddings, shared bottom, experts) and give each task's own parameters (its tower,
its gate) its own gradient (scaled by MGDA's weight).

Logged metrics: ``loss`` is the *plain sum* of the task losses, so runs with different
weightings compare on one scale (early stopping watches ``val_loss`` by default); ``objective``
is the weighted quantity actually minimised; ``<task>_loss`` per task;
``w_<task>`` the task's current effective weight (learned weightings only); and
``grad_cos_<a>_<b>`` the cosine between tasks ``a`` and ``b``'s gradients on the shared
parameters, averaged over the epoch's batches (whenever per-task gradients are computed:
``gradient != "sum"`` or ``gradient_cosine=True``).
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np
from keras import ops

from mtrec_lib.models.gradients import GRADIENT_METHODS, combine, gradient_cosines
from mtrec_lib.models.losses import FixedWeights, GradNorm, task_loss

__all__ = ["MultiTaskModel", "compile_model", "STEPS_PER_EXECUTION"]


#: Optimiser steps per compiled call: trims Keras' per-step Python overhead, a large share of
#: a 2-3 ms step on two cores. Progress bars update every this many steps.
STEPS_PER_EXECUTION = 16


def compile_model(model: keras.Model, learning_rate: float) -> None:
    """Compile a training model with Adam: the one optimiser set-up of ``fit``, ``load`` and streaming.

    Examples
    --------
    >>> net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> compile_model(net, 0.01)
    >>> type(net.optimizer).__name__, round(float(net.optimizer.learning_rate), 6)
    ('Adam', 0.01)
    """
    model.compile(
        optimizer=keras.optimizers.Adam(float(learning_rate)),
        jit_compile=False,
        steps_per_execution=STEPS_PER_EXECUTION,
    )


class _EndEpoch(keras.callbacks.Callback):
    """Tell the loss weighting that an epoch of training has ended (DWA's schedule)."""

    def __init__(self, weighting):
        super().__init__()
        self.weighting = weighting

    def on_epoch_end(self, epoch, logs=None):
        self.weighting.end_epoch()


class MultiTaskModel(keras.Model):
    """Train ``network`` on several tasks with a loss-weighting layer.

    Parameters
    ----------
    network : keras.Model
        Functional model whose outputs are a dict containing every key of ``loss_outputs``.
    task_types : dict
        ``{task: "binary" | "regression"}`` in task order.
    weighting : FixedWeights, UncertaintyWeighting, GradNorm or DynamicWeightAverage
    shared_layer : str, optional
        Name of the network's last shared layer; GradNorm measures gradient norms on its
        kernel(s). Required for GradNorm.
    loss_outputs : dict, optional
        Which network output each task's label is compared with (ESMM: ``purchase`` is
        compared with pCTCVR). Defaults to the task name itself.
    gradient : {"sum", "pcgrad", "mgda"}, default "sum"
        How the task gradients combine on the shared parameters.
    gradient_cosine : bool, default False
        Log the cosine between task gradients also when ``gradient="sum"`` (it costs one
        backward pass per task instead of one in all).
    seed : int, default 0
        Seeds PCGrad's random task order (drawn per step from the seed and the step count,
        so a saved and reloaded model continues the same sequence).
    """

    def __init__(
        self,
        network: keras.Model,
        task_types: Mapping[str, str],
        weighting,
        shared_layer: str | None = None,
        loss_outputs: Mapping[str, str] | None = None,
        gradient: str = "sum",
        gradient_cosine: bool = False,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.network = network
        self.task_names = list(task_types)
        self.task_types = dict(task_types)
        self.weighting = weighting
        self.loss_outputs = dict(loss_outputs or {t: t for t in self.task_names})
        self.shared_layer = shared_layer
        if isinstance(weighting, GradNorm):
            if shared_layer is None:
                raise ValueError(
                    "GradNorm needs a shared layer to measure gradient norms on; this "
                    "architecture has none. Use loss_weights=None, a dict or 'uncertainty'."
                )
        if gradient not in GRADIENT_METHODS:
            raise ValueError(f"unknown gradient {gradient!r}; choose one of {list(GRADIENT_METHODS)}.")
        self.gradient = gradient
        self.seed = int(seed)
        self.per_task_gradients = gradient != "sum" or bool(gradient_cosine)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.objective_tracker = keras.metrics.Mean(name="objective")
        self.task_trackers = {t: keras.metrics.Mean(name=f"{t}_loss") for t in self.task_names}
        pairs = [(a, b) for i, a in enumerate(self.task_names) for b in self.task_names[i + 1 :]]
        self.cosine_trackers = (
            {(a, b): keras.metrics.Mean(name=f"grad_cos_{a}_{b}") for a, b in pairs} if self.per_task_gradients else {}
        )

    @property
    def metrics(self):
        return [self.loss_tracker, self.objective_tracker, *self.task_trackers.values(), *self.cosine_trackers.values()]

    def fit(self, *args, callbacks=None, **kwargs):
        """``keras.Model.fit``, telling the loss weighting when each epoch ends."""
        return super().fit(*args, callbacks=[*(callbacks or []), _EndEpoch(self.weighting)], **kwargs)

    def shared_variables(self) -> list:
        """``[(kernel, first_row)]`` of the last shared layer: GradNorm's ``W``.

        ``first_row`` is where the shared part of a stacked expert kernel starts (CGC keeps
        task-specific and shared experts in one tensor); 0 means the whole kernel.
        """
        return self.network.get_layer(self.shared_layer).last_shared_kernels()

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    def task_losses(self, y, outputs) -> list:
        return [task_loss(self.task_types[t], y[t], outputs[self.loss_outputs[t]]) for t in self.task_names]

    def _logs(self, losses, objective, training: bool) -> dict:
        self.loss_tracker.update_state(ops.sum(ops.stack(losses)))
        self.objective_tracker.update_state(objective)
        for t, loss in zip(self.task_names, losses):
            self.task_trackers[t].update_state(loss)
        logs = {m.name: m.result() for m in self.metrics}
        if not training:  # gradients exist only in training
            for m in self.cosine_trackers.values():
                logs.pop(m.name)
        if training and not isinstance(self.weighting, FixedWeights):  # learned weights: show them move
            w = self.weighting.effective_weights()
            for i, t in enumerate(self.task_names):
                logs[f"w_{t}"] = w[i]
        return logs

    def _forward(self, x, y):
        """Per-task losses and the weighted objective (plus regularisation) of one batch."""
        outputs = self(x, training=True)
        losses = self.task_losses(y, outputs)
        objective = self.weighting.combine(losses)
        if self.losses:
            objective = objective + ops.sum(ops.stack(self.losses))
        return losses, objective

    def train_step(self, data):
        import tensorflow as tf  # custom train_step: TensorFlow backend

        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.per_task_gradients:
            return self._per_task_step(x, y)
        if isinstance(self.weighting, GradNorm):
            return self._gradnorm_step(x, y)
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            losses, objective = self._forward(x, y)
        grads = tape.gradient(objective, variables)
        self.weighting.observe(losses)
        self.optimizer.apply(grads, variables)
        return self._logs(losses, objective, training=True)

    def _gradnorm_norms(self, tape, losses):
        """``||grad_W L_i||`` on the last shared layer (unweighted), for GradNorm."""
        shared = self.shared_variables()
        kernels = [k for k, _ in shared]
        norms = []
        for loss in losses:
            g = tape.gradient(loss, kernels)
            norms.append(
                ops.sqrt(sum(ops.sum(ops.square(gi[start:])) for gi, (_, start) in zip(g, shared) if gi is not None))
            )
        return ops.stack(norms)

    def _gradnorm_step(self, x, y):
        import tensorflow as tf

        variables = self.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            losses, objective = self._forward(x, y)
        grads = tape.gradient(objective, variables)
        norms = self._gradnorm_norms(tape, losses)
        del tape
        # Weights move with this batch's gradients; the network step uses the weights it was
        # computed with (Chen et al. 2018, Algorithm 1).
        self.weighting.update(ops.stack(losses), norms)
        self.optimizer.apply(grads, variables)
        return self._logs(losses, objective, training=True)

    def _per_task_step(self, x, y):
        """One step from separate task gradients: PCGrad, MGDA, or the sum with cosines logged."""
        import tensorflow as tf

        net_vars = list(self.network.trainable_variables)
        own = {id(v) for v in net_vars}
        extra_vars = [v for v in self.trainable_variables if id(v) not in own]  # uncertainty's log-variances
        n_tasks = len(self.task_names)
        with tf.GradientTape(persistent=True) as tape:
            losses, objective = self._forward(x, y)
            # Each task's gradient is that of its weighted loss; the weights themselves are
            # not moved by these gradients (their own gradient comes from the objective).
            w = ops.stop_gradient(ops.cast(self.weighting.effective_weights(), "float32"))
            weighted = [w[i] * ops.cast(losses[i], "float32") for i in range(n_tasks)]
            regularisation = ops.sum(ops.stack(self.losses)) if self.losses else None
        task_grads = [tape.gradient(wl, net_vars) for wl in weighted]
        # Shared = reached by two or more tasks; decided when the step is traced.
        reached = [[g[k] is not None for g in task_grads] for k in range(len(net_vars))]
        shared = [k for k in range(len(net_vars)) if sum(reached[k]) >= 2]

        def dense(g, v):
            return tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)

        flat = ops.stack(
            [
                ops.concatenate([ops.reshape(dense(task_grads[i][k], net_vars[k]), (-1,)) for k in shared], axis=0)
                for i in range(n_tasks)
            ]
        )
        order = None
        if self.gradient == "pcgrad":  # a fresh random task order each step, from (seed, step)
            step = tf.cast(self.optimizer.iterations, tf.int32)
            draw = tf.random.stateless_uniform([n_tasks], seed=tf.stack([tf.constant(self.seed, tf.int32), step]))
            order = tf.argsort(draw)
        update, scale = combine(flat, self.gradient, order)
        grads = [None] * len(net_vars)
        start = 0
        for k in shared:
            size = int(np.prod(net_vars[k].shape))
            grads[k] = ops.reshape(update[start : start + size], net_vars[k].shape)
            start += size
        for k in range(len(net_vars)):
            if grads[k] is None:
                parts = [
                    scale[i] * dense(task_grads[i][k], net_vars[k])
                    for i in range(n_tasks)
                    if task_grads[i][k] is not None
                ]
                grads[k] = sum(parts) if parts else tf.zeros_like(net_vars[k])
        if regularisation is not None:
            reg_grads = tape.gradient(regularisation, net_vars)
            grads = [g if r is None else g + dense(r, v) for g, r, v in zip(grads, reg_grads, net_vars)]
        extra_grads = tape.gradient(objective, extra_vars) if extra_vars else []
        if isinstance(self.weighting, GradNorm):
            self.weighting.update(ops.stack(losses), self._gradnorm_norms(tape, losses))
        del tape
        cos = gradient_cosines(flat)
        for i, a in enumerate(self.task_names):
            for j in range(i + 1, n_tasks):
                self.cosine_trackers[(a, self.task_names[j])].update_state(cos[i, j])
        self.weighting.observe(losses)
        # In the model's own variable order: the optimiser's state is saved and restored in it.
        by_id = {id(v): g for v, g in zip([*net_vars, *extra_vars], [*grads, *extra_grads])}
        variables = self.trainable_variables
        self.optimizer.apply([by_id[id(v)] for v in variables], variables)
        return self._logs(losses, objective, training=True)

    def test_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        outputs = self(x, training=False)
        losses = self.task_losses(y, outputs)
        return self._logs(losses, self.weighting.combine(losses), training=False)

    def predict_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self(x, training=False)
