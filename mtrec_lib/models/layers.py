"""Keras 3 layers for multi-task recommenders: experts, gates, MMoE, CGC and PLE.

Every layer here is registered with :func:`keras.saving.register_keras_serializable`
and has a ``get_config``, so a model built from them saves to the ``.keras`` format
and loads back without ``custom_objects``.

Conventions
-----------
* An *expert* is a small MLP. :class:`ExpertGroup` holds ``num_experts`` of them in
  one stacked kernel of shape ``(num_experts, in_dim, units)`` so that all experts run
  as one matrix product (fast on CPU), while each expert keeps its own weights.
* Each expert's slice of the stacked kernel is drawn independently with Glorot-uniform
  statistics. Experts therefore start *different*; seeding every expert's initialiser
  with the same integer (a known defect in some libraries) makes them start as copies.
* A *gate* is a softmax over experts computed from the layer input (Ma et al., KDD
  2018, eq. 6: ``g_k(x) = softmax(W_gk x)``, no bias). Layers built with
  ``return_gates=True`` return the gate weights too, one ``(batch, n_experts)`` tensor
  per gate, so a chapter can show which expert serves which task.

Examples
--------
>>> import numpy as np
>>> from mtrec_lib.models import MMoE
>>> layer = MMoE(num_tasks=2, num_experts=3, expert_units=8, return_gates=True)
>>> outputs, gates = layer(np.ones((5, 4), dtype="float32"))
>>> [tuple(o.shape) for o in outputs], [tuple(g.shape) for g in gates]
([(5, 8), (5, 8)], [(5, 3), (5, 3)])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

__all__ = ["MLP", "ExpertGroup", "MMoE", "CGC", "PLE", "Tower", "ProductLayer", "PositionBias", "LogitShift"]

_PACKAGE = "mtrec_lib"


def as_units(units: int | Sequence[int], allow_empty: bool = False) -> tuple[int, ...]:
    """Normalise ``16`` or ``[32, 16]`` to a tuple of positive layer widths."""
    if isinstance(units, (int,)) and not isinstance(units, bool):
        units = (units,)
    out = tuple(int(u) for u in units)
    if any(u < 1 for u in out) or (not out and not allow_empty):
        raise ValueError(f"layer widths must be positive integers, got {units!r}.")
    return out


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MLP(keras.layers.Layer):
    """A stack of ``Dense`` layers with the same activation (and optional dropout).

    Parameters
    ----------
    units : int or sequence of int
        Width of each hidden layer; ``()`` makes the layer the identity.
    activation : str, default "relu"
    dropout : float, default 0.0
        Dropout rate applied after every hidden layer while training.

    Examples
    --------
    >>> import numpy as np
    >>> tuple(MLP((8, 4))(np.ones((2, 3), dtype="float32")).shape)
    (2, 4)
    """

    def __init__(self, units=(16,), activation="relu", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = as_units(units, allow_empty=True)
        self.activation = activation
        self.dropout = float(dropout)
        self.dense_layers = [
            keras.layers.Dense(u, activation=activation, name=f"dense_{i}") for i, u in enumerate(self.units)
        ]
        self.dropout_layers = [keras.layers.Dropout(self.dropout) for _ in self.units] if self.dropout else []

    def build(self, input_shape):
        shape = tuple(input_shape)
        for dense in self.dense_layers:
            dense.build(shape)
            shape = shape[:-1] + (dense.units,)
        self.built = True

    def call(self, x, training=None):
        for i, dense in enumerate(self.dense_layers):
            x = dense(x)
            if self.dropout_layers:
                x = self.dropout_layers[i](x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + ((self.units[-1],) if self.units else (input_shape[-1],))

    def last_shared_kernels(self):
        """GradNorm's ``W`` when this MLP is a shared bottom: its last kernel."""
        return [(self.dense_layers[-1].kernel, 0)]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": list(self.units),
            "activation": self.activation,
            "dropout": self.dropout,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ExpertGroup(keras.layers.Layer):
    """``num_experts`` independent MLP experts evaluated as one batched matrix product.

    Input ``(batch, in_dim)``, output ``(batch, num_experts, units[-1])``.

    Layer ``l`` stores ``kernel_l`` of shape ``(num_experts, d_in, d_out)`` and
    ``bias_l`` of shape ``(num_experts, d_out)``; ``kernel_l[e]`` is expert ``e``'s
    weight matrix. The first layer multiplies the shared input by all experts' kernels
    at once (one ``(in_dim, num_experts * units)`` GEMM); deeper layers use an einsum
    with the expert axis as a batch axis.

    Initialisation: ``VarianceScaling(scale=num_experts, mode="fan_avg",
    distribution="uniform")`` on the stacked shape. Keras counts the expert axis as a
    receptive field, so the fans are ``num_experts * d_in`` and ``num_experts * d_out``;
    multiplying the scale by ``num_experts`` gives every expert exactly the
    Glorot-uniform limit ``sqrt(6 / (d_in + d_out))`` while the draws differ per expert.

    Parameters
    ----------
    num_experts : int
    units : int or sequence of int, default (16,)
    activation : str, default "relu"
    dropout : float, default 0.0

    Examples
    --------
    >>> import numpy as np
    >>> g = ExpertGroup(num_experts=3, units=(8, 4))
    >>> tuple(g(np.ones((2, 5), dtype="float32")).shape)
    (2, 3, 4)
    >>> bool(np.allclose(g.kernels[0][0], g.kernels[0][1]))  # experts start different
    False
    """

    def __init__(self, num_experts=4, units=(16,), activation="relu", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if int(num_experts) < 1:
            raise ValueError(f"num_experts must be >= 1, got {num_experts!r}.")
        self.num_experts = int(num_experts)
        self.units = as_units(units)
        self.activation = activation
        self.dropout = float(dropout)
        self._act = keras.activations.get(activation)
        self._dropout_layer = keras.layers.Dropout(self.dropout) if self.dropout else None

    def build(self, input_shape):
        d_in = int(input_shape[-1])
        self.kernels, self.biases = [], []
        for i, d_out in enumerate(self.units):
            self.kernels.append(
                self.add_weight(
                    name=f"kernel_{i}",
                    shape=(self.num_experts, d_in, d_out),
                    initializer=keras.initializers.VarianceScaling(
                        scale=float(self.num_experts), mode="fan_avg", distribution="uniform"
                    ),
                )
            )
            self.biases.append(self.add_weight(name=f"bias_{i}", shape=(self.num_experts, d_out), initializer="zeros"))
            d_in = d_out
        self.built = True

    def call(self, x, training=None):
        e = self.num_experts
        # Layer 0: one GEMM of the shared input against all experts' kernels side by side.
        k0 = self.kernels[0]
        d_in, d_out = k0.shape[1], k0.shape[2]
        flat = ops.reshape(ops.transpose(k0, (1, 0, 2)), (d_in, e * d_out))
        h = ops.reshape(ops.matmul(x, flat), (-1, e, d_out)) + self.biases[0]
        h = self._act(h)
        if self._dropout_layer is not None:
            h = self._dropout_layer(h, training=training)
        for k, b in zip(self.kernels[1:], self.biases[1:]):
            h = self._act(ops.einsum("bed,edu->beu", h, k) + b)
            if self._dropout_layer is not None:
                h = self._dropout_layer(h, training=training)
        return h

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_experts, self.units[-1])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_experts": self.num_experts,
            "units": list(self.units),
            "activation": self.activation,
            "dropout": self.dropout,
        }


