"""Feature preprocessing that lives *inside* the Keras model.

A saved model must carry its preprocessing, or a reader who reloads it next week feeds
raw ids into an embedding table and gets nonsense. So the lookups and the scaling are
Keras layers adapted on the training frame:

* **id and categorical columns** (names ending ``_id``, and every non-numeric column)
  go through ``IntegerLookup`` / ``StringLookup`` with one out-of-vocabulary (OOV,
  词表外) bucket, then an ``Embedding``. An id never seen at fit time maps to the OOV
  row instead of crashing.
* **numeric columns** are stacked into one block and standardised by a
  ``Normalization`` layer adapted on the training data (mean 0, variance 1).

:class:`FeatureSpec` records which column is which so that :meth:`FeatureSpec.to_arrays`
turns any later frame into the model's input dictionary, and checks it on the way.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"user_id": [1, 2, 3], "device": ["ios", "web", "ios"],
...                    "price": [9.5, 20.0, 3.0], "click": [1, 0, 1]})
>>> spec = FeatureSpec.infer(df, features=None, exclude=["click"])
>>> spec.categorical, spec.numeric
(['user_id', 'device'], ['price'])
>>> sorted(spec.to_arrays(df, "predict(df)"))
['cat_0_user_id', 'cat_1_device', 'numeric_features']
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import keras
import numpy as np
import pandas as pd

from mtrec_lib import metrics
from mtrec_lib.data.validate import check_frame

__all__ = [
    "FeatureSpec",
    "OffsetConcat",
    "build_preprocessor",
    "core_inputs",
    "embed_features",
    "make_dataset",
    "NUMERIC_INPUT",
    "CATEGORICAL_INDEX",
    "LABEL_COLUMNS",
    "TIME_COLUMNS",
    "LabelLeakWarning",
    "default_features",
    "check_label_leaks",
]

NUMERIC_INPUT = "numeric_features"

#: Label columns of the shipped ``data/user_behavior.csv`` (and of ``mt.data.simulate_shop``):
#: ``features=None`` never reads them, also when they are not tasks of the model
#: (``purchase_30d`` is the future: reading it predicts ``purchase`` perfectly, and it does
#: not exist yet for the rows one wants to predict).
LABEL_COLUMNS = ("click", "purchase", "purchase_30d")
#: Time columns of the shipped data that ``features=None`` leaves out: a model that reads the
#: day index learns what happened on the training days, which does not generalise to later
#: days (the rows one predicts), and a held-out split by time then measures a day it never saw.
TIME_COLUMNS = ("timestamp", "day")

# A single feature that ranks a binary label this well (or this badly) is suspicious.
_LEAK_AUC = 0.99
# Rows that the leak check scores at most (a seeded sample beyond): the check must stay cheap.
_LEAK_ROWS = 50_000


class LabelLeakWarning(UserWarning):
    """A feature looks like (a copy of, or the future of) a task's label; see :func:`check_label_leaks`."""


def default_features(columns: Iterable[str], tasks: Iterable[str]) -> list[str]:
    """The feature columns ``features=None`` means: every column but the tasks, :data:`LABEL_COLUMNS`
    and :data:`TIME_COLUMNS`.

    Examples
    --------
    >>> default_features(["user_id", "day", "price", "click", "purchase_30d"], ["click"])
    ['user_id', 'price']
    """
    skip = {*tasks, *LABEL_COLUMNS, *TIME_COLUMNS}
    return [c for c in columns if c not in skip]


def _safe_name(i: int, col: str) -> str:
    # Keras input names end up in TF op names: keep them to ASCII [A-Za-z0-9_].
    return f"cat_{i}_" + re.sub(r"[^A-Za-z0-9_]", "_", str(col))[:40]


def _check_stray_text(s: pd.Series, col: str, name: str) -> None:
    """Refuse a text column that is numbers but for a few values (a typo that read_csv turned into text).

    Embedded as a category, such a column would silently lose its order and scale.
    """
    values = s.dropna()
    parsed = pd.to_numeric(values, errors="coerce")
    bad = parsed.isna()
    if len(values) and bad.any() and 1 - bad.mean() >= 0.9:
        row = bad.index[np.argmax(bad.to_numpy())]
        raise ValueError(
            f"{name}: column {col!r} holds numbers except for {int(bad.sum())} value(s), e.g. "
            f"{values[row]!r} in row {row!r}, so pandas read the whole column as text. Fix that value, or "
            f"convert the column with df[{col!r}] = pd.to_numeric(df[{col!r}], errors='coerce') (the bad "
            "values become NaN; fill or drop them)."
        )


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


