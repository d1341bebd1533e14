"""``MultiTaskLearning``: the article's ``model.fit(data); model.evaluate(data)``, made real.

The estimator is a scikit-learn ``BaseEstimator`` (the constructor only stores its keyword
parameters, ``fit`` returns ``self``; ``get_params``, ``set_params``, ``clone``, ``repr``,
``Pipeline`` and ``pickle`` work) and speaks pandas: a DataFrame with feature and label
columns goes in, DataFrames and dicts come out.

The fit path, for a reader who follows it: :meth:`MultiTaskLearning.fit` checks the frame
and its labels, :mod:`mtrec_lib.models.features` decides how each column is encoded
(and refuses or warns about features that leak a label),
:mod:`mtrec_lib.models.architectures` builds the network (``build_network``) and the model
that trains it (``training_model``: ``MultiTaskModel`` with Adam), which Keras' ``fit`` runs:
three modules from a DataFrame to Keras. A
``tf.data.Dataset`` takes the same set-up; :mod:`mtrec_lib.models.streaming` only converts
its batches and runs the distributed loop.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"user_id": rng.integers(0, 20, 400), "price": rng.normal(size=400)})
>>> df["click"] = (rng.random(400) < 0.5).astype(int)
>>> df["purchase"] = df["click"] * (rng.random(400) < 0.3)
>>> train, test = df.iloc[:300], df.iloc[300:]
>>> model = MultiTaskLearning(tasks={"click": "binary", "purchase": "binary"},
...                           architecture="mmoe", seed=0)
>>> model = model.fit(train, epochs=1, verbose=0)
>>> list(model.predict(test).columns)
['click', 'purchase']
>>> sorted(model.evaluate(test))
['click_auc', 'click_logloss', 'purchase_auc', 'purchase_logloss']
>>> model = model.partial_fit(test.sample(50, random_state=0))   # warm start: one more pass on new rows
>>> len(model.history_["loss"])
2
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from mtrec_lib import metrics
from mtrec_lib.data.cache import atomic_write_bytes, sha256_file
from mtrec_lib.data.validate import check_binary, check_choice, check_frame, check_numeric, check_positive_int
from mtrec_lib.models.architectures import (
    ARCHITECTURES,
    DEFAULT_HYPERPARAMETERS,
    POSITION_INPUT,
    build_network,
    esmm_cvr_name,
    training_model,
)
from mtrec_lib.models.features import FeatureSpec, check_label_leaks, make_dataset

__all__ = ["MultiTaskLearning", "TASK_TYPES", "check_fitted"]

TASK_TYPES = ("binary", "regression")
_D = DEFAULT_HYPERPARAMETERS  # the one definition of the hyperparameters' defaults
_FITTED = object()  # "the fitted model's position column", as a default argument
_MODEL_FILE = "model.keras"
_META_FILE = "estimator.json"
_OPTIMIZER_FILE = "optimizer.npz"  # optimiser state (Adam's step count and moments), for partial_fit
_ROWS_FILE = "train_rows.npy"  # hashes of the training rows, for evaluate's warning
# evaluate warns when more than this share of its rows were training rows.
_TRAIN_ROWS_WARN = 0.5
# Text that means "the event happened", put first in the mapping suggested for text labels.
_YES = {"yes", "y", "true", "t", "1", "positive", "pos", "clicked", "bought", "purchased"}
# The log loss clips probabilities to [eps, 1 - eps]; float32 outputs reach 1.0 exactly, and
# this eps keeps the numbers the book has always reported.
_LOGLOSS_EPS = 1e-7


def check_fitted(estimator: Any) -> None:
    """Raise scikit-learn's ``NotFittedError`` (a ``ValueError``) unless ``estimator`` has ``model_``.

    Examples
    --------
    >>> check_fitted(MultiTaskLearning())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sklearn.exceptions.NotFittedError: This MultiTaskLearning is not fitted yet: call fit first, ...
    """
    check_is_fitted(
        estimator, "model_", msg="This %(name)s is not fitted yet: call fit first, e.g. model.fit(train_df)."
    )


def _json_default(v):
    """What ``json`` cannot write by itself: numpy scalars, and mappings that are not dicts."""
    return v.item() if isinstance(v, np.generic) else dict(v)


def _row_hashes(df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One 64-bit hash per row of ``df[columns]`` (the index ignored), to recognise training rows."""
    return pd.util.hash_pandas_object(df[columns], index=False).to_numpy()


def _auc_or_nan(y: np.ndarray, p: np.ndarray, name: str) -> float:
    """:func:`mtrec_lib.metrics.auc`, or NaN with a warning when the labels hold one class."""
    if len(np.unique(y)) < 2:
        warnings.warn(f"AUC of {name!r} is undefined: its labels hold one class only; returning NaN.", stacklevel=3)
        return float("nan")
    return metrics.auc(y, p)


class MultiTaskLearning(BaseEstimator):
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
        Feature columns. ``None``: every column that is not a task label, nor one of the
        shipped data's label columns (``click``, ``purchase``, ``purchase_30d``) or time
        columns (``timestamp``, ``day``): see :data:`~mtrec_lib.models.features.LABEL_COLUMNS`
        and :data:`~mtrec_lib.models.features.TIME_COLUMNS` (a model on the day index does
        not generalise to later days). Columns whose name ends ``_id`` and non-numeric
        columns are embedded (unseen values fall in an out-of-vocabulary bucket); numeric
        columns are standardised inside the model. Before training, a feature that copies a
        binary label is refused and one that gives it away warns
        (:func:`~mtrec_lib.models.features.check_label_leaks`).
    loss_weights : None, dict, "uncertainty", "gradnorm" or "dwa"
        How task losses are weighted (see :mod:`mtrec_lib.models.losses`): fixed weights,
        learned uncertainty weights, GradNorm, or Dynamic Weight Average.
    seed : int, default 0
        Seeds weights, shuffling, dropout and PCGrad's task order. Same seed and machine ->
        same numbers.
    gradient : {"sum", "pcgrad", "mgda"}, default "sum"
        How the task gradients on the shared parameters combine into one step (see
        :mod:`mtrec_lib.models.gradients`): their sum (what minimising the weighted loss
        does), PCGrad (conflicting components projected away) or MGDA (the min-norm convex
        combination). PCGrad combines with every ``loss_weights`` (it projects the weighted
        task gradients); MGDA chooses its own task weights at every step, so it needs
        ``loss_weights=None``. Neither applies to ``architecture="single_task"``, which
        shares nothing. ``"pcgrad"`` and ``"mgda"`` cost one backward pass per task, and
        log ``grad_cos_<a>_<b>`` in ``history_`` (hyperparameter ``gradient_cosine=True``
        logs it for ``"sum"`` too).
    position_feature : str, optional
        Column holding the 1-based list position (integers >= 1) at which each training
        row was shown. Turns on the shallow position tower (浅层位置塔) of Zhao et al.
        (RecSys 2019): one learned logit per position, *added* to the logits of
        ``position_tasks`` in training and *dropped* at serving, so the main network
        learns position-free relevance instead of "was shown on top". The column is not
        an input of the main network. Position 1 is the reference (its logit is 0), so
        :meth:`predict` gives the probability of the impression shown at position 1;
        ``predict(data, with_position=True)`` gives the training-time probability at
        ``data``'s positions (positions beyond the largest seen in training share its
        logit). With ESMM the tower shifts the click (first task) and the shifted pCTR
        times pCVR is what the purchase loss reads. With ``gradient="pcgrad"``/``"mgda"``
        the tower's weights count as task-specific unless two tasks reach them (ESMM),
        as for every other parameter. Not available for ``fit(tf.data.Dataset)``.
        Caveat: the tower separates position from relevance only as far as the logged
        position is independent of the relevance that the features do not explain; on
        a log ranked by such unseen relevance it over-estimates the position effect
        (measured in the chapter-8 page on position bias).
    position_tasks : sequence of str, optional
        Binary tasks whose logit gets the position bias (each its own column of
        per-position logits). Default: the first binary task (the click); ESMM takes
        only its first task.
    position_dropout : float in [0, 1), default 0.1
        Share of training rows whose position is replaced by "unknown" (a learned logit
        of its own), as the paper does for 10% of examples so that the model does not
        lean on the position too much.
    embedding_dim, num_experts, expert_units, num_specific_experts, num_shared_experts, num_levels, \
