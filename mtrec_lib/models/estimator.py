"""``MultiTaskLearning``: the article's ``model.fit(data); model.evaluate(data)``, made real.

The estimator follows scikit-learn conventions (the constructor only stores
parameters, ``fit`` returns ``self``, ``get_params``/``set_params``) and speaks pandas:
a DataFrame with feature and label columns goes in, DataFrames and dicts come out.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"user_id": rng.integers(0, 20, 400), "price": rng.normal(size=400)})
>>> df["click"] = (rng.random(400) < 0.5).astype(int)
>>> df["purchase"] = df["click"] * (rng.random(400) < 0.3)
>>> model = MultiTaskLearning(tasks={"click": "binary", "purchase": "binary"},
...                           architecture="mmoe", seed=0)
>>> model = model.fit(df, epochs=1, verbose=0)
>>> list(model.predict(df).columns)
['click', 'purchase']
>>> sorted(model.evaluate(df))
['click_auc', 'click_logloss', 'purchase_auc', 'purchase_logloss']
"""
from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtrec_lib.data.validate import check_binary, check_choice, check_frame, check_numeric, check_positive_int
from mtrec_lib.models.architectures import ARCHITECTURES, DEFAULT_HYPERPARAMETERS, build_network, esmm_cvr_name
from mtrec_lib.models.features import FeatureSpec, make_dataset

__all__ = ["MultiTaskLearning", "TASK_TYPES"]

TASK_TYPES = ("binary", "regression")
_CORE_PARAMS = ("tasks", "architecture", "features", "loss_weights", "seed")
_MODEL_FILE = "model.keras"
_META_FILE = "estimator.json"
# Several optimiser steps per compiled call: trims Keras' per-step Python overhead, which
# is a large share of a 2-3 ms step on two cores. Progress bars update every this many steps.
_STEPS_PER_EXECUTION = 16


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