@dataclass
class FeatureSpec:
    """Which columns the model reads, and how.

    Attributes
    ----------
    categorical : list of str
        Columns embedded through a lookup with an OOV bucket.
    numeric : list of str
        Columns standardised inside the model.
    kinds : dict
        For each categorical column, ``"int"`` (``IntegerLookup``) or ``"string"``
        (``StringLookup``).
    inputs : dict
        For each categorical column, the name of its ``keras.Input``.
    """

    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def infer(cls, df: pd.DataFrame, features: Iterable[str] | None, exclude: Iterable[str]) -> FeatureSpec:
        """Decide how each feature column is encoded.

        ``features=None`` takes every column not in ``exclude`` (the task labels), nor
        in :data:`LABEL_COLUMNS` or :data:`TIME_COLUMNS` (see :func:`default_features`).
        A column is categorical if its name ends with ``_id`` or its dtype is not numeric
        (bool counts as numeric); otherwise numeric. A text column whose values are numbers
        but for a few (at least 90% parse) is refused: that is a typo, not a category.
        """
        exclude = list(exclude)
        if features is None:
            cols = default_features(df.columns, exclude)
        else:
            if isinstance(features, str):
                features = [features]
            cols = list(features)
            overlap = [c for c in cols if c in exclude]
            if overlap:
                raise ValueError(
                    f"column {overlap[0]!r} is both a task label and a feature; "
                    "a model must not read its own label. Remove it from features."
                )
            check_frame(df, "fit(data)", required=cols, no_nan=[])
        if not cols:
            raise ValueError(
                "fit(data): no feature columns left after removing the task labels "
                f"{exclude} and the shipped data's label and time columns "
                f"{[*LABEL_COLUMNS, *TIME_COLUMNS]}. "
                "Add feature columns (e.g. user_id, item_id), or list them in features=[...]."
            )
        spec = cls()
        for col in cols:
            s = df[col]
            if pd.api.types.is_datetime64_any_dtype(s) or isinstance(s.dtype, pd.PeriodDtype):
                raise ValueError(
                    f"fit(data): column {col!r} holds dates ({s.dtype}); convert it to "
                    "numbers first, e.g. days since an origin, or drop it from features."
                )
            if not str(col).endswith("_id") and not _is_numeric(s):
                _check_stray_text(s, col, "fit(data)")
            if str(col).endswith("_id") or not _is_numeric(s):
                kind = "int" if _is_integer_valued(s) else "string"
                spec.inputs[col] = _safe_name(len(spec.categorical), col)
                spec.categorical.append(col)
                spec.kinds[col] = kind
            else:
                spec.numeric.append(col)
        return spec

    @property
    def columns(self) -> list[str]:
        return self.categorical + self.numeric

    def check(self, df: pd.DataFrame, name: str) -> None:
        """Validate ``df`` against this spec: columns present, no NaN, numbers numeric."""
        check_frame(df, name, required=self.columns, numeric=self.numeric)
        for col in self.categorical:
            if self.kinds[col] == "int" and not _is_integer_valued(df[col]):
                raise ValueError(
                    f"{name}: column {col!r} held integer ids at fit time but now has dtype "
                    f"{df[col].dtype} with non-integer values; convert it, e.g. df[{col!r}].astype(int)."
                )

    def to_arrays(self, df: pd.DataFrame, name: str) -> dict[str, np.ndarray]:
        """The model's input dict for ``df`` (validated first)."""
        self.check(df, name)
        arrays: dict[str, np.ndarray] = {}
        for col in self.categorical:
            s = df[col]
            if self.kinds[col] == "int":
                arrays[self.inputs[col]] = s.to_numpy(dtype=np.int64).reshape(-1, 1)
            else:
                arrays[self.inputs[col]] = s.astype(str).to_numpy(dtype=object).reshape(-1, 1)
        if self.numeric:
            arrays[NUMERIC_INPUT] = df[self.numeric].to_numpy(dtype=np.float32)
        return arrays

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureSpec:
        return cls(**{k: (dict(v) if isinstance(v, Mapping) else list(v)) for k, v in d.items()})


