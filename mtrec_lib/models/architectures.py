"""Build functions: one functional Keras network per multi-task architecture.

Every builder takes the same arguments and returns ``(network, info)``:

* ``network`` maps the raw feature inputs (see :mod:`mtrec_lib.models.features`) to a
  dict of outputs. It is two models in a row: ``network.get_layer("preprocess")``
  (lookups with OOV buckets, scaling; no trainable weights) and
  ``network.get_layer("core")`` (the trainable part, which the estimator trains on
  features preprocessed once up front). Outputs: one probability (binary) or value
  (regression) per task, for ESMM also ``"<second>_given_<first>"`` (pCVR), and for
  gated architectures the gate weights under keys starting with ``"gate/"``.
* ``info`` says which output each task's loss reads (``loss_outputs``), the name of the
  last shared layer (for GradNorm), and the expert names behind every gate column.

With ``position=`` every builder also gets the shallow position tower of Zhao et al.
(RecSys 2019, :class:`~mtrec_lib.models.layers.PositionBias`): a raw input
``"position_index"`` (the 1-based list position) feeds per-position logits that are added
to the listed binary tasks' logits in outputs ``"position/<task>"``, which their losses
read in training. The outputs ``"<task>"`` stay position-free (the probability at
position 1): that is what serving uses. For ESMM the tower shifts the click (first task)
and ``"position/<second>"`` is the shifted pCTR x pCVR.

========================  ===================================================================
``"single_task"``         one full network per task (own embeddings, bottom MLP and tower)
``"shared_bottom"``       hard parameter sharing: one bottom MLP, one tower per task
``"omoe"``                one gate over shared experts, its mixture feeds every tower
``"mmoe"``                one softmax gate per task over shared experts (Ma et al., KDD 2018)
``"cgc"``                 task-specific + shared experts, one gate per task (Tang et al., 2020)
``"ple"``                 ``num_levels`` stacked CGC levels with shared gates inside
``"esmm"``                pCTCVR = pCTR x pCVR over all impressions (Ma et al., SIGIR 2018)
========================  ===================================================================

How the network trains (the second half of this module): :class:`MultiTaskModel` wraps the
network in one ``keras.Model`` subclass with a custom ``train_step``, and
:func:`training_model` gives it its loss weighting and compiles it with Keras' Adam.

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

Examples
--------
>>> import pandas as pd
>>> from mtrec_lib.models.features import FeatureSpec
>>> df = pd.DataFrame({"user_id": [1, 2, 3, 4], "x": [0.1, 0.2, 0.3, 0.4]})
>>> spec = FeatureSpec.infer(df, None, exclude=[])
>>> net, info = build_network("mmoe", {"click": "binary", "buy": "binary"}, spec,
...                           spec.to_arrays(df, "df"), DEFAULT_HYPERPARAMETERS)
>>> sorted(net.output)
['buy', 'click', 'gate/buy', 'gate/click']
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

from mtrec_lib.models.features import FeatureSpec, build_preprocessor, core_inputs, embed_features
from mtrec_lib.models.gradients import GRADIENT_METHODS, combine, gradient_cosines
from mtrec_lib.models.layers import MLP, PLE, LogitShift, MMoE, PositionBias, ProductLayer, Tower, as_units
from mtrec_lib.models.losses import FixedWeights, GradNorm, make_weighting, task_loss

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_HYPERPARAMETERS",
    "POSITION_INPUT",
    "STEPS_PER_EXECUTION",
    "MultiTaskModel",
    "build_network",
    "compile_model",
    "esmm_cvr_name",
    "training_model",
]

#: Name of the network input that carries the list position (position tower only).
POSITION_INPUT = "position_index"

ARCHITECTURES = ("single_task", "shared_bottom", "omoe", "mmoe", "cgc", "ple", "esmm")

#: Small defaults: 100k rows x 5 epochs train in seconds on two CPU cores.
DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "embedding_dim": 8,
    "num_experts": 4,  # mmoe / omoe
    "expert_units": (16,),
    "num_specific_experts": 1,  # cgc / ple: per task
    "num_shared_experts": 2,  # cgc / ple
    "num_levels": 2,  # ple
    "bottom_units": (32,),  # shared_bottom, single_task, esmm towers' first layers
    "tower_units": (8,),
    "dropout": 0.0,
    "l2_embedding": 1e-4,  # L2 penalty on embedding tables (DeepCTR's l2_reg_embedding)
    "learning_rate": 3e-3,
    "batch_size": 512,
    "epochs": 5,
    "patience": 2,  # early stopping when validation_data is given (0: off)
    "monitor": "val_loss",  # what it watches: "val_loss", "val_objective" or "val_<task>_loss"
    "gradnorm_alpha": 1.5,
    "gradnorm_lr": 0.01,
    "dwa_temperature": 2.0,  # loss_weights="dwa": softmax temperature of the loss ratios
    "gradient_cosine": False,  # log grad_cos_<a>_<b> per epoch also with gradient="sum"
    "deterministic": True,  # tf op determinism: same seed, same numbers
}


def esmm_cvr_name(tasks: Mapping[str, str]) -> str:
    """Name of ESMM's pCVR output, e.g. ``"purchase_given_click"``."""
    first, second = list(tasks)
    return f"{second}_given_{first}"


