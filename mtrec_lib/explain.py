"""Explainability (可解释性) for multi-task models: what the gates do, what each task reads.

Three questions a reader can ask of a fitted :class:`~mtrec_lib.MultiTaskLearning`:

:func:`expert_utilisation`
    Which experts does each task's gate (门控网络) use, on average and per group of rows
    (e.g. per user segment)? The mean of the per-example gate weights.
:func:`effective_experts`
    How many experts does a gate really mix? :math:`\\exp` of the entropy of the gate
    weights: 1 when one expert takes all the weight, :math:`n` when all :math:`n` share
    it equally. Computed per example (then averaged) and for the mean gate, which tells
    "every example picks one expert, but not the same one" apart from "all examples use
    the same expert".
:func:`permutation_importance`
    How much does each task's quality fall when a feature (or a group of features) is
    shuffled across rows (Breiman 2001; Fisher, Rudin & Dominici 2019)? Model-agnostic:
    it only calls ``predict``, so it works for every architecture, gated or not.
:func:`expert_knockout`
    Does a task depend on the experts its gate weights highly? Switch one expert off (its
    output set to zero) and measure each task's quality: a causal check of what the gate
    weights only suggest.

This module sits on top of :mod:`mtrec_lib.models`. Apart from :func:`expert_knockout`,
which edits expert weights in place (and restores them), it only uses a fitted
estimator's public methods (``predict``, ``gate_weights``) and attributes (``tasks_``,
``feature_names_in_``).

Examples
--------
>>> import numpy as np, pandas as pd
>>> import mtrec_lib as mt
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"segment": rng.choice(["a", "b"], 600), "x": rng.normal(size=600),
...                    "noise": rng.normal(size=600)})
>>> df["click"] = (rng.random(600) < 1 / (1 + np.exp(-2 * df["x"]))).astype(int)
>>> df["buy"] = df["click"] * (rng.random(600) < 0.5)
>>> model = mt.MultiTaskLearning(tasks={"click": "binary", "buy": "binary"}, architecture="mmoe",
...                              seed=0, epochs=3, num_experts=2).fit(df, verbose=0)
>>> util = expert_utilisation(model, df, by="segment")
>>> list(util.index.names), list(util.columns)
(['gate', 'segment'], ['expert_0', 'expert_1'])
>>> bool(np.allclose(util.sum(axis=1), 1.0, atol=1e-5))
True
>>> imp = permutation_importance(model, df, task="click", n_repeats=2, seed=0)
>>> imp.iloc[0]["feature"]   # the click label depends on x only
'x'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError

from mtrec_lib.data.validate import check_binary, check_choice, check_frame, check_numeric, check_positive_int
from mtrec_lib.metrics import auc, logloss, mae, rmse

if TYPE_CHECKING:  # only for type hints: importing the estimator would load TensorFlow
    from mtrec_lib.models.estimator import MultiTaskLearning

__all__ = ["expert_utilisation", "effective_experts", "permutation_importance", "expert_knockout", "METRICS"]

#: metric name -> (function(y_true, y_pred), higher_is_better, task types it applies to)
METRICS: dict[str, tuple[Any, bool, tuple[str, ...]]] = {
    "auc": (auc, True, ("binary",)),
    "logloss": (logloss, False, ("binary",)),
    "rmse": (rmse, False, ("regression",)),
    "mae": (mae, False, ("regression",)),
}
_DEFAULT_METRIC = {"binary": "auc", "regression": "rmse"}


# ---------------------------------------------------------------------------
# Shared checks
# ---------------------------------------------------------------------------
def _check_fitted(model: Any, caller: str) -> None:
    if not hasattr(model, "tasks_") or not hasattr(model, "feature_names_in_"):
        raise NotFittedError(
            f"{caller}: this {type(model).__name__} is not fitted yet; call fit first: model.fit(data)."
        )


def _as_columns(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    cols = list(by)
    if not cols or not all(isinstance(c, str) for c in cols):
        raise ValueError(f"by must be a column name, a list of column names or None, got {by!r}.")
    return cols


def _gates(
    model: MultiTaskLearning, data: pd.DataFrame, by: list[str], level: int | None, caller: str
) -> dict[str, pd.DataFrame]:
    _check_fitted(model, caller)
    check_frame(data, f"{caller}(data)", required=by)
    if not hasattr(model, "gate_weights"):
        raise ValueError(
            f"{caller}: {type(model).__name__} has no gate_weights method; "
            "pass a fitted mt.MultiTaskLearning with a gated architecture."
        )
    return model.gate_weights(data, level=level)


def _by_group(values: pd.DataFrame, data: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean of ``values`` (aligned with ``data``) overall (one row) or per group of ``by``."""
    if not by:
        return values.mean().to_frame().T
    keys = [data[c] for c in by]
    return values.groupby(keys, sort=True, observed=True).mean()