def check_label_leaks(df: pd.DataFrame, spec: FeatureSpec, tasks: Mapping[str, str], name: str = "fit(data)") -> None:
    """Refuse or warn about features that give a binary task's label away, before training.

    * A 0/1 feature equal to a label (or to ``1 - label``) in every row is a copy of it:
      ``ValueError``. Nothing can be learnt from such a model, so refusing costs nothing.
    * A 0/1 feature *implied by* or *implying* a label in every row (``purchase`` = 1 only
      where ``click`` = 1; ``purchase_30d`` = 1 wherever ``purchase`` = 1), beyond what
      chance explains, and any feature that alone ranks a label with AUC >= 0.99 or <= 0.01
      (:func:`mtrec_lib.metrics.auc` on the training rows; a categorical column scores each
      row by its category's label mean): :class:`LabelLeakWarning`. A warning, not an
      error, because a strong honest feature can do that too, and the reader may know it.

    Categorical columns with more than one category per 20 rows are not scored (their
    category means would memorise the labels of the few rows of each category).

    Examples
    --------
    >>> import warnings
    >>> df = pd.DataFrame({"price": [1.0, 2.0, 3.0, 4.0], "bought": [0, 0, 1, 1], "paid": [0, 0, 1, 1]})
    >>> spec = FeatureSpec.infer(df, ["price"], exclude=["bought"])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_label_leaks(df, spec, {"bought": "binary"})
    >>> print(caught[0].message)  # doctest: +ELLIPSIS
    fit(data): feature 'price' looks like a label of task 'bought': ... (single-feature AUC 1.000 ...
    >>> check_label_leaks(df, FeatureSpec.infer(df, ["paid"], exclude=["bought"]),
    ...                   {"bought": "binary"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: fit(data): feature 'paid' is a copy of task 'bought''s label (equal in every row, ...
    """
    if len(df) > _LEAK_ROWS:
        df = df.iloc[np.sort(np.random.default_rng(0).choice(len(df), _LEAK_ROWS, replace=False))]
    fix = "Drop it: pass features=[...] without it, or df.drop(columns=[{col!r}])."
    for task, kind in tasks.items():
        y = df[task].to_numpy(dtype=float)
        if kind != "binary" or y.min() == y.max():
            continue
        for col in spec.columns:
            s = df[col]
            v, why = (s.to_numpy(dtype=float), "") if col in spec.numeric else (None, "")
            if v is not None and np.isin(v, (0.0, 1.0)).all() and v.min() != v.max():
                if (v == y).all() or (v == 1 - y).all():
                    raise ValueError(
                        f"{name}: feature {col!r} is a copy of task {task!r}'s label (equal in every "
                        "row, or its complement): the model would read its own answer. " + fix.format(col=col)
                    )
                why = _implication(v, y, col, task)
            if v is None:
                codes, uniques = pd.factorize(s.astype(str))
                if len(uniques) > len(df) / 20:
                    continue
                v = (np.bincount(codes, weights=y) / np.bincount(codes))[codes]
            score = metrics.auc(y, v)
            if why or score >= _LEAK_AUC or score <= 1 - _LEAK_AUC:
                warnings.warn(
                    f"{name}: feature {col!r} looks like a label of task {task!r}: "
                    f"{why or 'alone it predicts the label almost perfectly'} (single-feature AUC "
                    f"{score:.3f} on the training rows). If it is another label, or recorded after the "
                    "outcome, the model will not have it when it predicts and its scores flatter it. "
                    + fix.format(col=col),
                    LabelLeakWarning,
                    stacklevel=4,
                )