class MultiTaskLearning:
    """Multi-task recommender: several prediction tasks learned by one Keras network.

    Parameters
    ----------
    tasks : dict, default ``{"click": "binary", "purchase": "binary"}``
        Label column -> ``"binary"`` (0/1, sigmoid output, log loss) or ``"regression"``
        (real value, linear output, squared error). For ESMM give exactly two binary
        tasks, the click first and the conversion second.
    architecture : str, default "mmoe"
        ``"single_task"``, ``"shared_bottom"``, ``"omoe"``, ``"mmoe"``, ``"cgc"``,
        ``"ple"`` or ``"esmm"`` (see :mod:`mtrec_lib.models.architectures`).
    features : list of str, optional
        Feature columns. ``None``: every column that is not a task label. Columns whose
        name ends ``_id`` and non-numeric columns are embedded (unseen values fall in an
        out-of-vocabulary bucket); numeric columns are standardised inside the model.
    loss_weights : None, dict, "uncertainty" or "gradnorm"
        How task losses combine (see :mod:`mtrec_lib.models.losses`).
    seed : int, default 0
        Seeds weights, shuffling and dropout. Same seed and machine -> same numbers.
    **hyperparameters
        Any key of :data:`~mtrec_lib.models.architectures.DEFAULT_HYPERPARAMETERS`, e.g.
        ``num_experts=4, expert_units=16, tower_units=(8,), embedding_dim=8,
        batch_size=512, epochs=5, learning_rate=3e-3, patience=2``.

    Attributes
    ----------
    network_ : keras.Model
        The trained functional network: raw features in (lookups and scaling inside),
        a dict of outputs out. ``network_.get_layer("core")`` is its trainable part.
    model_ : MultiTaskModel
        The training wrapper around the core (custom ``train_step``, loss weighting).
    history_ : dict
        Per-epoch logs of the last ``fit`` (Keras ``History.history``).
    feature_spec_ : FeatureSpec
    fit_seconds_ : float
        Wall time of the last ``fit``.
    """

    def __init__(self, tasks: Mapping[str, str] | None = None, architecture: str = "mmoe",
                 features: list[str] | None = None, loss_weights: Any = None, seed: int = 0,
                 **hyperparameters: Any) -> None:
        self.tasks = tasks
        self.architecture = architecture
        self.features = features
        self.loss_weights = loss_weights
        self.seed = seed
        self._hyper_names = list(hyperparameters)
        for k, v in hyperparameters.items():
            setattr(self, k, v)

    # ------------------------------------------------------------------ params
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters, hyperparameters included (defaults filled in)."""
        params = {k: getattr(self, k) for k in _CORE_PARAMS}
        for k, default in DEFAULT_HYPERPARAMETERS.items():
            params[k] = getattr(self, k, default)
        for k in self._hyper_names:  # unknown names too, so fit can report them
            params[k] = getattr(self, k)
        return params

    def set_params(self, **params: Any) -> MultiTaskLearning:
        """Set parameters (scikit-learn convention); returns ``self``."""
        for k, v in params.items():
            if k not in _CORE_PARAMS and k not in self._hyper_names:
                self._hyper_names.append(k)
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items()
                   if k in _CORE_PARAMS or DEFAULT_HYPERPARAMETERS.get(k, object()) != v}
        return f"MultiTaskLearning({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def _task_dict(self) -> dict[str, str]:
        tasks = {"click": "binary", "purchase": "binary"} if self.tasks is None else self.tasks
        if isinstance(tasks, str) or not isinstance(tasks, Mapping) or not tasks:
            raise ValueError("tasks must be a non-empty dict {label column: 'binary' | 'regression'}, "
                             f"got {tasks!r}.")
        for t, ty in tasks.items():
            if ty not in TASK_TYPES:
                raise ValueError(f"unknown task type {ty!r} for task {t!r}; choose one of {list(TASK_TYPES)}.")
        return dict(tasks)

    def _hyperparameters(self) -> dict[str, Any]:
        params = self.get_params()
        unknown = [k for k in self._hyper_names if k not in DEFAULT_HYPERPARAMETERS]
        if unknown:
            raise ValueError(f"unknown hyperparameter {unknown[0]!r}; known ones: "
                             f"{sorted(DEFAULT_HYPERPARAMETERS)}.")
        hp = {k: params[k] for k in DEFAULT_HYPERPARAMETERS}
        for k in ("embedding_dim", "num_experts", "num_levels", "batch_size", "epochs"):
            check_positive_int(hp[k], k)
        for k in ("num_specific_experts", "num_shared_experts"):
            check_positive_int(hp[k], k, minimum=0)
        if not 0.0 <= float(hp["dropout"]) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {hp['dropout']!r}.")
        if not float(hp["learning_rate"]) > 0:
            raise ValueError(f"learning_rate must be > 0, got {hp['learning_rate']!r}.")
        return hp

    # --------------------------------------------------------------- checking
    def _check_labels(self, df: pd.DataFrame, name: str, tasks: Mapping[str, str]) -> None:
        check_frame(df, name, required=list(tasks))
        for t, ty in tasks.items():
            if ty == "binary":
                check_binary(df, name, t)
            else:
                check_numeric(df, name, t)

    def _check_esmm(self, df: pd.DataFrame, name: str, tasks: Mapping[str, str]) -> None:
        first, second = list(tasks)
        bad = int(((df[second] > 0) & (df[first] <= 0)).sum())
        if bad:
            raise ValueError(
                f"{name}: column {second!r} is 1 in {bad} row(s) where {first!r} is 0. ESMM models "
                f"{second!r} as happening after {first!r} (pCTCVR = pCTR x pCVR); fix the labels or "
                "use another architecture.")

    def _validate_setup(self) -> tuple[dict[str, str], dict[str, Any]]:
        tasks = self._task_dict()
        check_choice(self.architecture, "architecture", ARCHITECTURES)
        if self.architecture == "esmm" and (len(tasks) != 2 or set(tasks.values()) != {"binary"}):
            raise ValueError("architecture 'esmm' needs exactly two binary tasks, the click first and the "
                             f"conversion second, e.g. {{'click': 'binary', 'purchase': 'binary'}}; got {tasks}.")
        from mtrec_lib.models.losses import check_loss_weights

        check_loss_weights(self.loss_weights, list(tasks))
        if self.loss_weights == "gradnorm" and self.architecture in ("single_task", "esmm"):
            raise ValueError(f"loss_weights='gradnorm' balances gradients on a shared layer, and "
                             f"architecture {self.architecture!r} has none (only embeddings or nothing). "
                             "Use None, a dict or 'uncertainty'.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {self.seed!r}.")
        return tasks, self._hyperparameters()

    def _prepare(self, df, name, tasks, labels: bool):
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"{name}: expected a pandas DataFrame, got {type(df).__name__}. "
                            "Wrap your data with pd.DataFrame(...).")
        check_frame(df, name, allow_empty=False)
        if labels:
            self._check_labels(df, name, tasks)
            if self.architecture == "esmm":
                self._check_esmm(df, name, tasks)
        arrays = self.feature_spec_.to_arrays(df, name)
        y = {t: df[t].to_numpy(dtype=np.float32) for t in tasks} if labels else None
        return arrays, y

    # -------------------------------------------------------------------- fit
    def fit(self, data: pd.DataFrame, y: pd.DataFrame | None = None, *, epochs: int | None = None,
            validation_data: pd.DataFrame | None = None, verbose: Any = "auto",
            callbacks: list | None = None, summary: pd.DataFrame | None = None,
            steps_per_epoch: int | None = None, strategy: Any = None) -> MultiTaskLearning:
        """Train on ``data`` (features and label columns together); returns ``self``.

        Parameters
        ----------
        data : DataFrame or tf.data.Dataset
            Feature columns and one column per task label. A ``tf.data.Dataset`` of
            ``(features, labels)`` dicts streams instead (e.g. ``ShardSet.dataset(...)`` from
            :mod:`mtrec_lib.data.shards`), so the data never has to fit in memory; it needs
            ``summary``.
        summary : DataFrame, optional
            Only with a dataset: feature columns carrying the data's vocabularies and
            moments (``ShardSet.summary_frame()``), on which the preprocessing is adapted.
        steps_per_epoch : int, optional
            Only with a dataset that repeats.
        strategy : tf.distribute.Strategy, optional
            Only with a dataset: train under ``MirroredStrategy`` or
            ``MultiWorkerMirroredStrategy`` (see :mod:`mtrec_lib.distributed`).
        y : DataFrame, optional
            Label columns given separately (joined to ``data`` by position).
        epochs : int, optional
            Overrides the ``epochs`` hyperparameter.
        validation_data : DataFrame, optional
            Held-out rows with labels; enables early stopping on ``val_loss`` with the
            ``patience`` hyperparameter (best weights restored).
        verbose : "auto", 0, 1 or 2
            Keras progress output; 0 is quiet.
        callbacks : list of keras callbacks, optional
        """
        import keras
        import tensorflow as tf

        from mtrec_lib.models.losses import make_weighting
        from mtrec_lib.models.training import FusedAdam, MultiTaskModel

        if isinstance(data, tf.data.Dataset):
            if y is not None or validation_data is not None:
                raise ValueError("fit(dataset): labels travel inside the dataset as (features, labels); "
                                 "y and validation_data are for DataFrames. Evaluate on a held-out frame instead.")
            if summary is None:
                raise ValueError("fit(dataset) needs summary=: a frame of the feature columns with the data's "
                                 "vocabularies and moments, e.g. ShardSet.summary_frame().")
            from mtrec_lib.models.streaming import fit_dataset

            return fit_dataset(self, data, summary=summary, epochs=epochs, steps_per_epoch=steps_per_epoch,
                               strategy=strategy, verbose=verbose, callbacks=callbacks)
        if summary is not None or steps_per_epoch is not None or strategy is not None:
            raise ValueError("summary, steps_per_epoch and strategy apply to fit(tf.data.Dataset) only; "
                             "a DataFrame is trained in memory.")
        tasks, hp = self._validate_setup()
        if y is not None:
            if not isinstance(y, pd.DataFrame) or not isinstance(data, pd.DataFrame) or len(y) != len(data):
                raise ValueError("fit(data, y): y must be a DataFrame of label columns with as many rows as data.")
            data = pd.concat([data.reset_index(drop=True), y.reset_index(drop=True)], axis=1)
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"fit(data): expected a pandas DataFrame, got {type(data).__name__}. "
                            "Wrap your data with pd.DataFrame(...).")
        check_frame(data, "fit(data)")
        self._check_labels(data, "fit(data)", tasks)
        epochs = hp["epochs"] if epochs is None else check_positive_int(epochs, "epochs")

        keras.utils.set_random_seed(int(self.seed))
        if hp["deterministic"]:
            tf.config.experimental.enable_op_determinism()
        self.feature_spec_ = FeatureSpec.infer(data, self.features, exclude=list(tasks))
        arrays, labels = self._prepare(data, "fit(data)", tasks, labels=True)
        network, info = build_network(self.architecture, tasks, self.feature_spec_, arrays, hp)
        # Lookups and scaling run once here, not in every training step; the saved network
        # still carries them (network = preprocess -> core).
        preprocess, core = network.get_layer("preprocess"), network.get_layer("core")
        val = None
        if validation_data is not None:
            v_arrays, v_labels = self._prepare(validation_data, "fit(validation_data)", tasks, labels=True)
            val = make_dataset(_run_chunks(preprocess, v_arrays), v_labels, max(hp["batch_size"], 4096))
        weighting = make_weighting(self.loss_weights, list(tasks), list(tasks.values()),
                                   hp["gradnorm_alpha"], hp["gradnorm_lr"])
        model = MultiTaskModel(core, tasks, weighting, shared_layer=info["shared_layer"],
                               loss_outputs=info["loss_outputs"])
        model.compile(optimizer=FusedAdam(float(hp["learning_rate"])), jit_compile=False,
                      steps_per_execution=_STEPS_PER_EXECUTION)
        train = make_dataset(_run_chunks(preprocess, arrays), labels, hp["batch_size"], shuffle=True,
                             seed=int(self.seed))
        cbs = list(callbacks or [])
        if val is not None and hp["patience"]:
            cbs.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(hp["patience"]),
                                                     restore_best_weights=True))
        start = time.perf_counter()
        history = model.fit(train, epochs=epochs, validation_data=val, verbose=verbose, callbacks=cbs,
                            shuffle=False)  # make_dataset already shuffles, seeded
        self.fit_seconds_ = time.perf_counter() - start
        self.model_ = model
        self.network_ = network
        self.network_info_ = info
        self.tasks_ = tasks
        self.history_ = {k: [float(x) for x in v] for k, v in history.history.items()}
        self.n_features_in_ = len(self.feature_spec_.columns)
        self.feature_names_in_ = np.asarray(self.feature_spec_.columns, dtype=object)
        return self

    # ---------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise ValueError("this MultiTaskLearning is not fitted yet; call fit(data) first.")

    def _raw_predict(self, df: pd.DataFrame, name: str) -> dict[str, np.ndarray]:
        self._check_fitted()
        arrays, _ = self._prepare(df, name, self.tasks_, labels=False)
        return _run_chunks(self.network_, arrays)

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        """Predictions, one column per task (ESMM adds ``<second>_given_<first>``), index of ``data``.

        Binary tasks give probabilities; regression tasks give values.
        """
        out = self._raw_predict(data, "predict(data)")
        cols = list(self.tasks_)
        if self.architecture == "esmm":
            cols.append(esmm_cvr_name(self.tasks_))
        return pd.DataFrame({c: out[c].reshape(-1).astype(float) for c in cols}, index=data.index)

    def gate_weights(self, data: pd.DataFrame, level: int | None = None) -> dict[str, pd.DataFrame]:
        """Per-example gate weights: which expert serves which task.

        Returns ``{gate: DataFrame}`` with one row per row of ``data`` (same index) and one
        column per expert; rows sum to 1. MMoE has one gate per task, OMoE one
        ``"shared"`` gate. For CGC/PLE the columns name task-specific experts
        (``"click_expert_0"``) and shared ones (``"shared_expert_0"``); ``level`` picks
        a PLE level (default: the last one, which feeds the towers; inner levels also
        have a ``"shared"`` gate).
        """
        self._check_fitted()
        gates = self.network_info_["gates"]
        if not gates:
            raise ValueError(f"architecture {self.architecture!r} has no gates; gate weights exist for "
                             "'omoe', 'mmoe', 'cgc' and 'ple'.")
        n_levels = int(self._hyperparameters()["num_levels"]) if self.architecture == "ple" else 1
        if level is None or level in (-1, n_levels - 1):
            keys = [k for k in gates if k.count("/") == 1]
        else:
            if not isinstance(level, (int, np.integer)) or not 0 <= level < n_levels:
                raise ValueError(f"level must be between 0 and {n_levels - 1}, got {level!r}.")
            keys = [k for k in gates if k.startswith(f"gate/level{level}/")]
        out = self._raw_predict(data, "gate_weights(data)")
        return {k.rsplit("/", 1)[-1]: pd.DataFrame(out[k], index=data.index, columns=gates[k]) for k in keys}

    # --------------------------------------------------------------- evaluate
    def evaluate(self, data: pd.DataFrame) -> dict[str, float]:
        """Metrics on labelled rows.

        Binary tasks: ``<task>_auc`` and ``<task>_logloss``; regression tasks:
        ``<task>_rmse`` and ``<task>_mae``. ESMM adds ``<second>_given_<first>_auc``,
        the pCVR AUC on the clicked rows (the ESMM paper's CVR metric). An AUC is NaN
        (with a warning) when the labels hold one class only.
        """
        self._check_fitted()
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"evaluate(data): expected a pandas DataFrame, got {type(data).__name__}.")
        check_frame(data, "evaluate(data)")
        self._check_labels(data, "evaluate(data)", self.tasks_)
        pred = self.predict(data)
        res: dict[str, float] = {}
        for t, ty in self.tasks_.items():
            y, p = data[t].to_numpy(dtype=float), pred[t].to_numpy()
            if ty == "binary":
                res[f"{t}_auc"] = _auc(y, p, t)
                res[f"{t}_logloss"] = _logloss(y, p)
            else:
                res[f"{t}_rmse"] = float(np.sqrt(np.mean((y - p) ** 2)))
                res[f"{t}_mae"] = float(np.mean(np.abs(y - p)))
        if self.architecture == "esmm":
            first, second = list(self.tasks_)
            cvr = esmm_cvr_name(self.tasks_)
            clicked = data[first].to_numpy() > 0
            res[f"{cvr}_auc"] = _auc(data.loc[clicked, second].to_numpy(dtype=float),
                                     pred.loc[clicked, cvr].to_numpy(), cvr)
        return res

    def score(self, data: pd.DataFrame) -> float:
        """Mean AUC over binary tasks (negative mean RMSE if there are none): higher is better."""
        res = self.evaluate(data)
        aucs = [v for k, v in res.items() if k.endswith("_auc") and k[:-4] in self.tasks_]
        return float(np.nanmean(aucs)) if aucs else -float(np.mean([v for k, v in res.items() if k.endswith("_rmse")]))

    def count_params(self) -> int:
        """Trainable parameters of the network."""
        self._check_fitted()
        return int(sum(np.prod(v.shape) for v in self.network_.trainable_weights))

    # ------------------------------------------------------------- save/load
    def save(self, path: str | os.PathLike) -> None:
        """Save to the folder ``path``: ``model.keras`` (network with its preprocessing) and
        ``estimator.json`` (parameters, feature spec, loss-weighting state, history)."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.network_.save(path / _MODEL_FILE)
        meta = {
            "format": "mtrec_lib.MultiTaskLearning/1",
            "params": _jsonable(self.get_params()),
            "tasks_": self.tasks_,
            "feature_spec_": self.feature_spec_.to_dict(),
            "network_info_": _jsonable(self.network_info_),
            "weighting_state": self.model_.weighting.get_state(),
            "history_": self.history_,
            "fit_seconds_": self.fit_seconds_,
        }
        (path / _META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike) -> MultiTaskLearning:
        """Load an estimator written by :meth:`save`; predictions are identical."""
        import keras

        from mtrec_lib.models import layers as _layers  # noqa: F401  (registers custom layers)
        from mtrec_lib.models.losses import make_weighting
        from mtrec_lib.models.training import MultiTaskModel

        path = Path(path)
        if not (path / _META_FILE).exists() or not (path / _MODEL_FILE).exists():
            raise ValueError(f"{path} does not hold a saved MultiTaskLearning ({_MODEL_FILE} and "
                             f"{_META_FILE}); save one with model.save(path).")
        meta = json.loads((path / _META_FILE).read_text())
        params = meta["params"]
        if isinstance(params.get("tasks"), Mapping):
            params["tasks"] = dict(params["tasks"])
        for k, default in DEFAULT_HYPERPARAMETERS.items():  # JSON turned tuples into lists
            if isinstance(default, tuple) and isinstance(params.get(k), list):
                params[k] = tuple(params[k])
        est = cls(**params)
        est.tasks_ = dict(meta["tasks_"])
        est.feature_spec_ = FeatureSpec.from_dict(meta["feature_spec_"])
        est.network_info_ = meta["network_info_"]
        network = keras.saving.load_model(path / _MODEL_FILE)
        hp = est._hyperparameters()
        weighting = make_weighting(est.loss_weights, list(est.tasks_), list(est.tasks_.values()),
                                   hp["gradnorm_alpha"], hp["gradnorm_lr"])
        weighting.set_state(meta["weighting_state"])
        est.network_ = network
        est.model_ = MultiTaskModel(network.get_layer("core"), est.tasks_, weighting, shared_layer=est.network_info_["shared_layer"],
                                    loss_outputs=est.network_info_["loss_outputs"])
        est.history_ = meta["history_"]
        est.fit_seconds_ = meta["fit_seconds_"]
        est.n_features_in_ = len(est.feature_spec_.columns)
        est.feature_names_in_ = np.asarray(est.feature_spec_.columns, dtype=object)
        return est


def _run_chunks(model, arrays: Mapping[str, np.ndarray], chunk: int = 32768) -> dict[str, np.ndarray]:
    """Run ``model`` eagerly over ``arrays`` in large chunks; returns numpy outputs.

    Eager calls avoid ``Model.predict``'s tracing, which repeats for every new model (noisy
    when a notebook compares seven architectures) and buys nothing at these sizes.
    """
    import tensorflow as tf

    n = len(next(iter(arrays.values())))
    parts = []
    for start in range(0, n, chunk):
        batch = {k: tf.constant(v[start:start + chunk]) for k, v in arrays.items()}
        out = model(batch, training=False)
        parts.append({k: np.asarray(v) for k, v in out.items()})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _auc(y: np.ndarray, p: np.ndarray, name: str) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        warnings.warn(f"AUC of {name!r} is undefined: its labels hold one class only; returning NaN.",
                      stacklevel=3)
        return float("nan")
    return float(roc_auc_score(y, p))


def _logloss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