def _stack(parts: dict[str, pd.DataFrame], by: list[str]) -> pd.DataFrame:
    """One frame from per-gate frames: index level ``gate``, then the ``by`` levels if any."""
    out = pd.concat(parts, names=["gate", *(by or ["_all"])])
    if not by:
        out.index = out.index.droplevel(-1)
    return out


def _effective_number(weights: Any) -> np.ndarray:
    """exp of the entropy of each row of gate weights: 1 (one expert) to n (all equal)."""
    p = np.clip(np.asarray(weights, dtype=float), 1e-12, 1.0)
    return np.exp(-(p * np.log(p)).sum(axis=1))


# ---------------------------------------------------------------------------
# Gates
# ---------------------------------------------------------------------------
def expert_utilisation(
    model: MultiTaskLearning, data: pd.DataFrame, by: str | Sequence[str] | None = None, *, level: int | None = None
) -> pd.DataFrame:
    """Mean gate weight of every expert, per gate (task) and optionally per group of rows.

    Parameters
    ----------
    model : MultiTaskLearning
        Fitted, with a gated architecture (``"omoe"``, ``"mmoe"``, ``"cgc"``, ``"ple"``).
    data : DataFrame
        Rows to average over, with the model's feature columns (labels not needed).
    by : str or list of str, optional
        Column(s) of ``data`` to group by, e.g. ``"user_segment"``; ``None`` averages
        over all rows.
    level : int, optional
        PLE level (see :meth:`MultiTaskLearning.gate_weights`); default the last one.

    Returns
    -------
    DataFrame
        One row per gate (index level ``"gate"``, named after the task, or ``"shared"``)
        and, with ``by``, per group (further index levels named after ``by``); one column
        per expert. Every row sums to 1. For CGC and PLE a task's gate cannot reach the
        other tasks' own experts: those cells are NaN (not 0, which would mean "reachable
        but unused").

    Raises
    ------
    ValueError
        If the model is not fitted, has no gates, or a ``by`` column is missing or has NaN.

    Examples
    --------
    See the module docstring.
    """
    by_cols = _as_columns(by)
    gates = _gates(model, data, by_cols, level, "expert_utilisation")
    parts = {gate: _by_group(w, data, by_cols) for gate, w in gates.items()}
    experts = list(dict.fromkeys(c for w in gates.values() for c in w.columns))
    out = _stack(parts, by_cols).reindex(columns=experts)
    out.columns.name = "expert"
    return out


def effective_experts(
    model: MultiTaskLearning, data: pd.DataFrame, by: str | Sequence[str] | None = None, *, level: int | None = None
) -> pd.DataFrame:
    """How many experts each gate really mixes: the exponential of the gate's entropy.

    For gate weights :math:`w_1, \\dots, w_n` (summing to 1) the effective number of
    experts is :math:`\\exp(-\\sum_k w_k \\log w_k)`, between 1 (one expert takes all)
    and :math:`n` (uniform), the "perplexity" of the distribution.

    Parameters
    ----------
    model, data, by, level
        As in :func:`expert_utilisation`.

    Returns
    -------
    DataFrame
        Index as in :func:`expert_utilisation`; columns

        * ``per_example``: the effective number of each example's gate weights, averaged
          over the rows (how many experts one prediction mixes);
        * ``of_mean_gate``: the effective number of the *mean* gate weights (how many
          experts the gate uses across all rows);
        * ``n_experts``: how many experts the gate can choose from.

        ``per_example`` is never larger than ``of_mean_gate`` (entropy is concave); a low
        ``per_example`` with a high ``of_mean_gate`` means examples pick different experts.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import mtrec_lib as mt
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"x": rng.normal(size=300), "click": rng.integers(0, 2, 300)})
    >>> df["buy"] = df["click"] * rng.integers(0, 2, 300)
    >>> model = mt.MultiTaskLearning(tasks={"click": "binary", "buy": "binary"}, architecture="mmoe",
    ...                              seed=0, epochs=1, num_experts=3).fit(df, verbose=0)
    >>> eff = effective_experts(model, df)
    >>> list(eff.columns), bool(((eff["per_example"] >= 1) & (eff["per_example"] <= 3 + 1e-6)).all())
    (['per_example', 'of_mean_gate', 'n_experts'], True)
    """
    by_cols = _as_columns(by)
    gates = _gates(model, data, by_cols, level, "effective_experts")
    rows = {}
    for gate, w in gates.items():
        per_example = pd.DataFrame({"per_example": _effective_number(w)}, index=w.index)
        part = _by_group(per_example, data, by_cols)
        part["of_mean_gate"] = _effective_number(_by_group(w, data, by_cols))
        part["n_experts"] = w.shape[1]
        rows[gate] = part
    return _stack(rows, by_cols)