def _implication(v: np.ndarray, y: np.ndarray, col: str, task: str) -> str:
    """Why 0/1 feature ``v`` and label ``y`` imply one another in every row, or "" (chance explains it).

    An implication ``a = 1 => b = 1`` over ``n`` rows with ``a = 1`` happens by chance with
    probability about ``mean(b) ** n``; below one in a million it is no accident.
    """
    for a, b, text in (
        (y, v, f"{col!r} is 1 in every row where {task!r} is 1"),
        (v, y, f"{task!r} is 1 in every row where {col!r} is 1"),
    ):
        on = a == 1
        if (b[on] == 1).all() and b.mean() < 1 and b.mean() ** on.sum() < 1e-6:
            return text
    return ""


def _is_integer_valued(s: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(s):
        return False
    if pd.api.types.is_integer_dtype(s):
        return True
    if pd.api.types.is_float_dtype(s):
        v = s.to_numpy(dtype=float, na_value=np.nan)
        v = v[~np.isnan(v)]
        return bool(len(v)) and bool(np.all(v == np.round(v))) and bool(np.all(np.abs(v) < 2**53))
    return False


def _free_token(vocab: list, default, kind: str):
    """An OOV token that does not collide with a real vocabulary entry."""
    if default not in set(vocab):
        return default
    if kind == "int":
        return int(min(vocab)) - 1
    i = 0
    while f"[UNK{i}]" in set(vocab):
        i += 1
    return f"[UNK{i}]"


CATEGORICAL_INDEX = "categorical_index"


@keras.saving.register_keras_serializable(package="mtrec_lib")
class OffsetConcat(keras.layers.Layer):
    """Concatenate per-column lookup indices into one ``(batch, n_columns)`` int tensor.

    Column ``j``'s indices are shifted by ``offsets[j]`` so that every column owns its
    own block of rows in one shared embedding table (one gather per batch instead of one
    per column; index ``offsets[j]`` is column ``j``'s OOV row).
    """

    def __init__(self, offsets, **kwargs):
        super().__init__(**kwargs)
        self.offsets = [int(o) for o in offsets]

    def call(self, indices):
        parts = [keras.ops.cast(x, "int64") + o for x, o in zip(indices, self.offsets)]
        return keras.ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], len(self.offsets))

    def compute_output_spec(self, indices):
        return keras.KerasTensor((indices[0].shape[0], len(self.offsets)), dtype="int64")

    def get_config(self):
        return {**super().get_config(), "offsets": self.offsets}


def build_preprocessor(spec: FeatureSpec, arrays: Mapping[str, np.ndarray]):
    """The model's preprocessing, adapted on the training ``arrays``.

    Returns ``(preprocessor, table_rows)``. ``preprocessor`` is a ``keras.Model`` from
    the raw inputs (one per categorical column, plus the numeric block) to
    ``{"categorical_index": int64 (batch, n_categorical), "numeric_features": float32
    (batch, n_numeric)}``: lookups with one OOV bucket per column, offset into one
    shared table of ``table_rows`` rows, and the standardised numbers.
    """
    inputs, indices, offsets, rows = {}, [], [], 0
    for col in spec.categorical:
        key = spec.inputs[col]
        values = np.unique(arrays[key].ravel())
        if spec.kinds[col] == "int":
            vocab = [int(v) for v in values]
            inp = keras.Input(shape=(1,), dtype="int64", name=key)
            lookup = keras.layers.IntegerLookup(
                vocabulary=np.asarray(vocab, dtype="int64"),
                num_oov_indices=1,
                oov_token=_free_token(vocab, -1, "int"),
                name=f"lookup_{key}",
            )
        else:
            vocab = sorted(str(v) for v in values)
            inp = keras.Input(shape=(1,), dtype="string", name=key)
            lookup = keras.layers.StringLookup(
                vocabulary=vocab,
                num_oov_indices=1,
                oov_token=_free_token(vocab, "[UNK]", "string"),
                name=f"lookup_{key}",
            )
        inputs[key] = inp
        indices.append(lookup(inp))
        offsets.append(rows)
        rows += int(lookup.vocabulary_size())
    outputs = {}
    if indices:
        outputs[CATEGORICAL_INDEX] = OffsetConcat(offsets, name="offset_concat")(indices)
    if spec.numeric:
        inp = keras.Input(shape=(len(spec.numeric),), dtype="float32", name=NUMERIC_INPUT)
        norm = keras.layers.Normalization(axis=-1, name="normalize_numeric")
        norm.adapt(arrays[NUMERIC_INPUT])
        inputs[NUMERIC_INPUT] = inp
        outputs[NUMERIC_INPUT] = norm(inp)
    return keras.Model(inputs, outputs, name="preprocess"), rows