def _mix(gates, experts):
    """Gate-weighted sum of experts: ``(b, g, e) x (b, e, u) -> (b, g, u)``."""
    return ops.einsum("bge,beu->bgu", gates, experts)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MMoE(keras.layers.Layer):
    """Multi-gate Mixture-of-Experts (Ma et al., KDD 2018).

    Shared experts ``f_e`` and one softmax gate per task:
    ``y_k = sum_e g_k(x)_e * f_e(x)``. With ``num_tasks=1`` it is the one-gate OMoE.

    Parameters
    ----------
    num_tasks : int, default 2
        Number of gates (= outputs).
    num_experts : int, default 4
    expert_units : int or sequence of int, default (16,)
    activation : str, default "relu"
    dropout : float, default 0.0
    return_gates : bool, default False
        If True, ``call`` returns ``(outputs, gates)``; ``gates[k]`` has shape
        ``(batch, num_experts)`` and rows sum to 1.

    Examples
    --------
    >>> import numpy as np
    >>> outs = MMoE(num_tasks=2, num_experts=4, expert_units=16)(np.ones((3, 10), "float32"))
    >>> len(outs), tuple(outs[0].shape)
    (2, (3, 16))
    """

    def __init__(
        self,
        num_tasks=2,
        num_experts=4,
        expert_units=(16,),
        activation="relu",
        dropout=0.0,
        return_gates=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_tasks = int(num_tasks)
        self.num_experts = int(num_experts)
        self.expert_units = as_units(expert_units)
        self.activation = activation
        self.dropout = float(dropout)
        self.return_gates = bool(return_gates)
        self.experts = ExpertGroup(self.num_experts, self.expert_units, activation, dropout, name="experts")
        # All task gates in one Dense; gate k's kernel is columns k*E:(k+1)*E.
        self.gate = keras.layers.Dense(self.num_tasks * self.num_experts, use_bias=False, name="gates")

    def build(self, input_shape):
        self.experts.build(input_shape)
        self.gate.build(input_shape)
        self.built = True

    def last_shared_kernels(self):
        """GradNorm's ``W``: the experts' last-layer kernels (shared by every task)."""
        return [(self.experts.kernels[-1], 0)]

    def gate_weights(self, x):
        """Softmax gate weights, shape ``(batch, num_tasks, num_experts)``."""
        logits = ops.reshape(self.gate(x), (-1, self.num_tasks, self.num_experts))
        return ops.softmax(logits, axis=-1)

    def call(self, x, training=None):
        experts = self.experts(x, training=training)
        gates = self.gate_weights(x)
        mixed = _mix(gates, experts)
        outputs = [mixed[:, k, :] for k in range(self.num_tasks)]
        if self.return_gates:
            return outputs, [gates[:, k, :] for k in range(self.num_tasks)]
        return outputs

    def compute_output_shape(self, input_shape):
        outs = [(input_shape[0], self.expert_units[-1])] * self.num_tasks
        if self.return_gates:
            return outs, [(input_shape[0], self.num_experts)] * self.num_tasks
        return outs

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_tasks": self.num_tasks,
            "num_experts": self.num_experts,
            "expert_units": list(self.expert_units),
            "activation": self.activation,
            "dropout": self.dropout,
            "return_gates": self.return_gates,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CGC(keras.layers.Layer):
    """Customized Gate Control, one extraction level of PLE (Tang et al., RecSys 2020).

    Each task ``k`` owns ``num_specific_experts`` experts; ``num_shared_experts`` experts
    serve every task. Task ``k``'s gate mixes *its own* experts and the shared ones. When
    the level is not the last one of a PLE stack (``is_last=False``) there is also a
    shared gate over *all* experts, whose output feeds the next level's shared experts.

    Input: one tensor ``(batch, d)`` (first level: every expert sees the same input), or a
    list of ``num_tasks + 1`` tensors ``[task_1, ..., task_T, shared]`` (inner levels).

    Output: a list of ``num_tasks`` tensors ``(batch, expert_units[-1])``, plus the shared
    output as a last element when ``is_last=False``. With ``return_gates=True`` the call
    returns ``(outputs, gates)``; task gates have ``num_specific_experts +
    num_shared_experts`` columns ordered ``[own experts..., shared experts...]``, the
    shared gate (if any) has ``num_tasks * num_specific_experts + num_shared_experts``
    columns ordered ``[task 1's..., ..., task T's..., shared...]``.

    Examples
    --------
    >>> import numpy as np
    >>> outs, gates = CGC(num_tasks=2, num_specific_experts=1, num_shared_experts=2,
    ...                   expert_units=8, return_gates=True)(np.ones((4, 6), "float32"))
    >>> [tuple(g.shape) for g in gates]
    [(4, 3), (4, 3)]
    """

    def __init__(
        self,
        num_tasks=2,
        num_specific_experts=1,
        num_shared_experts=2,
        expert_units=(16,),
        activation="relu",
        dropout=0.0,
        is_last=True,
        return_gates=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_tasks = int(num_tasks)
        self.num_specific_experts = int(num_specific_experts)
        self.num_shared_experts = int(num_shared_experts)
        if (
            self.num_specific_experts < 0
            or self.num_shared_experts < 0
            or (self.num_specific_experts + self.num_shared_experts) < 1
        ):
            raise ValueError(
                "CGC needs at least one expert per task gate "
                f"(got num_specific_experts={num_specific_experts}, "
                f"num_shared_experts={num_shared_experts})."
            )
        self.expert_units = as_units(expert_units)
        self.activation = activation
        self.dropout = float(dropout)
        self.is_last = bool(is_last)
        self.return_gates = bool(return_gates)
        s, h, t = self.num_specific_experts, self.num_shared_experts, self.num_tasks
        self.task_gates = [keras.layers.Dense(s + h, use_bias=False, name=f"gate_task_{k}") for k in range(t)]
        self.shared_gate = None if self.is_last else keras.layers.Dense(t * s + h, use_bias=False, name="gate_shared")

    @property
    def total_experts(self) -> int:
        return self.num_tasks * self.num_specific_experts + self.num_shared_experts

    def build(self, input_shape):
        self._single_input = not isinstance(input_shape, (list, tuple)) or not isinstance(input_shape[0], (list, tuple))
        shapes = [input_shape] * (self.num_tasks + 1) if self._single_input else list(input_shape)
        if len(shapes) != self.num_tasks + 1:
            raise ValueError(f"CGC expects 1 input or {self.num_tasks + 1} inputs, got {len(shapes)}.")
        kw = dict(units=self.expert_units, activation=self.activation, dropout=self.dropout)
        if self._single_input:
            # First level: all experts read the same input, so run them as one group.
            self.all_experts = ExpertGroup(self.total_experts, name="experts", **kw)
            self.all_experts.build(shapes[0])
            self.expert_groups = []
        else:
            self.all_experts = None
            self.expert_groups = []
            for k in range(self.num_tasks):
                if self.num_specific_experts:
                    g = ExpertGroup(self.num_specific_experts, name=f"experts_task_{k}", **kw)
                    g.build(shapes[k])
                    self.expert_groups.append(g)
            if self.num_shared_experts:
                g = ExpertGroup(self.num_shared_experts, name="experts_shared", **kw)
                g.build(shapes[-1])
                self.expert_groups.append(g)
        for k, gate in enumerate(self.task_gates):
            gate.build(shapes[k])
        if self.shared_gate is not None:
            self.shared_gate.build(shapes[-1])
        self.built = True

    def call(self, inputs, training=None):
        t, s = self.num_tasks, self.num_specific_experts
        xs = [inputs] * (t + 1) if not isinstance(inputs, (list, tuple)) else list(inputs)
        if self.all_experts is not None:
            experts = self.all_experts(xs[0], training=training)  # (b, T*s + h, u)
        else:
            # Inner level: task k's experts read task k's input, shared experts the shared one.
            experts = ops.concatenate(
                [g(xs[i], training=training) for i, g in zip(self._group_inputs(), self.expert_groups)], axis=1
            )
        shared = experts[:, t * s :, :]
        outputs, gates = [], []
        for k in range(t):
            own = ops.concatenate([experts[:, k * s : (k + 1) * s, :], shared], axis=1)
            g = ops.softmax(self.task_gates[k](xs[k]), axis=-1)
            outputs.append(ops.einsum("be,beu->bu", g, own))
            gates.append(g)
        if self.shared_gate is not None:
            g = ops.softmax(self.shared_gate(xs[-1]), axis=-1)
            outputs.append(ops.einsum("be,beu->bu", g, experts))
            gates.append(g)
        return (outputs, gates) if self.return_gates else outputs

    def last_shared_kernels(self):
        """GradNorm's ``W``: the shared experts' last-layer kernel (rows of the shared experts)."""
        if self.num_shared_experts == 0:
            raise ValueError("this CGC level has no shared experts, so GradNorm has no shared layer.")
        if self.all_experts is not None:
            return [(self.all_experts.kernels[-1], self.num_tasks * self.num_specific_experts)]
        return [(self.expert_groups[-1].kernels[-1], 0)]

    def _group_inputs(self) -> list[int]:
        """Index into the input list for each expert group (tasks first, shared last)."""
        idx = list(range(self.num_tasks)) if self.num_specific_experts else []
        return idx + ([self.num_tasks] if self.num_shared_experts else [])

    def compute_output_shape(self, input_shape):
        first = input_shape if not isinstance(input_shape[0], (list, tuple)) else input_shape[0]
        n_out = self.num_tasks + (0 if self.is_last else 1)
        outs = [(first[0], self.expert_units[-1])] * n_out
        if not self.return_gates:
            return outs
        gates = [(first[0], self.num_specific_experts + self.num_shared_experts)] * self.num_tasks
        if not self.is_last:
            gates.append((first[0], self.total_experts))
        return outs, gates

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_tasks": self.num_tasks,
            "num_specific_experts": self.num_specific_experts,
            "num_shared_experts": self.num_shared_experts,
            "expert_units": list(self.expert_units),
            "activation": self.activation,
            "dropout": self.dropout,
            "is_last": self.is_last,
            "return_gates": self.return_gates,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PLE(keras.layers.Layer):
    """Progressive Layered Extraction: ``num_levels`` stacked :class:`CGC` levels.

    Inner levels keep a shared gate over all experts whose output feeds the next
    level's shared experts; the last level has task gates only (Tang et al., 2020,
    Fig. 5). ``num_levels=1`` is CGC.

    With ``return_gates=True`` the call returns ``(outputs, gates_per_level)`` where
    ``gates_per_level[l]`` is the gate list of level ``l`` (see :class:`CGC`).

    Examples
    --------
    >>> import numpy as np
    >>> outs = PLE(num_tasks=2, num_levels=2, expert_units=8)(np.ones((3, 5), "float32"))
    >>> [tuple(o.shape) for o in outs]
    [(3, 8), (3, 8)]
    """

    def __init__(
        self,
        num_tasks=2,
        num_levels=2,
        num_specific_experts=1,
        num_shared_experts=2,
        expert_units=(16,),
        activation="relu",
        dropout=0.0,
        return_gates=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_tasks = int(num_tasks)
        self.num_levels = int(num_levels)
        if self.num_levels < 1:
            raise ValueError(f"num_levels must be >= 1, got {num_levels!r}.")
        self.num_specific_experts = int(num_specific_experts)
        self.num_shared_experts = int(num_shared_experts)
        self.expert_units = as_units(expert_units)
        self.activation = activation
        self.dropout = float(dropout)
        self.return_gates = bool(return_gates)
        if self.num_levels > 1 and self.num_shared_experts < 1:
            raise ValueError("PLE with more than one level needs num_shared_experts >= 1.")
        self.levels = [
            CGC(
                self.num_tasks,
                self.num_specific_experts,
                self.num_shared_experts,
                self.expert_units,
                activation,
                dropout,
                is_last=(i == self.num_levels - 1),
                return_gates=True,
                name=f"level_{i}",
            )
            for i in range(self.num_levels)
        ]

    def build(self, input_shape):
        shape = input_shape
        for level in self.levels:
            level.build(shape)
            outs, _ = level.compute_output_shape(shape)
            shape = list(outs)
        self.built = True

    def last_shared_kernels(self):
        return self.levels[-1].last_shared_kernels()

    def call(self, x, training=None):
        all_gates = []
        for level in self.levels:
            x, gates = level(x, training=training)
            all_gates.append(gates)
        return (x, all_gates) if self.return_gates else x

    def compute_output_shape(self, input_shape):
        shape, gate_shapes = input_shape, []
        for level in self.levels:
            shape, g = level.compute_output_shape(shape)
            gate_shapes.append(g)
        return (shape, gate_shapes) if self.return_gates else shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_tasks": self.num_tasks,
            "num_levels": self.num_levels,
            "num_specific_experts": self.num_specific_experts,
            "num_shared_experts": self.num_shared_experts,
            "expert_units": list(self.expert_units),
            "activation": self.activation,
            "dropout": self.dropout,
            "return_gates": self.return_gates,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Tower(keras.layers.Layer):
    """A task tower: hidden MLP then one output unit (sigmoid for binary, linear for regression).

    Examples
    --------
    >>> import numpy as np
    >>> p = Tower(units=(8,), task_type="binary")(np.ones((2, 3), "float32"))
    >>> bool(((p > 0) & (p < 1)).numpy().all())
    True
    """

    def __init__(self, units=(8,), task_type="binary", activation="relu", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if task_type not in ("binary", "regression"):
            raise ValueError(f"unknown task type {task_type!r}; choose 'binary' or 'regression'.")
        self.units = as_units(units, allow_empty=True)
        self.task_type = task_type
        self.activation = activation
        self.dropout = float(dropout)
        self.hidden = MLP(self.units, activation, dropout, name="hidden") if self.units else None
        self.out = keras.layers.Dense(1, name="logit")

    def build(self, input_shape):
        shape = tuple(input_shape)
        if self.hidden is not None:
            self.hidden.build(shape)
            shape = self.hidden.compute_output_shape(shape)
        self.out.build(shape)
        self.built = True

    def call(self, x, training=None):
        if self.hidden is not None:
            x = self.hidden(x, training=training)
        z = self.out(x)
        return ops.sigmoid(z) if self.task_type == "binary" else z

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": list(self.units),
            "task_type": self.task_type,
            "activation": self.activation,
            "dropout": self.dropout,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ProductLayer(keras.layers.Layer):
    """Elementwise product of its inputs: ESMM's ``pCTCVR = pCTR * pCVR``."""

    def call(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PositionBias(keras.layers.Layer):
    """Shallow position tower (Zhao et al., RecSys 2019): one learned logit per list position.

    Input: the 1-based list position, ``(batch, 1)`` integers. Output: ``(batch,
    num_outputs)`` logits, one column per task that gets the bias. The tower is an
    ``Embedding`` of width ``num_outputs`` (the paper's "shallow" tower; a one-hot
    position times a linear layer is the same thing), so it can only learn how
    position shifts a click, never which item is relevant.

    * Position 1 is the reference: its bias is fixed at 0. A bias added to a logit is
      defined only up to a constant shared with the main network's intercept; fixing
      the top slot at 0 makes the main network's output the probability *at position 1*.
    * Positions above ``max_position`` (the largest seen in training) share its bias.
    * In training, each example's position is replaced by "unknown" (row 0, learned)
      with probability ``dropout`` (the paper drops it for 10% of the examples so the
      model does not lean on it too much).
    * The logits are stored divided by ``scale``: Adam moves every parameter by about
      the learning rate per step, and a position logit of -3 at a learning rate of
      3e-3 would otherwise need a thousand steps to get there.

    Examples
    --------
    >>> import numpy as np
    >>> layer = PositionBias(max_position=3, num_outputs=2)
    >>> tuple(layer(np.array([[1], [2], [3], [9]])).shape)   # starts at 0 everywhere
    (4, 2)
    >>> rows = np.arange(8, dtype="float32").reshape(4, 2)   # row 0: "unknown"; rows 1-3: positions
    >>> _ = layer.embedding.embeddings.assign(rows / layer.scale)
    >>> np.asarray(layer(np.array([[1], [2], [3], [9]]))).tolist()  # position 1 -> 0; 9 -> row 3
    [[0.0, 0.0], [4.0, 5.0], [6.0, 7.0], [6.0, 7.0]]
    """

    def __init__(
        self,
        max_position: int,
        num_outputs: int = 1,
        dropout: float = 0.1,
        seed: int | None = None,
        scale: float = 10.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(max_position) < 1:
            raise ValueError(f"max_position must be >= 1, got {max_position!r}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        self.max_position = int(max_position)
        self.num_outputs = int(num_outputs)
        self.dropout = float(dropout)
        self.seed = seed
        self.scale = float(scale)
        # Row 0: "position unknown" (dropped); rows 1..max_position: the positions.
        self.embedding = keras.layers.Embedding(
            self.max_position + 1, self.num_outputs, embeddings_initializer="zeros", name="position_logit"
        )
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.embedding.build(input_shape)
        self.built = True

    def call(self, position, training=None):
        idx = ops.clip(ops.cast(position, "int32"), 1, self.max_position)
        if training and self.dropout > 0:
            keep = keras.random.uniform(ops.shape(idx), seed=self.seed_generator) >= self.dropout
            idx = ops.where(keep, idx, ops.zeros_like(idx))
        bias = self.scale * ops.reshape(self.embedding(idx), (-1, self.num_outputs))
        return bias * ops.cast(ops.not_equal(idx, 1), bias.dtype)  # the top slot is the reference

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_outputs)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "max_position": self.max_position,
            "num_outputs": self.num_outputs,
            "dropout": self.dropout,
            "seed": self.seed,
            "scale": self.scale,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LogitShift(keras.layers.Layer):
    """``sigmoid(logit(p) + bias[:, column])``: add a logit to a task's probability.

    The towers end in a sigmoid; the position tower's logit is added on the logit
    scale, so the probability is mapped back first (clipped to ``[1e-7, 1 - 1e-7]``,
    the same clip as the task loss).

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.5], [0.2]], "float32"); b = np.array([[0.0], [np.log(4.0)]], "float32")
    >>> np.round(np.asarray(LogitShift()([p, b])), 4).ravel().tolist()  # odds 1/4 x 4 = 1
    [0.5, 0.5]
    """

    def __init__(self, column: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.column = int(column)

    def call(self, inputs):
        p, bias = inputs
        p = ops.clip(ops.cast(p, "float32"), 1e-7, 1.0 - 1e-7)
        z = ops.log(p) - ops.log1p(-p) + bias[:, self.column : self.column + 1]
        return ops.sigmoid(z)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "column": self.column}