# ---------------------------------------------------------------------------
# Permutation importance
# ---------------------------------------------------------------------------
def _feature_groups(model: MultiTaskLearning, features: Any) -> dict[str, list[str]]:
    known = [str(c) for c in model.feature_names_in_]
    if features is None:
        groups = {c: [c] for c in known}
    elif isinstance(features, str):
        groups = {features: [features]}
    elif isinstance(features, Mapping):
        groups = {str(name): ([cols] if isinstance(cols, str) else list(cols)) for name, cols in features.items()}
    else:
        groups = {str(c): [str(c)] for c in features}
    if not groups:
        raise ValueError(
            "features is empty; pass None (every feature the model reads), a list of "
            "columns, or a dict {group name: [columns]}."
        )
    for name, cols in groups.items():
        if not cols:
            raise ValueError(f"feature group {name!r} has no columns.")
        for col in cols:
            if col not in known:
                raise ValueError(
                    f"column {col!r} (in features) is not a feature of the model, so shuffling it "
                    f"cannot change a prediction. The model reads: {known}."
                )
    return groups


def _tasks_and_labels(
    model: MultiTaskLearning, data: pd.DataFrame, task: Any, metric: str | None, caller: str
) -> tuple[list[str], dict[str, str], dict[str, np.ndarray]]:
    """Resolve ``task`` and ``metric``, check ``data``; return tasks, metric per task, labels."""
    task_types = dict(model.tasks_)
    if task is None:
        tasks = list(task_types)
    else:
        tasks = [task] if isinstance(task, str) else list(task)
        if not tasks:
            raise ValueError(f"task is empty; pass a task name or None (every task: {list(task_types)}).")
        for t in tasks:
            check_choice(t, "task", list(task_types))
    metrics: dict[str, str] = {}
    for t in tasks:
        m = _DEFAULT_METRIC[task_types[t]] if metric is None else check_choice(metric, "metric", list(METRICS))
        if task_types[t] not in METRICS[m][2]:
            raise ValueError(
                f"metric {m!r} does not apply to the {task_types[t]} task {t!r}; use one of "
                f"{[k for k, v in METRICS.items() if task_types[t] in v[2]]}."
            )
        metrics[t] = m
    name = f"{caller}(data)"
    check_frame(data, name, required=[*model.feature_names_in_, *tasks])
    for t in tasks:
        (check_binary if task_types[t] == "binary" else check_numeric)(data, name, t)
        if metrics[t] == "auc" and data[t].nunique() < 2:
            raise ValueError(
                f"{name}: column {t!r} holds one class only, so its AUC is undefined. Use more "
                "rows (a longer period) or metric='logloss'."
            )
    return tasks, metrics, {t: data[t].to_numpy(dtype=float) for t in tasks}


def _quality_lost(score: np.ndarray | float, baseline: float, metric: str) -> np.ndarray:
    """Signed so that positive = worse than the baseline, whichever way the metric points."""
    diff = np.asarray(score, dtype=float) - baseline
    return -diff if METRICS[metric][1] else diff


def _sorted(frame: pd.DataFrame, tasks: list[str], column: str) -> pd.DataFrame:
    """Rows by task (in ``tasks`` order), then by decreasing ``column``."""
    order = {t: i for i, t in enumerate(tasks)}
    return frame.sort_values(
        ["task", column], key=lambda s: s.map(order) if s.name == "task" else -s, kind="stable"
    ).reset_index(drop=True)


def _score_all(
    model: MultiTaskLearning, frame: pd.DataFrame, labels: dict[str, np.ndarray], metrics: dict[str, str]
) -> dict[str, float]:
    pred = model.predict(frame)
    return {t: float(METRICS[m][0](labels[t], pred[t].to_numpy(dtype=float))) for t, m in metrics.items()}