def core_inputs(spec: FeatureSpec) -> dict:
    """``keras.Input`` for the preprocessed features (what the trainable core reads)."""
    inputs = {}
    if spec.categorical:
        inputs[CATEGORICAL_INDEX] = keras.Input(shape=(len(spec.categorical),), dtype="int64", name=CATEGORICAL_INDEX)
    if spec.numeric:
        inputs[NUMERIC_INPUT] = keras.Input(shape=(len(spec.numeric),), dtype="float32", name=NUMERIC_INPUT)
    return inputs


def embed_features(
    spec: FeatureSpec,
    inputs: Mapping[str, Any],
    table_rows: int,
    embedding_dim: int,
    prefix: str = "",
    embeddings_regularizer=None,
):
    """Embed the categorical indices, flatten, and concatenate with the numeric block.

    One table holds every categorical column (``table_rows`` rows, column blocks set by
    :class:`OffsetConcat`), so each column still has its own embedding vectors. Call it
    once per tower to give towers separate tables (the single-task baseline), or once
    for the whole model to share them. Returns a ``(batch, d)`` tensor.
    """
    parts = []
    if spec.categorical:
        n = len(spec.categorical)
        emb = keras.layers.Embedding(
            table_rows, embedding_dim, name=f"{prefix}embedding", embeddings_regularizer=embeddings_regularizer
        )(inputs[CATEGORICAL_INDEX])
        parts.append(keras.layers.Reshape((n * embedding_dim,), name=f"{prefix}flatten")(emb))
    if spec.numeric:
        parts.append(inputs[NUMERIC_INPUT])
    if len(parts) == 1:
        return parts[0]
    return keras.layers.Concatenate(axis=-1, name=f"{prefix}features")(parts)


def make_dataset(
    arrays: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray] | None,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
):
    """A ``tf.data.Dataset`` of ``(inputs, labels)`` batches: one pass over the rows.

    Keras 3's array adapter rejects string arrays, so the estimator feeds ``tf.data``.
    As in Keras' own adapter, whole batches are gathered by index (vectorised, much
    faster than slicing row by row). With ``shuffle=True`` every new iteration (Keras
    starts one per epoch) draws a stateless permutation seeded with ``(seed, k)`` for
    the ``k``-th iteration: a different order each epoch, the same orders in every run.
    """
    import tensorflow as tf

    n = len(next(iter(arrays.values())))
    x = {k: tf.constant(v) for k, v in arrays.items()}
    y = (
        None
        if labels is None
        else {k: tf.constant(np.asarray(v, dtype=np.float32).reshape(-1, 1)) for k, v in labels.items()}
    )
    n_full = n // batch_size
    n_batches = n_full + (1 if n % batch_size else 0)
    iteration = tf.Variable(0, dtype=tf.int64, trainable=False)  # counts passes for reshuffling

    def permutation(_):
        if not shuffle:
            return tf.range(n, dtype=tf.int64)
        k = iteration.assign_add(1) - 1
        keys = tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(seed, tf.int64), k]))
        return tf.cast(tf.argsort(keys), tf.int64)

    def to_batches(idx):
        ds = tf.data.Dataset.from_tensor_slices(tf.reshape(idx[: n_full * batch_size], [n_full, batch_size]))
        if n % batch_size:
            ds = ds.concatenate(tf.data.Dataset.from_tensors(idx[n_full * batch_size :]))
        return ds

    def gather(idx):
        xb = {k: tf.gather(v, idx) for k, v in x.items()}
        return xb if y is None else (xb, {k: tf.gather(v, idx) for k, v in y.items()})

    ds = tf.data.Dataset.range(1).map(permutation).flat_map(to_batches).map(gather).prefetch(2)
    # Known length: Keras then ends each epoch exactly after one pass, also when it runs
    # several steps per compiled call (steps_per_execution).
    return ds.apply(tf.data.experimental.assert_cardinality(n_batches))
