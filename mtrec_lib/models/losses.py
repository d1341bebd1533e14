r"""Multi-task losses and how to weight them.

A multi-task model minimises one number built from the task losses $L_1, \dots, L_T$.
Three ways to build it, each a small Keras layer that holds its own state:

:class:`FixedWeights`
    $L = \sum_i w_i L_i$ with weights you choose (default 1 each).
:class:`UncertaintyWeighting`
    Kendall, Gal & Cipolla (CVPR 2018). Each task learns a log-variance
    $s_i = \log \sigma_i^2$. We follow the paper's forms: for a regression task
    (Gaussian likelihood, eq. 7) the term is $\tfrac12 e^{-s_i} L_i + \tfrac12 s_i$; for
    a binary task (scaled softmax/sigmoid likelihood, eq. 10 with its approximation)
    the term is $e^{-s_i} L_i + \tfrac12 s_i$. (Many implementations drop the
    halves and use $e^{-s_i} L_i + s_i$ for every task; that only rescales $s_i$'s
    optimum.) The $s_i$ are trained with the network by the same optimiser.
:class:`GradNorm`
    Chen et al. (ICML 2018). Weights $w_i$ (start at 1) multiply the task losses. Each
    step measures $G_i = \lVert \nabla_W\, w_i L_i \rVert_2$ on the weights $W$ of the
    last shared layer, the relative inverse training rate
    $r_i = \tilde L_i / \operatorname{mean}_j \tilde L_j$ with
    $\tilde L_i = L_i(t) / L_i(0)$, and moves $w$ down the gradient of
    $L_{grad} = \sum_i \lvert G_i - \bar G\, r_i^{\alpha} \rvert$ (the target
    $\bar G r_i^\alpha$ held constant), then renormalises $\sum_i w_i = T$.

:class:`DynamicWeightAverage`
    Liu, Johns & Davison (CVPR 2019). Weights follow how fast each task's loss falls:
    with $\bar L_i(t)$ the mean training loss of task $i$ in epoch $t$ and
    $r_i = \bar L_i(t-1) / \bar L_i(t-2)$, epoch $t$ uses
    $w_i(t) = T \exp(r_i / \tau) / \sum_j \exp(r_j / \tau)$ (temperature $\tau = 2$);
    the first two epochs use $w_i = 1$. A task whose loss stalls ($r_i$ near 1) gains
    weight over one that still falls fast.

:func:`task_loss` gives the per-task loss: mean binary cross-entropy for
``"binary"`` tasks, mean squared error for ``"regression"`` tasks.

Examples
--------
>>> import numpy as np
>>> w = UncertaintyWeighting(["binary", "regression"])
>>> float(w.combine([np.float32(0.5), np.float32(2.0)]))  # s = 0: 0.5 + 0.5 * 2.0
1.5
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

__all__ = [
    "task_loss",
    "FixedWeights",
    "UncertaintyWeighting",
    "GradNorm",
    "DynamicWeightAverage",
    "LOSS_WEIGHTINGS",
    "make_weighting",
    "check_loss_weights",
]

#: The named loss weightings ``loss_weights`` accepts besides ``None`` and a dict.
LOSS_WEIGHTINGS = ("uncertainty", "gradnorm", "dwa")

_EPS = 1e-7


def task_loss(task_type: str, y_true, y_pred):
    """Mean loss of one task over a batch: binary cross-entropy or squared error.

    Examples
    --------
    >>> import numpy as np
    >>> round(float(task_loss("binary", np.array([[1.0]]), np.array([[0.5]]))), 4)
    0.6931
    """
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    if task_type == "binary":
        p = ops.clip(y_pred, _EPS, 1.0 - _EPS)
        return -ops.mean(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    if task_type == "regression":
        return ops.mean(ops.square(y_true - y_pred))
    raise ValueError(f"unknown task type {task_type!r}; choose 'binary' or 'regression'.")


class _Weighting(keras.layers.Layer):
    """Base: ``combine(losses)`` returns the objective; ``weights_now()`` the effective weights."""

    def __init__(self, task_types: Sequence[str], **kwargs):
        super().__init__(**kwargs)
        self.task_types = list(task_types)
        self.built = True  # weights are created in __init__; nothing to build from inputs

    @property
    def num_tasks(self) -> int:
        return len(self.task_types)

    def effective_weights(self):
        raise NotImplementedError

    def observe(self, losses) -> None:
        """Called by the training step with every batch's task losses (DWA keeps epoch means)."""
        del losses  # a body beyond the docstring: AutoGraph cannot convert an empty function

    def end_epoch(self) -> None:
        """Called after every training epoch (DWA computes the next epoch's weights)."""

    def get_state(self) -> dict[str, list[float]]:
        """Variable values as plain lists (saved next to the model as JSON)."""
        return {v.name: np.asarray(v.numpy()).tolist() for v in self.weights}

    def set_state(self, state: Mapping[str, Sequence[float]]) -> None:
        for v in self.weights:
            if v.name in state:
                v.assign(np.asarray(state[v.name], dtype=v.dtype))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "task_types": self.task_types}