def permutation_importance(
    model: MultiTaskLearning,
    data: pd.DataFrame,
    task: str | Sequence[str] | None = None,
    *,
    features: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    n_repeats: int = 5,
    seed: int = 0,
    metric: str | None = None,
) -> pd.DataFrame:
    """Permutation feature importance per task: the quality lost when a feature is shuffled.

    For each feature (or group), the rows of that column are permuted, which breaks its
    link with the labels and with the other columns while keeping its distribution; the
    model predicts again and each task's metric is compared with the unshuffled one. One
    ``predict`` serves every task, so asking for all tasks costs the same as for one.

    Parameters
    ----------
    model : MultiTaskLearning
        Any fitted estimator with ``predict(df)`` returning one column per task,
        ``tasks_`` and ``feature_names_in_``.
    data : DataFrame
        Held-out rows with the model's features and the tasks' labels. Use data the model
        was not trained on: on training rows the importance measures memorisation too.
    task : str or list of str, optional
        Task(s) to report; default every task of the model.
    features : list of str or dict, optional
        ``None``: every feature the model reads, one at a time. A list: those columns, one
        at a time. A dict ``{group: [columns]}``: each group's columns shuffled *together*
        (with one permutation, so a row keeps e.g. its item id and the item's price
        together). Groups answer the question a single column cannot when features are
        correlated: shuffling ``item_price`` alone leaves the price readable from
        ``item_id``, so its importance understates what price information is worth.
    n_repeats : int, default 5
        Permutations per feature; the result gives their mean and standard deviation.
    seed : int, default 0
        Seeds ``np.random.default_rng``; same seed, same permutations.
    metric : str, optional
        ``"auc"`` or ``"logloss"`` for binary tasks, ``"rmse"`` or ``"mae"`` for regression
        tasks; default ``"auc"`` / ``"rmse"`` by task type.

    Returns
    -------
    DataFrame
        Columns ``task, feature, metric, baseline, importance_mean, importance_std,
        n_repeats``; one row per (task, feature), sorted by task (model order) and by
        decreasing importance. ``importance`` is the quality lost, signed so that positive
        means the model relies on the feature: baseline minus permuted score for AUC,
        permuted minus baseline loss for log loss, RMSE and MAE. Values near 0 (within
        ``importance_std``) mean the model does not use the feature, or gets the same
        information from another one.

    Raises
    ------
    ValueError
        Model not fitted; unknown task or metric; a feature the model does not read; a
        label missing, not binary, or (for AUC) holding a single class in ``data``.

    Examples
    --------
    See the module docstring.
    """
    caller = "permutation_importance"
    _check_fitted(model, caller)
    n_repeats = check_positive_int(n_repeats, "n_repeats")
    seed = check_positive_int(seed, "seed", minimum=0)
    groups = _feature_groups(model, features)
    tasks, metrics, labels = _tasks_and_labels(model, data, task, metric, caller)

    baseline = _score_all(model, data, labels, metrics)
    rng = np.random.default_rng(seed)
    work = data.copy()
    records = []
    for group, cols in groups.items():
        scores: dict[str, list[float]] = {t: [] for t in tasks}
        for _ in range(n_repeats):
            perm = rng.permutation(len(data))
            for col in cols:  # one permutation for the whole group: its columns stay together
                work[col] = data[col].iloc[perm].set_axis(data.index)
            for t, s in _score_all(model, work, labels, metrics).items():
                scores[t].append(s)
        for col in cols:
            work[col] = data[col]
        for t in tasks:
            drop = _quality_lost(np.asarray(scores[t]), baseline[t], metrics[t])
            records.append(
                {
                    "task": t,
                    "feature": group,
                    "metric": metrics[t],
                    "baseline": baseline[t],
                    "importance_mean": float(drop.mean()),
                    "importance_std": float(drop.std(ddof=1)) if n_repeats > 1 else 0.0,
                    "n_repeats": n_repeats,
                }
            )
    return _sorted(pd.DataFrame.from_records(records), tasks, "importance_mean")


# ---------------------------------------------------------------------------
# Expert knockout
# ---------------------------------------------------------------------------
def _expert_slots(model: MultiTaskLearning) -> list[tuple[str, Any, int]]:
    """``(expert name, ExpertGroup, index in group)`` for the experts that feed the towers.

    MMoE/OMoE: the one expert group. CGC/PLE: the last level's experts, ordered as the
    gate columns name them (each task's own experts, then the shared ones).
    """
    from mtrec_lib.models.layers import PLE, MMoE  # here, not at import: it loads TensorFlow

    arch = getattr(model, "architecture", None)
    if arch not in ("mmoe", "omoe", "cgc", "ple"):
        raise ValueError(
            f"expert_knockout needs experts; architecture {arch!r} has none. Use 'mmoe', 'omoe', 'cgc' or 'ple'."
        )
    layer = model.network_.get_layer("core").get_layer(arch)
    if isinstance(layer, MMoE):
        group = layer.experts
        return [(f"expert_{j}", group, j) for j in range(group.num_experts)]
    if not isinstance(layer, PLE):  # pragma: no cover - guards a changed builder
        raise ValueError(f"unexpected layer {type(layer).__name__} for architecture {arch!r}.")
    level = layer.levels[-1]
    tasks, s, h = list(model.tasks_), level.num_specific_experts, level.num_shared_experts
    names = [f"{t}_expert_{j}" for t in tasks for j in range(s)] + [f"shared_expert_{j}" for j in range(h)]
    if level.all_experts is not None:
        return [(n, level.all_experts, j) for j, n in enumerate(names)]
    slots, groups = [], iter(level.expert_groups)
    if s:
        for t in tasks:
            g = next(groups)
            slots += [(f"{t}_expert_{j}", g, j) for j in range(s)]
    if h:
        g = next(groups)
        slots += [(f"shared_expert_{j}", g, j) for j in range(h)]
    return slots


