"""The training wrapper: one ``keras.Model`` subclass with a custom ``train_step``.

:class:`MultiTaskModel` wraps a functional *network* (raw features in, a dict of
outputs out) and trains it on a weighted sum of task losses. Overriding
``train_step`` is the clean way in Keras 3 (TensorFlow backend) to do what
``compile(loss_weights=...)`` cannot: learned uncertainty weights, and GradNorm, whose
weights follow their own gradient computed from per-task gradient norms.

Logged metrics: ``loss`` is the *plain sum* of the task losses, so runs with different
weightings compare on one scale (early stopping watches ``val_loss`` by default); ``objective``
is the weighted quantity actually minimised; ``<task>_loss`` per task and
``w_<task>`` the task's current effective weight (learned weightings only).
"""
from __future__ import annotations

from collections.abc import Mapping

import keras
from keras import ops

from mtrec_lib.models.losses import FixedWeights, GradNorm, task_loss

__all__ = ["MultiTaskModel", "FusedAdam"]


@keras.saving.register_keras_serializable(package="mtrec_lib")
class FusedAdam(keras.optimizers.Adam):
    """Keras' Adam, with each update done by TensorFlow's fused ``ResourceApplyAdam`` kernel.

    Same algorithm and hyperparameters as ``keras.optimizers.Adam`` (the tests compare
    them step by step), but one kernel per variable instead of about fifteen small ops:
    on a CPU, with the small models of this book, that is a visible share of every step.
    Falls back to Keras' implementation for AMSGrad and sparse gradients.
    """

    def update_step(self, gradient, variable, learning_rate):
        import tensorflow as tf

        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=m.handle, v=v.handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype), use_locking=False)


class MultiTaskModel(keras.Model):
    """Train ``network`` on several tasks with a loss-weighting layer.

    Parameters
    ----------
    network : keras.Model
        Functional model whose outputs are a dict containing every key of ``loss_outputs``.
    task_types : dict
        ``{task: "binary" | "regression"}`` in task order.
    weighting : FixedWeights, UncertaintyWeighting or GradNorm
    shared_layer : str, optional
        Name of the network's last shared layer; GradNorm measures gradient norms on its
        kernel(s). Required for GradNorm.
    loss_outputs : dict, optional
        Which network output each task's label is compared with (ESMM: ``purchase`` is
        compared with pCTCVR). Defaults to the task name itself.
    """

    def __init__(self, network: keras.Model, task_types: Mapping[str, str], weighting,
                 shared_layer: str | None = None, loss_outputs: Mapping[str, str] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.task_names = list(task_types)
        self.task_types = dict(task_types)
        self.weighting = weighting
        self.loss_outputs = dict(loss_outputs or {t: t for t in self.task_names})
        self.shared_layer = shared_layer
        if isinstance(weighting, GradNorm):
            if shared_layer is None:
                raise ValueError("GradNorm needs a shared layer to measure gradient norms on; this "
                                 "architecture has none. Use loss_weights=None, a dict or 'uncertainty'.")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.objective_tracker = keras.metrics.Mean(name="objective")
        self.task_trackers = {t: keras.metrics.Mean(name=f"{t}_loss") for t in self.task_names}

    @property
    def metrics(self):
        return [self.loss_tracker, self.objective_tracker, *self.task_trackers.values()]

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
        for t, l in zip(self.task_names, losses):
            self.task_trackers[t].update_state(l)
        logs = {m.name: m.result() for m in self.metrics}
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
        if isinstance(self.weighting, GradNorm):
            return self._gradnorm_step(x, y)
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            losses, objective = self._forward(x, y)
        grads = tape.gradient(objective, variables)
        self.optimizer.apply(grads, variables)
        return self._logs(losses, objective, training=True)

    def _gradnorm_step(self, x, y):
        import tensorflow as tf

        variables = self.trainable_variables
        shared = self.shared_variables()
        kernels = [k for k, _ in shared]
        with tf.GradientTape(persistent=True) as tape:
            losses, objective = self._forward(x, y)
        grads = tape.gradient(objective, variables)
        norms = []
        for loss in losses:
            g = tape.gradient(loss, kernels)
            norms.append(ops.sqrt(sum(ops.sum(ops.square(gi[start:])) for gi, (_, start) in zip(g, shared)
                                     if gi is not None)))
        norms = ops.stack(norms)
        del tape
        # Weights move with this batch's gradients; the network step uses the weights it was
        # computed with (Chen et al. 2018, Algorithm 1).
        self.weighting.update(ops.stack(losses), norms)
        self.optimizer.apply(grads, variables)
        return self._logs(losses, objective, training=True)

    def test_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        outputs = self(x, training=False)
        losses = self.task_losses(y, outputs)
        return self._logs(losses, self.weighting.combine(losses), training=False)

    def predict_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self(x, training=False)