class FixedWeights(_Weighting):
    """$L = \\sum_i w_i L_i$ with constant weights (default all 1)."""

    def __init__(self, task_types, weights: Sequence[float] | None = None, **kwargs):
        super().__init__(task_types, **kwargs)
        w = np.ones(len(self.task_types)) if weights is None else np.asarray(weights, dtype=float)
        self.fixed = [float(x) for x in w]
        self.w = self.add_weight(
            name="task_weights",
            shape=(self.num_tasks,),
            trainable=False,
            initializer=keras.initializers.Constant(self.fixed),
        )

    def combine(self, losses):
        return ops.sum(ops.convert_to_tensor(self.w) * ops.stack(losses))

    def effective_weights(self):
        return ops.convert_to_tensor(self.w)

    def get_config(self):
        return {**super().get_config(), "weights": self.fixed}


class UncertaintyWeighting(_Weighting):
    r"""Homoscedastic-uncertainty weighting (Kendall et al., 2018), paper form.

    Term per task: $c_i e^{-s_i} L_i + \tfrac12 s_i$ with $c_i = 1$ (binary) or
    $c_i = \tfrac12$ (regression); $s_i$ starts at 0 and is trainable.
    """

    def __init__(self, task_types, **kwargs):
        super().__init__(task_types, **kwargs)
        self.scale = [1.0 if t == "binary" else 0.5 for t in self.task_types]
        self.log_vars = self.add_weight(name="log_vars", shape=(self.num_tasks,), initializer="zeros", trainable=True)

    def combine(self, losses):
        s = ops.convert_to_tensor(self.log_vars)
        c = ops.convert_to_tensor(np.asarray(self.scale, dtype="float32"))
        # Losses computed in numpy arrive as float64; the log-variances are float32.
        stacked = ops.cast(ops.stack(losses), "float32")
        return ops.sum(c * ops.exp(-s) * stacked + 0.5 * s)

    def effective_weights(self):
        c = ops.convert_to_tensor(np.asarray(self.scale, dtype="float32"))
        return c * ops.exp(-ops.convert_to_tensor(self.log_vars))