def expert_knockout(
    model: MultiTaskLearning, data: pd.DataFrame, task: str | Sequence[str] | None = None, *, metric: str | None = None
) -> pd.DataFrame:
    """Switch each expert off in turn and measure what every task loses.

    Gate weights say how much of each expert a task *mixes in*; they do not say how much
    the task *needs* it (an expert with a small weight but a large output can matter more
    than one with a large weight). Knocking an expert out answers the second question: its
    last layer's weights and biases are set to zero, so its output is zero for every
    example, the model predicts ``data`` again and each task's metric is compared with the
    intact model's. The weights are restored afterwards, also if an error occurs.

    Parameters
    ----------
    model : MultiTaskLearning
        Fitted, architecture ``"mmoe"``, ``"omoe"``, ``"cgc"`` or ``"ple"`` (PLE: the
        experts of the last level, the ones the task gates mix).
    data : DataFrame
        Held-out rows with the model's features and the tasks' labels.
    task, metric
        As in :func:`permutation_importance`.

    Returns
    -------
    DataFrame
        Columns ``task, expert, gate_weight, metric, baseline, knocked_out, importance``;
        one row per (task, expert the task's gate can reach), sorted by task and decreasing
        importance. ``gate_weight`` is the mean weight the task's gate gives the expert on
        ``data`` (OMoE: the shared gate); ``importance`` is the quality lost (positive =
        the task needs the expert).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import mtrec_lib as mt
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=400)})
    >>> df["click"] = (rng.random(400) < 1 / (1 + np.exp(-2 * df["x"]))).astype(int)
    >>> df["buy"] = df["click"] * (rng.random(400) < 0.5)
    >>> model = mt.MultiTaskLearning(tasks={"click": "binary", "buy": "binary"}, architecture="mmoe",
    ...                              seed=0, epochs=2, num_experts=2).fit(df, verbose=0)
    >>> ko = expert_knockout(model, df, task="click")
    >>> list(ko.columns)
    ['task', 'expert', 'gate_weight', 'metric', 'baseline', 'knocked_out', 'importance']
    >>> sorted(ko["expert"])
    ['expert_0', 'expert_1']
    """
    import keras

    caller = "expert_knockout"
    _check_fitted(model, caller)
    slots = _expert_slots(model)
    tasks, metrics, labels = _tasks_and_labels(model, data, task, metric, caller)
    for _, group, _ in slots:
        if float(keras.activations.get(group.activation)(keras.ops.zeros(()))) != 0.0:
            raise ValueError(
                f"expert_knockout zeroes an expert's last layer, which silences it only when "
                f"activation(0) = 0; the experts use {group.activation!r}."
            )
    util = expert_utilisation(model, data)
    baseline = _score_all(model, data, labels, metrics)
    records = []
    for name, group, j in slots:
        kernel, bias = group.kernels[-1], group.biases[-1]
        saved_k, saved_b = kernel.numpy(), bias.numpy()
        try:
            k, b = saved_k.copy(), saved_b.copy()
            k[j], b[j] = 0.0, 0.0
            kernel.assign(k)
            bias.assign(b)
            scores = _score_all(model, data, labels, metrics)
        finally:
            kernel.assign(saved_k)
            bias.assign(saved_b)
        for t in tasks:
            gate = t if t in util.index else "shared"
            weight = util.loc[gate, name] if name in util.columns else np.nan
            if pd.isna(weight):
                continue  # CGC/PLE: this task's gate cannot reach the other tasks' own experts
            records.append(
                {
                    "task": t,
                    "expert": name,
                    "gate_weight": float(weight),
                    "metric": metrics[t],
                    "baseline": baseline[t],
                    "knocked_out": scores[t],
                    "importance": float(_quality_lost(scores[t], baseline[t], metrics[t])),
                }
            )
    return _sorted(pd.DataFrame.from_records(records), tasks, "importance")