bottom_units, tower_units, dropout, l2_embedding, learning_rate, batch_size, epochs, patience, monitor, \
gradnorm_alpha, gradnorm_lr, dwa_temperature, gradient_cosine, deterministic
        Network and training hyperparameters, keyword arguments whose defaults and
        meanings are :data:`~mtrec_lib.models.architectures.DEFAULT_HYPERPARAMETERS`, e.g.
        ``num_experts=4, expert_units=16, tower_units=(8,), embedding_dim=8,
        batch_size=512, epochs=5, learning_rate=3e-3, patience=2, monitor="val_loss"``.
        ``patience`` and ``monitor`` set early stopping when ``fit`` gets
        ``validation_data`` (``patience=0`` turns it off). ``monitor`` is the validation
        log it watches: ``"val_loss"`` (plain sum of the task losses, the default),
        ``"val_objective"`` (the weighted loss that training minimises) or
        ``"val_<task>_loss"`` for one task, e.g. ``"val_purchase_loss"``.

    Attributes
    ----------
    network_ : keras.Model
        The trained functional network: raw features in (lookups and scaling inside),
        a dict of outputs out. ``network_.get_layer("core")`` is its trainable part.
    model_ : MultiTaskModel
        The training wrapper around the core (custom ``train_step``, loss weighting).
    history_ : dict
        Per-epoch logs (Keras ``History.history``, a dict of lists): those of the last
        ``fit``, followed by the epochs of every ``partial_fit`` since. A log that only some
        calls write (``val_loss`` of a fit with validation data) holds NaN for the others'
        epochs, so every list has one entry per epoch.
    feature_spec_ : FeatureSpec
    fit_seconds_ : float
        Wall time spent training the current weights: the last ``fit`` plus every
        ``partial_fit`` since.
    n_fit_calls_ : int
        Calls that trained the current weights: 1 after ``fit``, one more per ``partial_fit``.
    train_rows_ : ndarray of uint64
        Hashes of the training rows (feature and label columns): ``evaluate`` warns when
        most of its rows are among them. Empty after ``fit(tf.data.Dataset)``.

    Notes
    -----
    A fitted estimator pickles (``pickle.dumps``) through :meth:`save` and :meth:`load`:
    the pickle holds the saved folder's files, so both ways give identical predictions.
    """

    def __init__(
        self,
        tasks: Mapping[str, str] | None = None,
        architecture: str = "mmoe",
        features: list[str] | None = None,
        loss_weights: Any = None,
        seed: int = 0,
        gradient: str = "sum",
        *,
        position_feature: str | None = None,
        position_tasks: tuple[str, ...] | None = None,
        position_dropout: float = 0.1,
        embedding_dim: int = _D["embedding_dim"],
        num_experts: int = _D["num_experts"],
        expert_units: Any = _D["expert_units"],
        num_specific_experts: int = _D["num_specific_experts"],
        num_shared_experts: int = _D["num_shared_experts"],
        num_levels: int = _D["num_levels"],
        bottom_units: Any = _D["bottom_units"],
        tower_units: Any = _D["tower_units"],
        dropout: float = _D["dropout"],
        l2_embedding: float = _D["l2_embedding"],
        learning_rate: float = _D["learning_rate"],
        batch_size: int = _D["batch_size"],
        epochs: int = _D["epochs"],
        patience: int = _D["patience"],
        monitor: str = _D["monitor"],
        gradnorm_alpha: float = _D["gradnorm_alpha"],
        gradnorm_lr: float = _D["gradnorm_lr"],
        dwa_temperature: float = _D["dwa_temperature"],
        gradient_cosine: bool = _D["gradient_cosine"],
        deterministic: bool = _D["deterministic"],
    ) -> None:
        self.tasks = tasks
        self.architecture = architecture
        self.features = features
        self.loss_weights = loss_weights
        self.seed = seed
        self.gradient = gradient
        self.position_feature = position_feature
        self.position_tasks = position_tasks
        self.position_dropout = position_dropout
        self.embedding_dim = embedding_dim
        self.num_experts = num_experts
        self.expert_units = expert_units
        self.num_specific_experts = num_specific_experts
        self.num_shared_experts = num_shared_experts
        self.num_levels = num_levels
        self.bottom_units = bottom_units
        self.tower_units = tower_units
        self.dropout = dropout
        self.l2_embedding = l2_embedding
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.monitor = monitor
        self.gradnorm_alpha = gradnorm_alpha
        self.gradnorm_lr = gradnorm_lr
        self.dwa_temperature = dwa_temperature
        self.gradient_cosine = gradient_cosine
        self.deterministic = deterministic

    # ------------------------------------------------------------------ params
    def _task_dict(self) -> dict[str, str]:
        tasks = {"click": "binary", "purchase": "binary"} if self.tasks is None else self.tasks
        if isinstance(tasks, str) or not isinstance(tasks, Mapping) or not tasks:
            raise ValueError(
                f"tasks must be a non-empty dict {{label column: 'binary' | 'regression'}}, got {tasks!r}."
            )
        for t, ty in tasks.items():
            if ty not in TASK_TYPES:
                raise ValueError(f"unknown task type {ty!r} for task {t!r}; choose one of {list(TASK_TYPES)}.")
        return dict(tasks)

    def _hyperparameters(self) -> dict[str, Any]:
        hp = {k: getattr(self, k) for k in DEFAULT_HYPERPARAMETERS}
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
    def _check_input(self, df: Any, name: str, tasks: Mapping[str, str] | None) -> None:
        """The frame (and, given ``tasks``, its labels): checked once per call, before any work."""
        if not isinstance(df, pd.DataFrame):
            raise TypeError(
                f"{name}: expected a pandas DataFrame, got {type(df).__name__}. Wrap your data with pd.DataFrame(...)."
            )
        check_frame(df, name, required=list(tasks or []))
        for t, ty in (tasks or {}).items():
            if ty != "binary":
                check_numeric(df, name, t)
                continue
            text = df[t][pd.to_numeric(df[t], errors="coerce").isna() & df[t].notna()]
            if len(text):  # "yes"/"no": pd.to_numeric cannot help, a mapping does
                values = sorted(pd.unique(df[t].dropna()), key=lambda v: str(v).lower() not in _YES)[:2]
                raise ValueError(
                    f"{name}: column {t!r} is a binary label and must hold 0 and 1, found text "
                    f"such as {text.iloc[0]!r}. Map it to numbers, e.g. df[{t!r}] = "
                    f"df[{t!r}].map({{{values[0]!r}: 1, {values[-1]!r}: 0}}) (1 = the event happened)."
                )
            check_binary(df, name, t)
        if tasks is not None and self.architecture == "esmm":
            first, second = list(tasks)
            bad = int(((df[second] > 0) & (df[first] <= 0)).sum())
            if bad:
                raise ValueError(
                    f"{name}: column {second!r} is 1 in {bad} row(s) where {first!r} is 0. ESMM models "
                    f"{second!r} as happening after {first!r} (pCTCVR = pCTR x pCVR); fix the labels or "
                    "use another architecture."
                )

    def _validate_setup(self) -> tuple[dict[str, str], dict[str, Any]]:
        tasks = self._task_dict()
        check_choice(self.architecture, "architecture", ARCHITECTURES)
        if self.architecture == "esmm" and (len(tasks) != 2 or set(tasks.values()) != {"binary"}):
            raise ValueError(
                "architecture 'esmm' needs exactly two binary tasks, the click first and the "
                f"conversion second, e.g. {{'click': 'binary', 'purchase': 'binary'}}; got {tasks}."
            )
        from mtrec_lib.models.losses import check_loss_weights

        check_loss_weights(self.loss_weights, list(tasks))
        if self.loss_weights == "gradnorm" and self.architecture in ("single_task", "esmm"):
            raise ValueError(
                f"loss_weights='gradnorm' balances gradients on a shared layer, and "
                f"architecture {self.architecture!r} has none (only embeddings or nothing). "
                "Use None, a dict or 'uncertainty'."
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {self.seed!r}.")
        self._check_gradient(tasks)
        self._position_tasks(tasks)
        hp = self._hyperparameters()
        # Checked on every fit, with or without validation data, so that a typo shows at once.
        check_choice(hp["monitor"], "monitor", ["val_loss", "val_objective", *(f"val_{t}_loss" for t in tasks)])
        return tasks, hp

    def _check_gradient(self, tasks: Mapping[str, str]) -> None:
        """``gradient`` against the tasks, the architecture and ``loss_weights``: before any training."""
        from mtrec_lib.models.gradients import GRADIENT_METHODS

        check_choice(self.gradient, "gradient", GRADIENT_METHODS)
        if self.gradient == "sum":
            return
        if len(tasks) < 2:
            raise ValueError(
                f"gradient={self.gradient!r} combines the gradients of several tasks, and there is "
                f"one task ({list(tasks)}); use gradient='sum' or add a task."
            )
        if self.architecture == "single_task":
            raise ValueError(
                f"gradient={self.gradient!r} acts on parameters that tasks share, and architecture "
                "'single_task' shares none (each task has its own network); use gradient='sum' or "
                f"an architecture with shared parameters (one of {list(ARCHITECTURES[1:])})."
            )
        if self.gradient == "mgda" and self.loss_weights is not None:
            raise ValueError(
                f"gradient='mgda' chooses its own task weights at every step (the min-norm "
                f"combination), so it cannot combine with loss_weights={self.loss_weights!r}; "
                "use loss_weights=None with 'mgda', or gradient='pcgrad' (which combines with "
                "every loss_weights) or 'sum'."
            )

    def _position_tasks(self, tasks: Mapping[str, str]) -> list[str]:
        """The tasks that get the position bias ([] without a position tower); checks the set-up."""
        col = self.position_feature
        if col is None:
            if self.position_tasks is not None:
                raise ValueError(
                    f"position_tasks={self.position_tasks!r} needs position_feature, the column "
                    "holding the list position, e.g. position_feature='position'."
                )
            return []
        if not isinstance(col, str) or not col:
            raise ValueError(f"position_feature must be a column name (str) or None, got {col!r}.")
        if col in tasks:
            raise ValueError(f"position_feature {col!r} is also a task label; name the position column.")
        if self.features is not None and col in list(self.features):
            raise ValueError(
                f"position_feature {col!r} is also listed in features; the position tower reads it "
                "and the main network must not (that is the point). Remove it from features."
            )
        if isinstance(self.position_dropout, bool) or not 0.0 <= float(self.position_dropout) < 1.0:
            raise ValueError(f"position_dropout must be in [0, 1), got {self.position_dropout!r}.")
        binary = [t for t, ty in tasks.items() if ty == "binary"]
        if not binary:
            raise ValueError(
                "the position tower adds a logit to a binary task (a click), and there is none "
                f"in tasks {dict(tasks)}; add one or set position_feature=None."
            )
        chosen = binary[:1] if self.position_tasks is None else self.position_tasks
        if isinstance(chosen, str) or not list(chosen):
            raise ValueError(f"position_tasks must be a non-empty sequence of task names, got {chosen!r}.")
        chosen = list(chosen)
        for t in chosen:
            if t not in binary:
                raise ValueError(f"position_tasks: {t!r} is not a binary task; choose among {binary}.")
        if len(set(chosen)) != len(chosen):
            raise ValueError(f"position_tasks lists a task twice: {chosen}.")
        if self.architecture == "esmm" and chosen != binary[:1]:
            raise ValueError(
                f"with architecture 'esmm' the position bias goes on the click ({binary[0]!r}) "
                f"only: the conversion {binary[1]!r} happens after the click, and pCTCVR gets the "
                f"bias through pCTR. Use position_tasks=({binary[0]!r},)."
            )
        return chosen

    def _positions(self, df: pd.DataFrame, name: str, col: str) -> np.ndarray:
        """The position column ``col`` as ``(n, 1)`` int64, checked: present, no NaN, integers >= 1."""
        check_frame(df, name, required=[col], numeric=[col])
        v = df[col].to_numpy(dtype=float)
        if not np.all(v == np.round(v)) or v.min() < 1:
            bad = df[col][(v != np.round(v)) | (v < 1)].iloc[0]
            raise ValueError(
                f"{name}: position_feature column {col!r} must hold list positions, integers >= 1 "
                f"(1 = top); found {bad!r}. Convert it, e.g. df[{col!r}].astype(int) + 1 for "
                "0-based positions."
            )
        return v.astype(np.int64).reshape(-1, 1)

    def _inputs(
        self,
        df: pd.DataFrame,
        name: str,
        spec: FeatureSpec,
        tasks: Mapping[str, str] | None,
        with_position: bool | None = None,
        position_col: Any = _FITTED,
    ):
        """Input arrays (and labels, given ``tasks``) of a frame checked by :meth:`_check_input`.

        With a position tower (``position_col``: its column or None; default: the fitted one) the
        position is read in training (``tasks`` given) and with ``with_position``;
        otherwise the tower gets position 1 (bias 0), so serving needs no position column
        and the position-free outputs cannot depend on it."""
        arrays = spec.to_arrays(df, name)
        if position_col is _FITTED:
            position_col = (getattr(self, "network_info_", {}).get("position") or {}).get("feature")
        if position_col is not None:
            read = tasks is not None if with_position is None else with_position
            arrays[POSITION_INPUT] = (
                self._positions(df, name, position_col) if read else np.ones((len(df), 1), dtype=np.int64)
            )
        y = None if tasks is None else {t: df[t].to_numpy(dtype=np.float32) for t in tasks}
        return arrays, y

    def _build(
        self,
        spec: FeatureSpec,
        arrays,
        tasks: dict[str, str],
        hp: dict[str, Any],
        *,
        position: Mapping[str, Any] | None = None,
        strategy: Any = None,
        whole: bool = False,
    ):
        """Seed, network and compiled training model: the one set-up of ``fit`` for frames and datasets.

        ``whole``: train the whole network, lookups included (a stream cannot be preprocessed
        once up front as a frame is); otherwise only its core.
        """
        import keras
        import tensorflow as tf

        keras.utils.set_random_seed(int(self.seed))
        if hp["deterministic"]:
            tf.config.experimental.enable_op_determinism()
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            network, info = build_network(self.architecture, tasks, spec, arrays, hp, position=position)
            trained = network if whole else network.get_layer("core")
            model = training_model(
                trained, tasks, info, hp, loss_weights=self.loss_weights, gradient=self.gradient, seed=self.seed
            )
        return network, info, model

    def _fitted(
        self, tasks, spec, network, info, model, history: Mapping[str, Any], seconds: float, rows: np.ndarray
    ) -> MultiTaskLearning:
        """Store what a fit learnt (the fitted attributes): the last step of every fit."""
        self.tasks_ = tasks
        self.feature_spec_ = spec
        self.network_ = network
        self.network_info_ = info
        self.model_ = model
        self.history_ = _extend_history({}, history)
        self.fit_seconds_ = seconds
        self.n_fit_calls_ = 1
        self.n_features_in_ = len(spec.columns)
        self.feature_names_in_ = np.asarray(spec.columns, dtype=object)
        self.train_rows_ = np.unique(rows)
        return self

    # -------------------------------------------------------------------- fit
    def fit(
        self,
        data: pd.DataFrame,
        y: pd.DataFrame | None = None,
        *,
        epochs: int | None = None,
        validation_data: pd.DataFrame | None = None,
        verbose: Any = "auto",
        callbacks: list | None = None,
        summary: pd.DataFrame | None = None,
        steps_per_epoch: int | None = None,
        strategy: Any = None,
    ) -> MultiTaskLearning:
        """Train on ``data`` (features and label columns together); returns ``self``.

        Parameters
        ----------
        data : DataFrame or tf.data.Dataset
            Feature columns and one column per task label. A ``tf.data.Dataset`` of
            ``(features, labels)`` dicts streams instead (e.g. ``ShardSet.dataset(...)`` from
            :mod:`mtrec_lib.scale.shards`), so the data never has to fit in memory; it needs
            ``summary``.
        summary : DataFrame, optional
            Only with a dataset: feature columns carrying the data's vocabularies and
            moments (``ShardSet.summary_frame()``), on which the preprocessing is adapted.
        steps_per_epoch : int, optional
            Only with a dataset that repeats.
        strategy : tf.distribute.Strategy, optional
            Only with a dataset: train under ``MirroredStrategy`` or
            ``MultiWorkerMirroredStrategy`` (see :mod:`mtrec_lib.scale.distributed`).
        y : DataFrame, optional
            Label columns given separately (joined to ``data`` by position).
        epochs : int, optional
            Overrides the ``epochs`` hyperparameter.
        validation_data : DataFrame, optional
            Held-out rows with labels; enables early stopping on the ``monitor``
            hyperparameter (default ``val_loss``) with the ``patience`` hyperparameter
            (best weights restored).
        verbose : "auto", 0, 1 or 2
            Keras progress output; 0 is quiet.
        callbacks : list of keras callbacks, optional

        See Also
        --------
        partial_fit : continue training the fitted weights on new rows (warm start).
        """
        import tensorflow as tf

        tasks, hp = self._validate_setup()
        epochs = hp["epochs"] if epochs is None else check_positive_int(epochs, "epochs")
        if isinstance(data, pd.DataFrame) or not (isinstance(data, tf.data.Dataset) or callable(data)):
            if summary is not None or steps_per_epoch is not None or strategy is not None:
                raise ValueError(
                    "summary, steps_per_epoch and strategy apply to fit(tf.data.Dataset) only; "
                    "a DataFrame is trained in memory."
                )
            if y is not None:
                if not isinstance(y, pd.DataFrame) or not isinstance(data, pd.DataFrame) or len(y) != len(data):
                    raise ValueError("fit(data, y): y must be a DataFrame of label columns with as many rows as data.")
                data = pd.concat([data.reset_index(drop=True), y.reset_index(drop=True)], axis=1)
            return self._fit_frame(
                data,
                "fit(data)",
                tasks,
                hp,
                epochs=epochs,
                validation_data=validation_data,
                verbose=verbose,
                callbacks=callbacks,
                batch_size=int(hp["batch_size"]),
                shuffle_seed=int(self.seed),
            )
        # A stream: the same set-up on ``summary``; streaming converts the batches and, under a
        # strategy, runs the training loop.
        if y is not None or validation_data is not None:
            raise ValueError(
                "fit(dataset): labels travel inside the dataset as (features, labels); "
                "y and validation_data are for DataFrames. Evaluate on a held-out frame instead."
            )
        if self.position_feature is not None:
            raise ValueError(
                "position_feature (the position tower) works with a DataFrame only; "
                "fit(tf.data.Dataset) does not support it yet. Train on a DataFrame, or set "
                "position_feature=None."
            )
        if not isinstance(summary, pd.DataFrame) or summary.empty:
            raise ValueError(
                "fit(dataset) needs summary=: a non-empty frame of the feature columns with the "
                "vocabularies and value ranges of the training data (e.g. ShardSet.summary_frame(), "
                "or a sample of rows)."
            )
        if strategy is not None and self.loss_weights in ("gradnorm", "dwa"):
            raise ValueError(
                f"loss_weights={self.loss_weights!r} updates its weights from the losses each "
                "replica sees, which a tf.distribute strategy does not synchronise; use None, a dict "
                "or 'uncertainty'."
            )
        from mtrec_lib.models import streaming

        summary = summary.drop(columns=[t for t in tasks if t in summary.columns])
        spec = FeatureSpec.infer(summary, self.features, exclude=list(tasks))
        network, info, model = self._build(
            spec, spec.to_arrays(summary, "summary"), tasks, hp, strategy=strategy, whole=True
        )
        start = time.perf_counter()
        history = streaming.train_on_dataset(
            model,
            data,
            spec,
            list(tasks),
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            strategy=strategy,
            verbose=verbose,
            callbacks=callbacks,
        )
        return self._fitted(
            tasks, spec, network, info, model, history, time.perf_counter() - start, rows=np.zeros(0, dtype=np.uint64)
        )

    def _fit_frame(
        self,
        data,
        name: str,
        tasks: dict[str, str],
        hp: dict[str, Any],
        *,
        epochs: int,
        validation_data,
        verbose,
        callbacks,
        batch_size: int,
        shuffle_seed: int,
    ) -> MultiTaskLearning:
        """Build a new network and train it on a DataFrame: ``fit`` and the first ``partial_fit``."""
        import keras

        self._check_input(data, name, tasks)
        col = self.position_feature
        spec = FeatureSpec.infer(data, self.features, exclude=[*tasks, *([col] if col else [])])
        arrays, labels = self._inputs(data, name, spec, tasks, position_col=col)  # checks the features
        check_label_leaks(data, spec, tasks, name)
        val = None
        if validation_data is not None:
            self._check_input(validation_data, "fit(validation_data)", tasks)
            val = self._inputs(validation_data, "fit(validation_data)", spec, tasks, position_col=col)
        position = None
        if col is not None:
            position = {
                "tasks": self._position_tasks(tasks),
                "max_position": int(arrays[POSITION_INPUT].max()),
                "dropout": float(self.position_dropout),
                "seed": int(self.seed),
            }
        network, info, model = self._build(spec, arrays, tasks, hp, position=position)
        if col is not None:
            info["position"]["feature"] = col
        # Lookups and scaling run once here, not in every training step; the saved network
        # still carries them (network = preprocess -> core).
        preprocess = network.get_layer("preprocess")
        if val is not None:
            val = _frame_dataset(preprocess, *val, max(batch_size, 4096))
        train = _frame_dataset(preprocess, arrays, labels, batch_size, shuffle=True, seed=shuffle_seed)
        cbs = list(callbacks or [])
        if val is not None and hp["patience"]:
            cbs.append(
                keras.callbacks.EarlyStopping(
                    monitor=hp["monitor"], mode="min", patience=int(hp["patience"]), restore_best_weights=True
                )
            )
        start = time.perf_counter()
        history = model.fit(
            train, epochs=epochs, validation_data=val, verbose=verbose, callbacks=cbs, shuffle=False
        )  # make_dataset already shuffles, seeded
        return self._fitted(
            tasks,
            spec,
            network,
            info,
            model,
            history.history,
            time.perf_counter() - start,
            rows=_row_hashes(data, [*spec.columns, *tasks]),
        )

    # ------------------------------------------------------------ partial_fit
    def partial_fit(
        self,
        data: pd.DataFrame,
        epochs: int = 1,
        batch_size: int | None = None,
        seed: int | None = None,
        verbose: Any = 0,
        callbacks: list | None = None,
    ) -> MultiTaskLearning:
        """Continue training on new rows (warm start, 热启动); returns ``self``.

        scikit-learn's ``partial_fit`` convention: on an estimator that is not fitted yet
        this is ``fit(data, epochs=epochs)``; afterwards every call trains the *same*
        weights further, for ``epochs`` passes over ``data`` only, with the same optimiser
        and its state (Adam's step count and moment estimates, and GradNorm's weights and
        their optimiser, or the learned uncertainty weights), as if training had not stopped.

        What the first fit decided stays fixed: the feature columns, the vocabularies and
        the scaling of numeric columns (means and variances of the first fit's data). An id
        first seen after that fit falls into its column's out-of-vocabulary bucket, shared
        by all unseen ids, for as long as the model is only updated; a refit with ``fit``
        rebuilds vocabularies and scaling.

        Parameters
        ----------
        data : DataFrame
            Feature columns of the first fit and a label column for every task; the same
            checks as ``fit`` apply (a ``ValueError`` names a missing column, NaN, a label
            outside {0, 1} for a binary task, ...).
        epochs : int, default 1
            Passes over ``data``.
        batch_size : int, optional
            Default: the ``batch_size`` hyperparameter.
        seed : int, optional
            Seeds the shuffling of ``data`` (dropout continues its own random stream).
            Default: the estimator's ``seed`` plus :attr:`n_fit_calls_`, the number of calls
            that trained the current weights so far: ``seed + 1``, ``seed + 2``, ... for
            successive calls after ``fit``, so repeated calls do not repeat one order, and
            two runs of the same calls give the same numbers. (On an unfitted estimator the
            default is ``seed`` itself, so that the first call equals ``fit``.)
        verbose : 0, 1, 2 or "auto", default 0
            Keras progress output; 0 is quiet.
        callbacks : list of keras callbacks, optional

        Returns
        -------
        self
            ``history_`` gains one entry per new epoch, ``fit_seconds_`` the time taken and
            ``n_fit_calls_`` one.

        Raises
        ------
        ValueError
            Bad input (naming the column), or a model that cannot continue training: one
            loaded from a save without optimiser state (written before ``save`` stored it),
            or one trained under a ``tf.distribute`` strategy (save and load it first).

        Examples
        --------
        >>> import mtrec_lib as mt
        >>> log = mt.data.simulate_shop(n_users=50, n_items=20, n_impressions=1200, seed=0).data
        >>> first, later = log[log["day"] < 20], log[log["day"] >= 20]
        >>> model = mt.MultiTaskLearning(epochs=2, seed=0).fit(first, verbose=0)
        >>> for day, rows in later.groupby("day"):       # one update per day of new logs
        ...     model = model.partial_fit(rows, batch_size=128)
        >>> len(model.history_["loss"]), model.n_fit_calls_
        (12, 11)
        """
        import tensorflow as tf

        name = "partial_fit(data)"
        epochs = check_positive_int(epochs, "epochs")
        if batch_size is not None:
            batch_size = check_positive_int(batch_size, "batch_size")
        if seed is not None:
            seed = check_positive_int(seed, "seed", minimum=0)
        if not hasattr(self, "model_"):
            tasks, hp = self._validate_setup()
            return self._fit_frame(
                data,
                name,
                tasks,
                hp,
                epochs=epochs,
                validation_data=None,
                verbose=verbose,
                callbacks=callbacks,
                batch_size=batch_size or int(hp["batch_size"]),
                shuffle_seed=int(self.seed) if seed is None else seed,
            )
        model = self.model_
        if not model.compiled:
            raise ValueError(
                "partial_fit: this model was loaded from a save without optimiser state (saved "
                f"before save() wrote {_OPTIMIZER_FILE}), so training cannot continue where it "
                "stopped. Refit it with fit(data), then save it again."
            )
        if model.distribute_strategy is not tf.distribute.get_strategy():
            raise ValueError(
                "partial_fit: this model was trained under a tf.distribute strategy, which "
                "partial_fit does not use. Save it and load it (model.save(path); "
                "MultiTaskLearning.load(path)) to continue training in one process."
            )
        self._check_input(data, name, self.tasks_)
        arrays, labels = self._inputs(data, name, self.feature_spec_, self.tasks_)
        # fit(DataFrame) and load() train the core on preprocessed inputs; fit(dataset) trains
        # the whole network (lookups included) on raw ones.
        preprocess = None if model.network is self.network_ else self.network_.get_layer("preprocess")
        calls = int(getattr(self, "n_fit_calls_", 1))
        train = _frame_dataset(
            preprocess,
            arrays,
            labels,
            batch_size or int(self.batch_size),
            shuffle=True,
            seed=int(self.seed) + calls if seed is None else seed,
        )
        start = time.perf_counter()
        history = model.fit(
            train, epochs=epochs, verbose=verbose, callbacks=list(callbacks or []), shuffle=False
        )  # make_dataset already shuffles, seeded
        self.fit_seconds_ = float(getattr(self, "fit_seconds_", 0.0)) + time.perf_counter() - start
        self.history_ = _extend_history(getattr(self, "history_", {}), history.history)
        self.n_fit_calls_ = calls + 1
        rows = _row_hashes(data, [*self.feature_spec_.columns, *self.tasks_])
        self.train_rows_ = np.union1d(getattr(self, "train_rows_", np.zeros(0, dtype=np.uint64)), rows)
        return self

    # ---------------------------------------------------------------- predict
    def _raw_predict(self, df: pd.DataFrame, name: str, with_position: bool = False) -> dict[str, np.ndarray]:
        check_fitted(self)
        if with_position and not self.network_info_.get("position"):
            raise ValueError(
                f"{name}: with_position=True needs a model fitted with a position tower "
                "(position_feature='<column>'); this one has none."
            )
        self._check_input(df, name, None)
        arrays, _ = self._inputs(df, name, self.feature_spec_, None, with_position=with_position)
        return _run_chunks(self.network_, arrays)

    def predict(self, data: pd.DataFrame, with_position: bool = False) -> pd.DataFrame:
        """Predictions, one column per task (ESMM adds ``<second>_given_<first>``), index of ``data``.

        Binary tasks give probabilities; regression tasks give values. With a position
        tower (``position_feature``) they are position-free: the tower is dropped, which
        is the probability at position 1, and ``data`` needs no position column.
        ``with_position=True`` adds the tower back at ``data``'s positions: the
        training-time probability, comparable with logged labels.
        """
        out = self._raw_predict(data, "predict(data)", with_position=with_position)
        cols = list(self.tasks_)
        if self.architecture == "esmm":
            cols.append(esmm_cvr_name(self.tasks_))
        key = {c: (f"position/{c}" if with_position and f"position/{c}" in out else c) for c in cols}
        return pd.DataFrame({c: out[key[c]].reshape(-1).astype(float) for c in cols}, index=data.index)

    def position_bias(self) -> pd.DataFrame:
        """The position tower's learned logits: one row per position (1 .. the largest seen in
        training), one column per biased task; position 1 is 0 by construction.

        Examples
        --------
        >>> import mtrec_lib as mt
        >>> log = mt.data.simulate_shop(n_users=50, n_items=20, n_impressions=1500, seed=0).data
        >>> model = mt.MultiTaskLearning(position_feature="position", epochs=1, seed=0).fit(log, verbose=0)
        >>> bias = model.position_bias()
        >>> list(bias.columns), bias.index[[0, -1]].tolist(), float(bias.loc[1, "click"])
        (['click'], [1, 10], 0.0)
        """
        check_fitted(self)
        pos = self.network_info_.get("position")
        if not pos:
            raise ValueError(
                "position_bias(): this model has no position tower; fit it with position_feature='<column>'."
            )
        layer = self.network_.get_layer("core").get_layer("position_tower")
        positions = np.arange(1, int(pos["max_position"]) + 1)
        out = np.asarray(layer(positions.reshape(-1, 1), training=False))
        return pd.DataFrame(out, index=pd.Index(positions, name="position"), columns=list(pos["tasks"]))

    def gate_weights(self, data: pd.DataFrame, level: int | None = None) -> dict[str, pd.DataFrame]:
        """Per-example gate weights: which expert serves which task.

        Returns ``{gate: DataFrame}`` with one row per row of ``data`` (same index) and one
        column per expert; rows sum to 1. MMoE has one gate per task, OMoE one
        ``"shared"`` gate. For CGC/PLE the columns name task-specific experts
        (``"click_expert_0"``) and shared ones (``"shared_expert_0"``); ``level`` picks
        a PLE level (default: the last one, which feeds the towers; inner levels also
        have a ``"shared"`` gate).
        """
        check_fitted(self)
        gates = self.network_info_["gates"]
        if not gates:
            raise ValueError(
                f"architecture {self.architecture!r} has no gates; gate weights exist for "
                "'omoe', 'mmoe', 'cgc' and 'ple'."
            )
        n_levels = int(self.num_levels) if self.architecture == "ple" else 1
        if level is None or level in (-1, n_levels - 1):
            keys = [k for k in gates if k.count("/") == 1]
        else:
            if not isinstance(level, (int, np.integer)) or not 0 <= level < n_levels:
                raise ValueError(f"level must be between 0 and {n_levels - 1}, got {level!r}.")
            keys = [k for k in gates if k.startswith(f"gate/level{level}/")]
        out = self._raw_predict(data, "gate_weights(data)")
        return {k.rsplit("/", 1)[-1]: pd.DataFrame(out[k], index=data.index, columns=gates[k]) for k in keys}

    # --------------------------------------------------------------- evaluate
    def evaluate(self, data: pd.DataFrame, with_position: bool = False) -> dict[str, float]:
        """Metrics on labelled rows (``with_position``: as in :meth:`predict`), by :mod:`mtrec_lib.metrics`.

        Binary tasks: ``<task>_auc`` and ``<task>_logloss``; regression tasks:
        ``<task>_rmse`` and ``<task>_mae``. ESMM adds ``<second>_given_<first>_auc``,
        the pCVR AUC on the clicked rows (the ESMM paper's CVR metric). An AUC is NaN
        (with a warning naming the task) when the labels hold one class only. Evaluating
        on the rows the model was trained on (more than half of ``data``) warns: those
        numbers flatter the model; use a held-out split.
        """
        check_fitted(self)
        self._check_input(data, "evaluate(data)", self.tasks_)
        rows = getattr(self, "train_rows_", np.zeros(0, dtype=np.uint64))
        if len(rows):
            seen = float(np.isin(_row_hashes(data, [*self.feature_spec_.columns, *self.tasks_]), rows).mean())
            if seen > _TRAIN_ROWS_WARN:
                warnings.warn(
                    f"evaluating on the training rows ({seen:.0%} of the rows passed to evaluate were "
                    "used to fit this model), so the metrics flatter it; use a held-out split, e.g. "
                    "mt.data.split(..., method='temporal').",
                    UserWarning,
                    stacklevel=2,
                )
        pred = self.predict(data, with_position=with_position)
        res: dict[str, float] = {}
        for t, ty in self.tasks_.items():
            y, p = data[t].to_numpy(dtype=float), pred[t].to_numpy()
            if ty == "binary":
                res[f"{t}_auc"] = _auc_or_nan(y, p, t)
                res[f"{t}_logloss"] = metrics.logloss(y, p, eps=_LOGLOSS_EPS)
            else:
                res[f"{t}_rmse"] = metrics.rmse(y, p)
                res[f"{t}_mae"] = metrics.mae(y, p)
        if self.architecture == "esmm":
            first, second = list(self.tasks_)
            cvr = esmm_cvr_name(self.tasks_)
            clicked = data[first].to_numpy() > 0
            res[f"{cvr}_auc"] = _auc_or_nan(
                data.loc[clicked, second].to_numpy(dtype=float), pred.loc[clicked, cvr].to_numpy(), cvr
            )
        return res

    def score(self, data: pd.DataFrame) -> float:
        """Mean AUC over binary tasks (negative mean RMSE if there are none): higher is better."""
        res = self.evaluate(data)
        aucs = [v for k, v in res.items() if k.endswith("_auc") and k[:-4] in self.tasks_]
        return float(np.nanmean(aucs)) if aucs else -float(np.mean([v for k, v in res.items() if k.endswith("_rmse")]))

    def count_params(self) -> int:
        """Trainable parameters of the network."""
        check_fitted(self)
        return int(sum(np.prod(v.shape) for v in self.network_.trainable_weights))

    # ------------------------------------------------------------- save/load
    def save(self, path: str | os.PathLike) -> None:
        """Save to the folder ``path``: ``model.keras`` (network with its preprocessing),
        ``estimator.json`` (parameters, feature spec, loss-weighting state, history),
        ``optimizer.npz`` (the optimisers' state, so that a loaded model can ``partial_fit``
        on exactly as the saved one would) and ``train_rows.npy`` (hashes of the training rows).

        Each file is written to a temporary name and renamed into place, and
        ``estimator.json``, written last, records the SHA-256 of the others: a save
        that was interrupted, or a folder that mixes files of two saves, fails to load with
        an error instead of loading a network with the wrong metadata.
        """
        check_fitted(self)
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        # Keras insists on the .keras suffix, so the temporary name keeps it.
        fd, tmp = tempfile.mkstemp(prefix=f".{_MODEL_FILE}.", suffix=".part.keras", dir=path)
        os.close(fd)
        try:
            self.network_.save(tmp)
            os.replace(tmp, path / _MODEL_FILE)
        finally:
            Path(tmp).unlink(missing_ok=True)
        checksums = {_MODEL_FILE: sha256_file(path / _MODEL_FILE)}
        state = _optimizer_state(self.model_)
        arrays = {_OPTIMIZER_FILE: state or None, _ROWS_FILE: getattr(self, "train_rows_", None)}
        for name, value in arrays.items():
            if value is None:  # a model loaded from an older save has none; do not leave a stale file
                (path / name).unlink(missing_ok=True)
                continue
            buffer = io.BytesIO()
            if isinstance(value, dict):
                np.savez(buffer, **value)
            else:
                np.save(buffer, value, allow_pickle=False)
            atomic_write_bytes(path / name, buffer.getvalue())
            checksums[name] = sha256_file(path / name)
        meta = {
            "format": "mtrec_lib.MultiTaskLearning/1",
            "params": self.get_params(),
            "tasks_": self.tasks_,
            "feature_spec_": self.feature_spec_.to_dict(),
            "network_info_": self.network_info_,
            "weighting_state": self.model_.weighting.get_state(),
            "history_": self.history_,
            "fit_seconds_": self.fit_seconds_,
            "n_fit_calls_": getattr(self, "n_fit_calls_", 1),
            "sha256": checksums,
        }
        atomic_write_bytes(
            path / _META_FILE, json.dumps(meta, indent=2, ensure_ascii=False, default=_json_default).encode("utf-8")
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> MultiTaskLearning:
        """Load an estimator written by :meth:`save`; predictions are identical.

        The training model is compiled with the saved optimiser state, so ``partial_fit``
        continues as it would have on the saved estimator. A folder with a missing,
        unreadable or changed file raises ``ValueError`` naming the file.
        """
        import keras

        from mtrec_lib.models import layers as _layers  # noqa: F401  (registers custom layers)

        path = Path(path)

        def incomplete(name: str, problem: str) -> ValueError:
            return ValueError(
                f"{path / name}: {problem}. {path} is not a complete saved MultiTaskLearning "
                "(an interrupted save, files of two saves in one folder, or an edited file); save "
                "the model again with model.save(path)."
            )

        for name in (_META_FILE, _MODEL_FILE):
            if not (path / name).exists():
                raise incomplete(name, "missing")
        try:
            meta = json.loads((path / _META_FILE).read_text(encoding="utf-8"))
            params = dict(meta["params"])
            stored = meta.get("sha256")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
            raise incomplete(_META_FILE, f"unreadable ({type(err).__name__}: {err})") from None
        # Saves since checksums were added list the files they wrote; older ones do not.
        for name, expected in (stored or {}).items():
            if not (path / name).exists() or sha256_file(path / name) != expected:
                raise incomplete(
                    name, f"{'missing' if not (path / name).exists() else 'changed'} since {_META_FILE} was written"
                )
        for k, v in params.items():  # JSON turned tuples into lists
            if isinstance(v, list) and (isinstance(_D.get(k), tuple) or k == "position_tasks"):
                params[k] = tuple(v)
        try:
            est = cls(**params)
            est.tasks_ = dict(meta["tasks_"])
            est.feature_spec_ = FeatureSpec.from_dict(meta["feature_spec_"])
            est.network_info_ = meta["network_info_"]
            weighting_state, history = meta["weighting_state"], meta["history_"]
            est.fit_seconds_ = meta["fit_seconds_"]
        except (KeyError, TypeError) as err:
            raise incomplete(_META_FILE, f"unreadable ({type(err).__name__}: {err})") from None
        est.network_ = keras.saving.load_model(path / _MODEL_FILE)
        hp = est._hyperparameters()
        # An old save without the optimiser state is left uncompiled: it predicts, partial_fit refuses.
        with_optimizer = (stored is None and (path / _OPTIMIZER_FILE).exists()) or _OPTIMIZER_FILE in (stored or {})
        est.model_ = training_model(
            est.network_.get_layer("core"),
            est.tasks_,
            est.network_info_,
            hp,
            loss_weights=est.loss_weights,
            gradient=est.gradient,
            seed=est.seed,
            compile=with_optimizer,
        )
        est.model_.weighting.set_state(weighting_state)
        if with_optimizer:
            with np.load(path / _OPTIMIZER_FILE, allow_pickle=False) as f:
                _restore_optimizer_state(est.model_, dict(f), str(path / _OPTIMIZER_FILE))
        est.history_ = history
        est.n_fit_calls_ = int(meta.get("n_fit_calls_", 1))
        est.n_features_in_ = len(est.feature_spec_.columns)
        est.feature_names_in_ = np.asarray(est.feature_spec_.columns, dtype=object)
        rows = path / _ROWS_FILE
        est.train_rows_ = np.load(rows, allow_pickle=False) if rows.exists() else np.zeros(0, dtype=np.uint64)
        return est

    # --------------------------------------------------------------- pickle
    def __getstate__(self) -> dict[str, Any]:
        """Parameters, plus the files of :meth:`save` when fitted: one serialisation format."""
        state = {k: v for k, v in self.__dict__.items() if not k.endswith("_")}
        if hasattr(self, "model_"):
            with tempfile.TemporaryDirectory() as tmp:
                self.save(tmp)
                state["_saved_files"] = {p.name: p.read_bytes() for p in Path(tmp).iterdir()}
        return state

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        state = dict(state)
        files = state.pop("_saved_files", None)
        if files is not None:
            with tempfile.TemporaryDirectory() as tmp:
                for name, content in files.items():
                    (Path(tmp) / name).write_bytes(content)
                self.__dict__.update(type(self).load(tmp).__dict__)
        self.__dict__.update(state)


def _frame_dataset(
    preprocess,
    arrays: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray] | None,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
):
    """Input arrays -> the ``preprocess`` model (lookups, scaling; skipped if ``None``) -> batches.

    ``fit`` and ``partial_fit`` train the core on inputs preprocessed once up front.
    """
    if preprocess is None:
        inputs = arrays
    else:  # the list position (position tower) goes to the core as it is
        inputs = _run_chunks(preprocess, {k: v for k, v in arrays.items() if k != POSITION_INPUT})
        if POSITION_INPUT in arrays:
            inputs[POSITION_INPUT] = arrays[POSITION_INPUT]
    return make_dataset(inputs, labels, batch_size, shuffle=shuffle, seed=seed)


def _extend_history(history: Mapping[str, list], new: Mapping[str, Any]) -> dict[str, list[float]]:
    """``history`` followed by the epochs of ``new``; a key missing on one side is NaN there."""
    n_old = max((len(v) for v in history.values()), default=0)
    n_new = max((len(v) for v in new.values()), default=0)
    out = {}
    for k in dict.fromkeys([*history, *new]):
        old = [float(x) for x in history.get(k, [])]
        added = [float(x) for x in new.get(k, [])]
        out[k] = old + [float("nan")] * (n_old - len(old)) + added + [float("nan")] * (n_new - len(added))
    return out


def _optimizers(model) -> dict:
    """The training model's optimisers: Keras' (if compiled) and GradNorm's own (if any)."""
    found = {
        "model": model.optimizer if model.compiled else None,
        "weighting": getattr(model.weighting, "optimizer", None),
    }
    return {k: v for k, v in found.items() if v is not None}


def _optimizer_state(model) -> dict[str, np.ndarray]:
    """Every optimiser variable (step count, learning rate, moments), keyed ``<optimiser>_<index>``."""
    if not model.compiled or not model.optimizer.built:
        return {}
    return {
        f"{k}_{i:04d}": np.asarray(v.numpy())
        for k, opt in _optimizers(model).items()
        for i, v in enumerate(opt.variables)
    }


def _restore_optimizer_state(model, state: Mapping[str, np.ndarray], where: str) -> None:
    """Assign a state written by :func:`_optimizer_state` to a compiled training model."""
    model.optimizer.build(model.trainable_variables)  # the variables to assign to
    for k, opt in _optimizers(model).items():
        keys = sorted(key for key in state if key.startswith(f"{k}_"))
        variables = opt.variables
        if len(keys) != len(variables) or any(
            tuple(state[key].shape) != tuple(v.shape) for key, v in zip(keys, variables)
        ):
            raise ValueError(
                f"{where}: the saved optimiser state does not match the network "
                f"({len(keys)} arrays for {len(variables)} optimiser variables); the folder "
                "mixes files of different saves. Save the model again."
            )
        for key, v in zip(keys, variables):
            v.assign(state[key])


def _run_chunks(model, arrays: Mapping[str, np.ndarray], chunk: int = 32768) -> dict[str, np.ndarray]:
    """Run ``model`` eagerly over ``arrays`` in large chunks; returns numpy outputs.

    Eager calls avoid ``Model.predict``'s tracing, which repeats for every new model (noisy
    when a notebook compares seven architectures) and buys nothing at these sizes.
    """
    import tensorflow as tf

    n = len(next(iter(arrays.values())))
    parts = []
    for start in range(0, n, chunk):
        batch = {k: tf.constant(v[start : start + chunk]) for k, v in arrays.items()}
        out = model(batch, training=False)
        parts.append({k: np.asarray(v) for k, v in out.items()})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