class GradNorm(_Weighting):
    """GradNorm loss balancing (Chen et al., ICML 2018).

    Parameters
    ----------
    task_types : list of str
    alpha : float, default 1.5
        Strength of the pull toward equal training rates (0 = equal gradient norms only).
    learning_rate : float, default 0.01
        Learning rate of the weights' own optimiser.
    optimizer : keras optimizer, optional
        Defaults to ``Adam(learning_rate)``; pass ``keras.optimizers.SGD`` to follow
        one step by hand.

    Notes
    -----
    ``G_i = w_i * ||grad_W L_i||``, so with the target held constant
    ``dL_grad/dw_i = sign(G_i - target_i) * ||grad_W L_i||``; :meth:`update` uses that
    closed form (the tests check it against ``tf.GradientTape``). After the step the
    weights are clipped at a small positive floor and renormalised to sum to ``T``.
    """

    def __init__(self, task_types, alpha: float = 1.5, learning_rate: float = 0.01, optimizer=None, **kwargs):
        super().__init__(task_types, **kwargs)
        self.alpha = float(alpha)
        self.learning_rate = float(learning_rate)
        t = self.num_tasks
        self.w = self.add_weight(name="task_weights", shape=(t,), initializer="ones", trainable=False)
        self.initial_losses = self.add_weight(name="initial_losses", shape=(t,), initializer="ones", trainable=False)
        self.initialized = self.add_weight(name="initialized", shape=(), initializer="zeros", trainable=False)
        self.optimizer = optimizer if optimizer is not None else keras.optimizers.Adam(self.learning_rate)
        self.optimizer.build([self.w])

    def combine(self, losses):
        return ops.sum(ops.convert_to_tensor(self.w) * ops.stack(losses))

    def effective_weights(self):
        return ops.convert_to_tensor(self.w)

    def update(self, losses, grad_norms):
        """One GradNorm step on the weights.

        Parameters
        ----------
        losses : tensor (T,)
            This batch's task losses ``L_i(t)``.
        grad_norms : tensor (T,)
            ``||grad_W L_i||`` on the last shared layer (unweighted).

        Returns
        -------
        The GradNorm loss ``L_grad`` (for logging).
        """
        losses = ops.stop_gradient(ops.cast(losses, "float32"))
        grad_norms = ops.stop_gradient(ops.cast(grad_norms, "float32"))
        first = ops.equal(ops.convert_to_tensor(self.initialized), 0.0)
        l0 = ops.where(first, losses, ops.convert_to_tensor(self.initial_losses))
        self.initial_losses.assign(l0)
        self.initialized.assign(1.0)
        w = ops.convert_to_tensor(self.w)
        g = w * grad_norms  # G_i = ||grad_W (w_i L_i)||
        ratio = losses / ops.maximum(l0, _EPS)  # inverse training rate L~_i
        r = ratio / ops.mean(ratio)
        target = ops.mean(g) * ops.power(r, self.alpha)  # held constant
        l_grad = ops.sum(ops.abs(g - target))
        grad_w = ops.sign(g - target) * grad_norms
        self.optimizer.apply([grad_w], [self.w])
        w_new = ops.maximum(ops.convert_to_tensor(self.w), 1e-3)
        self.w.assign(w_new * self.num_tasks / ops.sum(w_new))
        return l_grad

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "learning_rate": self.learning_rate}


