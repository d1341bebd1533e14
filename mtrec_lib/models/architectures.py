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

from mtrec_lib.models.features import FeatureSpec, build_preprocessor, core_inputs, embed_features
from mtrec_lib.models.layers import MLP, PLE, LogitShift, MMoE, PositionBias, ProductLayer, Tower, as_units

__all__ = ["ARCHITECTURES", "DEFAULT_HYPERPARAMETERS", "POSITION_INPUT", "build_network", "esmm_cvr_name"]

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