def _slug(name: str) -> str:
    # Layer names become TensorFlow scope names, which must be ASCII: a task such as "点击" is
    # named by its index ("tower_0_") and keeps its own name only as an output key.
    return re.sub(r"[^A-Za-z0-9_]", "_", str(name))[:40]


def _towers(reps, tasks, hp, prefix="tower_"):
    return {
        t: Tower(hp["tower_units"], ty, dropout=hp["dropout"], name=f"{prefix}{i}_{_slug(t)}")(reps[i])
        for i, (t, ty) in enumerate(tasks.items())
    }


def build_network(
    architecture: str,
    tasks: Mapping[str, str],
    spec: FeatureSpec,
    arrays: Mapping[str, Any],
    hyperparameters: Mapping[str, Any],
    position: Mapping[str, Any] | None = None,
):
    """Build the functional network of ``architecture`` (see module docstring).

    Parameters
    ----------
    architecture : str
        One of :data:`ARCHITECTURES`.
    tasks : dict
        ``{task: "binary" | "regression"}``, in output order.
    spec : FeatureSpec
    arrays : dict
        Training inputs (``spec.to_arrays(train)``): lookups and normalisation adapt on them.
    hyperparameters : dict
        Keys of :data:`DEFAULT_HYPERPARAMETERS` (missing ones take the default).
    position : dict, optional
        Adds the shallow position tower: ``{"tasks": [binary tasks whose logit gets the
        bias], "max_position": int, "dropout": float, "seed": int}``.
    """
    hp = {**DEFAULT_HYPERPARAMETERS, **hyperparameters}
    hp["expert_units"] = as_units(hp["expert_units"])
    hp["bottom_units"] = as_units(hp["bottom_units"])
    hp["tower_units"] = as_units(hp["tower_units"], allow_empty=True)
    preprocessor, rows = build_preprocessor(spec, arrays)
    inputs = core_inputs(spec)
    names = list(tasks)
    n_tasks = len(names)
    dim = int(hp["embedding_dim"])
    reg = keras.regularizers.L2(float(hp["l2_embedding"])) if hp["l2_embedding"] else None
    info: dict[str, Any] = {"shared_layer": None, "gates": {}, "loss_outputs": {t: t for t in names}}
    outputs: dict[str, Any] = {}

    if architecture == "single_task":
        reps = []
        for i, t in enumerate(names):
            x = embed_features(spec, inputs, rows, dim, prefix=f"t{i}_{_slug(t)}_", embeddings_regularizer=reg)
            reps.append(MLP(hp["bottom_units"], dropout=hp["dropout"], name=f"bottom_{i}_{_slug(t)}")(x))
        outputs.update(_towers(reps, tasks, hp))
    else:
        x = embed_features(spec, inputs, rows, dim, embeddings_regularizer=reg)
        if architecture == "shared_bottom":
            shared = MLP(hp["bottom_units"], dropout=hp["dropout"], name="shared_bottom")(x)
            outputs.update(_towers([shared] * n_tasks, tasks, hp))
            info["shared_layer"] = "shared_bottom"
        elif architecture in ("mmoe", "omoe"):
            n_gates = n_tasks if architecture == "mmoe" else 1
            reps, gates = MMoE(
                n_gates,
                hp["num_experts"],
                hp["expert_units"],
                dropout=hp["dropout"],
                return_gates=True,
                name=architecture,
            )(x)
            if architecture == "omoe":
                reps = reps * n_tasks
            outputs.update(_towers(reps, tasks, hp))
            experts = [f"expert_{j}" for j in range(hp["num_experts"])]
            gate_names = names if architecture == "mmoe" else ["shared"]
            for g_name, g in zip(gate_names, gates):
                outputs[f"gate/{g_name}"] = g
                info["gates"][f"gate/{g_name}"] = experts
            info["shared_layer"] = architecture
        elif architecture in ("cgc", "ple"):
            levels = 1 if architecture == "cgc" else int(hp["num_levels"])
            s, h = int(hp["num_specific_experts"]), int(hp["num_shared_experts"])
            reps, gates = PLE(
                n_tasks, levels, s, h, hp["expert_units"], dropout=hp["dropout"], return_gates=True, name=architecture
            )(x)
            outputs.update(_towers(reps, tasks, hp))
            shared_experts = [f"shared_expert_{j}" for j in range(h)]
            all_experts = [f"{t}_expert_{j}" for t in names for j in range(s)] + shared_experts
            for lvl, level_gates in enumerate(gates):
                last = lvl == levels - 1
                for k, g in enumerate(level_gates):
                    who = names[k] if k < n_tasks else "shared"
                    key = f"gate/{who}" if last else f"gate/level{lvl}/{who}"
                    outputs[key] = g
                    info["gates"][key] = (
                        all_experts if who == "shared" else [f"{who}_expert_{j}" for j in range(s)] + shared_experts
                    )
            info["shared_layer"] = architecture if h else None
        elif architecture == "esmm":
            first, second = names
            units = hp["bottom_units"] + hp["tower_units"]
            p_ctr = Tower(units, "binary", dropout=hp["dropout"], name=f"tower_ctr_{_slug(first)}")(x)
            p_cvr = Tower(units, "binary", dropout=hp["dropout"], name=f"tower_cvr_{_slug(second)}")(x)
            p_ctcvr = ProductLayer(name="ctcvr")([p_ctr, p_cvr])
            outputs[first] = p_ctr
            outputs[second] = p_ctcvr
            outputs[esmm_cvr_name(tasks)] = p_cvr
        else:  # the estimator validates first; this guards direct callers
            raise ValueError(f"unknown architecture {architecture!r}; choose one of {list(ARCHITECTURES)}.")
    if position is not None:
        _add_position_tower(architecture, tasks, inputs, outputs, info, position)
    core = keras.Model(inputs=inputs, outputs=outputs, name="core")
    raw = {name: keras.Input(shape=t.shape[1:], dtype=t.dtype, name=name) for name, t in preprocessor.input.items()}
    core_in = preprocessor(raw)
    if position is not None:  # the position skips the preprocessing: the tower reads it as it is
        raw[POSITION_INPUT] = keras.Input(shape=(1,), dtype="int64", name=POSITION_INPUT)
        core_in = {**core_in, POSITION_INPUT: raw[POSITION_INPUT]}
    network = keras.Model(inputs=raw, outputs=core(core_in), name=f"{architecture}_network")
    return network, info