class DynamicWeightAverage(_Weighting):
    r"""Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019, eq. 7).

    Parameters
    ----------
    task_types : list of str
    temperature : float, default 2.0
        $\tau$: large values flatten the weights toward 1 (the paper uses 2).

    Notes
    -----
    The weights change only between epochs: the training step passes each batch's task
    losses to :meth:`observe`, which sums them; :meth:`end_epoch` (called by
    :class:`~mtrec_lib.models.MultiTaskModel` after every epoch) turns the sums into the
    epoch's mean losses $\bar L_i(t)$, keeps the last two, and from the third epoch on
    sets $w_i = T \operatorname{softmax}_i(r / \tau)$ with
    $r_i = \bar L_i(t-1) / \bar L_i(t-2)$. The paper's implementation averages the loss
    over an epoch's batches in the same way. All of this state is saved with the model,
    so ``partial_fit`` continues the schedule (each call's epochs count).

    Examples
    --------
    >>> import numpy as np
    >>> dwa = DynamicWeightAverage(["binary", "binary"])
    >>> for epoch_losses in ([1.0, 1.0], [0.5, 0.9]):      # task 1 learns fast, task 2 stalls
    ...     dwa.observe(np.array(epoch_losses, "float32")); dwa.end_epoch()
    >>> np.asarray(dwa.effective_weights(), float).round(3).tolist()   # 2 softmax([0.5, 0.9] / 2)
    [0.9, 1.1]
    """

    def __init__(self, task_types, temperature: float = 2.0, **kwargs):
        super().__init__(task_types, **kwargs)
        if not float(temperature) > 0:
            raise ValueError(f"dwa_temperature must be > 0, got {temperature!r}.")
        self.temperature = float(temperature)
        t = self.num_tasks
        self.w = self.add_weight(name="task_weights", shape=(t,), initializer="ones", trainable=False)
        self.loss_sum = self.add_weight(name="epoch_loss_sum", shape=(t,), initializer="zeros", trainable=False)
        self.batches = self.add_weight(name="epoch_batches", shape=(), initializer="zeros", trainable=False)
        self.last = self.add_weight(name="mean_loss_last_epoch", shape=(t,), initializer="ones", trainable=False)
        self.before = self.add_weight(name="mean_loss_epoch_before", shape=(t,), initializer="ones", trainable=False)
        self.epochs = self.add_weight(name="epochs_seen", shape=(), initializer="zeros", trainable=False)

    def combine(self, losses):
        return ops.sum(ops.convert_to_tensor(self.w) * ops.cast(ops.stack(losses), "float32"))

    def effective_weights(self):
        return ops.convert_to_tensor(self.w)

    def observe(self, losses) -> None:
        self.loss_sum.assign(self.loss_sum + ops.stop_gradient(ops.cast(ops.stack(losses), "float32")))
        self.batches.assign(self.batches + 1.0)

    def end_epoch(self) -> None:
        n = float(np.asarray(self.batches.numpy()))
        if n == 0:  # an epoch without training batches changes nothing
            return
        mean = np.asarray(self.loss_sum.numpy(), dtype="float64") / n
        self.before.assign(np.asarray(self.last.numpy()))
        self.last.assign(mean.astype("float32"))
        self.epochs.assign(self.epochs + 1.0)
        self.loss_sum.assign(np.zeros(self.num_tasks, "float32"))
        self.batches.assign(0.0)
        if float(np.asarray(self.epochs.numpy())) >= 2:
            r = mean / np.maximum(np.asarray(self.before.numpy(), dtype="float64"), _EPS)
            z = np.exp((r - r.max()) / self.temperature)
            self.w.assign((self.num_tasks * z / z.sum()).astype("float32"))

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


def check_loss_weights(loss_weights, task_names: Sequence[str]) -> list[float] | str | None:
    """Validate the estimator's ``loss_weights``; a dict becomes a list in task order."""
    if loss_weights is None:
        return None
    if isinstance(loss_weights, Mapping):
        unknown = [k for k in loss_weights if k not in task_names]
        if unknown:
            raise ValueError(
                f"loss_weights names task {unknown[0]!r}, which is not one of the tasks {list(task_names)}."
            )
        weights = []
        for t in task_names:
            v = loss_weights.get(t, 1.0)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not np.isfinite(v) or v < 0:
                raise ValueError(f"loss_weights[{t!r}] must be a finite number >= 0, got {v!r}.")
            weights.append(float(v))
        return weights
    if isinstance(loss_weights, str) and loss_weights in LOSS_WEIGHTINGS:
        return loss_weights
    raise ValueError(
        f"unknown loss_weights {loss_weights!r}; use None, a dict of task weights, or one of {list(LOSS_WEIGHTINGS)}."
    )


def make_weighting(
    loss_weights,
    task_names: Sequence[str],
    task_types: Sequence[str],
    gradnorm_alpha: float = 1.5,
    gradnorm_lr: float = 0.01,
    dwa_temperature: float = 2.0,
) -> _Weighting:
    """Build the weighting layer from the estimator's ``loss_weights`` argument.

    ``None`` -> all ones; a dict ``{task: weight}`` (missing tasks weigh 1);
    ``"uncertainty"``; ``"gradnorm"``; ``"dwa"``.
    """
    checked = check_loss_weights(loss_weights, task_names)
    if checked is None:
        return FixedWeights(task_types, name="loss_weighting")
    if isinstance(checked, list):
        return FixedWeights(task_types, checked, name="loss_weighting")
    if loss_weights == "uncertainty":
        return UncertaintyWeighting(task_types, name="loss_weighting")
    if loss_weights == "dwa":
        return DynamicWeightAverage(task_types, temperature=dwa_temperature, name="loss_weighting")
    return GradNorm(task_types, alpha=gradnorm_alpha, learning_rate=gradnorm_lr, name="loss_weighting")