def _add_position_tower(architecture, tasks, inputs, outputs, info, position) -> None:
    """The shallow position tower: ``position/<task>`` outputs that the task losses read."""
    biased = list(position["tasks"])
    inputs[POSITION_INPUT] = keras.Input(shape=(1,), dtype="int64", name=POSITION_INPUT)
    bias = PositionBias(
        int(position["max_position"]),
        len(biased),
        dropout=float(position["dropout"]),
        seed=int(position["seed"]),
        name="position_tower",
    )(inputs[POSITION_INPUT])
    for j, t in enumerate(biased):
        outputs[f"position/{t}"] = LogitShift(j, name=f"position_shift_{j}_{_slug(t)}")([outputs[t], bias])
        info["loss_outputs"][t] = f"position/{t}"
    if architecture == "esmm":  # pCTCVR at the shown position = pCTR there x pCVR
        first, second = list(tasks)
        outputs[f"position/{second}"] = ProductLayer(name="position_ctcvr")(
            [outputs[f"position/{first}"], outputs[esmm_cvr_name(tasks)]]
        )
        info["loss_outputs"][second] = f"position/{second}"
    info["position"] = {"tasks": biased, "max_position": int(position["max_position"])}


# --------------------------------------------------------------------------------------------
# How the network trains

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


def training_model(
    network: keras.Model,
    tasks: Mapping[str, str],
    info: Mapping[str, Any],
    hp: Mapping[str, Any],
    *,
    loss_weights: Any = None,
    gradient: str = "sum",
    seed: int = 0,
    compile: bool = True,
) -> MultiTaskModel:
    """The compiled training model around ``network``: the one set-up of ``fit``, ``load`` and streaming.

    Parameters
    ----------
    network : keras.Model
        What trains: the network :func:`build_network` returned, or its ``"core"``.
    tasks : dict
        ``{task: "binary" | "regression"}``.
    info : dict
        The ``info`` of :func:`build_network` (shared layer, loss outputs).
    hp : dict
        Hyperparameters (:data:`DEFAULT_HYPERPARAMETERS` keys).
    loss_weights, gradient, seed
        As in :class:`~mtrec_lib.models.MultiTaskLearning`.
    compile : bool, default True
        Compile with :func:`compile_model` (a saved model without its optimiser state is
        loaded uncompiled: it predicts, and ``partial_fit`` refuses).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"user_id": [1, 2, 3, 4], "x": [0.1, 0.2, 0.3, 0.4]})
    >>> spec = FeatureSpec.infer(df, None, exclude=[])
    >>> tasks = {"click": "binary", "buy": "binary"}
    >>> net, info = build_network("mmoe", tasks, spec, spec.to_arrays(df, "df"), DEFAULT_HYPERPARAMETERS)
    >>> model = training_model(net, tasks, info, DEFAULT_HYPERPARAMETERS, loss_weights="uncertainty")
    >>> type(model.weighting).__name__, type(model.optimizer).__name__
    ('UncertaintyWeighting', 'Adam')
    """
    weighting = make_weighting(
        loss_weights,
        list(tasks),
        list(tasks.values()),
        hp["gradnorm_alpha"],
        hp["gradnorm_lr"],
        hp["dwa_temperature"],
    )
    model = MultiTaskModel(
        network,
        tasks,
        weighting,
        shared_layer=info["shared_layer"],
        loss_outputs=info["loss_outputs"],
        gradient=gradient,
        gradient_cosine=bool(hp["gradient_cosine"]),
        seed=int(seed),
    )
    if compile:
        compile_model(model, hp["learning_rate"])
    return model


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
