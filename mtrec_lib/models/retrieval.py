"""``JointRetrievalRating``: a two-tower retrieval task and a rating task on shared embeddings.

This is the multi-task model of the TensorFlow Recommenders (TFRS) tutorial
"Multi-task recommenders", rebuilt on plain Keras 3 (no ``tensorflow-recommenders``):

* a **user tower** and an **item tower**, here one embedding table each
  (``embedding_dim`` wide, index 0 is the out-of-vocabulary bucket);
* a **retrieval task** (召回): the score of a (user, item) pair is the dot product of
  the two embeddings, trained with an *in-batch softmax*: within a batch of ``B``
  (user, item) pairs, each user's own item is the positive and the other ``B - 1``
  items are its negatives. As in TFRS the cross-entropy is **summed** over the batch.
  Popular items turn up as negatives more often than rare ones, so this loss learns to
  push popular items down; ``logq_correction=True`` subtracts each item's log
  sampling probability from its logit to undo that bias (Yi et al., RecSys 2019;
  TFRS's ``candidate_sampling_probability``);
* a **rating task** (评分预测): an MLP (256, 64, 1 units by default) on the
  concatenated user and item embeddings predicts the explicit rating, trained with
  the **mean** squared error;
* the training objective ``rating_weight * L_rating + retrieval_weight * L_retrieval``.
  Weights ``(1, 0)`` give a rating-only model, ``(0, 1)`` a retrieval-only model,
  ``(1, 1)`` the joint model. Because the embeddings are shared, each task shapes the
  representation the other task reads.

Evaluation follows TFRS's ``FactorizedTopK`` metric: for each test (user, item) pair,
the user's embedding scores every item of the catalogue; the pair is a hit when fewer
than ``k`` items score strictly higher than the true item (:func:`top_k_accuracy`).
Items the user rated in training are *not* removed, as in TFRS, unless
``exclude_seen=True``.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"user_id": rng.integers(0, 30, 600), "item_id": rng.integers(0, 40, 600)})
>>> df = df.drop_duplicates(["user_id", "item_id"])
>>> df["rating"] = rng.integers(1, 6, len(df)).astype(float)
>>> model = JointRetrievalRating(embedding_dim=8, rating_units=(16,), epochs=2,
...                              batch_size=64, seed=0).fit(df)
>>> sorted(model.evaluate(df, k=10))
['rmse', 'top10_accuracy']
>>> model.recommend([0, 1], n=3).columns.tolist()
['user_id', 'item_id', 'score', 'rank']
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import keras
import numpy as np
import pandas as pd
from keras import ops
from scipy import sparse
from sklearn.base import BaseEstimator

from mtrec_lib.data.frames import ITEM, RATING, USER
from mtrec_lib.data.validate import check_frame, check_positive_int
from mtrec_lib.metrics import rmse, top_k_accuracy  # top_k_accuracy: re-exported, defined in metrics
from mtrec_lib.models.estimator import check_fitted
from mtrec_lib.models.layers import MLP, as_units

__all__ = ["JointRetrievalRating", "TwoTowerRatingModel", "top_k_accuracy"]

_PACKAGE = "mtrec_lib"
_OPTIMIZERS = {"adagrad": keras.optimizers.Adagrad, "adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}


# ---------------------------------------------------------------------------
# The Keras model
# ---------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package=_PACKAGE)
class TwoTowerRatingModel(keras.Model):
    """User and item embeddings shared by an in-batch-softmax retrieval task and a rating MLP.

    Inputs are integer indices (0 = out-of-vocabulary bucket) under the keys ``"user"``
    and ``"item"``; the label is the rating. ``call`` returns a dict with ``"rating"``
    (batch, 1), ``"user"`` and ``"item"`` (batch, embedding_dim).

    Logged metrics: ``loss`` (the weighted objective), ``rating_loss`` (batch MSE) and
    ``retrieval_loss`` (in-batch softmax cross-entropy, summed over the batch as TFRS does).

    Parameters
    ----------
    n_users, n_items : int
        Vocabulary sizes without the OOV bucket (tables get one extra row).
    embedding_dim : int
    rating_units : sequence of int
        Hidden widths of the rating MLP; a 1-unit linear output follows.
    rating_weight, retrieval_weight : float
        Loss weights.
    item_log_q : sequence of float, optional
        ``log`` sampling probability of each item row (length ``n_items + 1``) for the
        logQ correction; ``None`` trains the plain in-batch softmax.

    Examples
    --------
    >>> net = TwoTowerRatingModel(n_users=5, n_items=7, embedding_dim=4, rating_units=(8,))
    >>> out = net({"user": np.array([1, 2]), "item": np.array([3, 0])})
    >>> tuple(out["rating"].shape), tuple(out["user"].shape)
    ((2, 1), (2, 4))
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        embedding_dim: int = 32,
        rating_units: Sequence[int] = (256, 64),
        rating_weight: float = 1.0,
        retrieval_weight: float = 1.0,
        item_log_q: Sequence[float] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.n_users, self.n_items = int(n_users), int(n_items)
        self.embedding_dim = int(embedding_dim)
        self.rating_units = as_units(rating_units, allow_empty=True)
        self.rating_weight, self.retrieval_weight = float(rating_weight), float(retrieval_weight)
        # Keras' default "uniform" initialiser (+-0.05), as in the TFRS tutorial.
        self.user_embedding = keras.layers.Embedding(self.n_users + 1, self.embedding_dim, name="user_embedding")
        self.item_embedding = keras.layers.Embedding(self.n_items + 1, self.embedding_dim, name="item_embedding")
        self.rating_mlp = MLP(self.rating_units, name="rating_mlp")
        self.rating_out = keras.layers.Dense(1, name="rating_out")
        # logQ correction (Yi et al., RecSys 2019): log of each item's chance to appear
        # in a batch, subtracted from its in-batch logit so popular items are not
        # over-penalised as negatives. None: no correction (the TFRS default).
        self.item_log_q = None if item_log_q is None else np.asarray(item_log_q, dtype="float32").ravel()
        self._log_q = (
            None
            if item_log_q is None
            else self.add_weight(
                shape=(self.n_items + 1,),
                initializer=keras.initializers.Constant(self.item_log_q),
                trainable=False,
                name="item_log_q",
            )
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.rating_tracker = keras.metrics.Mean(name="rating_loss")
        self.retrieval_tracker = keras.metrics.Mean(name="retrieval_loss")

    @property
    def metrics(self):
        return [self.loss_tracker, self.rating_tracker, self.retrieval_tracker]

    def call(self, inputs, training=False):
        u = self.user_embedding(inputs["user"])
        i = self.item_embedding(inputs["item"])
        rating = self.rating_out(self.rating_mlp(ops.concatenate([u, i], axis=-1), training=training))
        return {"rating": rating, "user": u, "item": i}

    def task_losses(self, x, y, outputs):
        """``(rating_loss, retrieval_loss)`` of one batch."""
        y = ops.reshape(ops.cast(y, "float32"), (-1, 1))
        # A missing rating (NaN: watched, not rated) trains retrieval only; the rating
        # loss is the mean over the rated rows of the batch.
        rated = ops.logical_not(ops.isnan(y))
        sq = ops.where(rated, ops.square(ops.where(rated, y, 0.0) - outputs["rating"]), 0.0)
        rating_loss = ops.sum(sq) / ops.maximum(ops.sum(ops.cast(rated, "float32")), 1.0)
        # In-batch softmax: row b's positive is column b; every other item of the batch
        # is a negative. Popular items are negatives more often; logQ undoes that bias.
        logits = ops.matmul(outputs["user"], ops.transpose(outputs["item"]))
        if self._log_q is not None:
            logits = logits - ops.expand_dims(ops.take(self._log_q, x["item"]), 0)
        labels = ops.arange(ops.shape(logits)[0])
        retrieval_loss = ops.sum(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        return rating_loss, retrieval_loss

    def _objective(self, rating_loss, retrieval_loss):
        return self.rating_weight * rating_loss + self.retrieval_weight * retrieval_loss

    def _logs(self, objective, rating_loss, retrieval_loss) -> dict:
        self.loss_tracker.update_state(objective)
        self.rating_tracker.update_state(rating_loss)
        self.retrieval_tracker.update_state(retrieval_loss)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        import tensorflow as tf  # custom train_step: TensorFlow backend

        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            outputs = self(x, training=True)
            rating_loss, retrieval_loss = self.task_losses(x, y, outputs)
            objective = self._objective(rating_loss, retrieval_loss)
        variables = self.trainable_variables
        # A task with weight 0 contributes an exact zero gradient: its head stays untrained.
        self.optimizer.apply(tape.gradient(objective, variables), variables)
        return self._logs(objective, rating_loss, retrieval_loss)

    def test_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        rating_loss, retrieval_loss = self.task_losses(x, y, self(x, training=False))
        return self._logs(self._objective(rating_loss, retrieval_loss), rating_loss, retrieval_loss)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "n_users": self.n_users,
            "n_items": self.n_items,
            "embedding_dim": self.embedding_dim,
            "rating_units": list(self.rating_units),
            "rating_weight": self.rating_weight,
            "retrieval_weight": self.retrieval_weight,
            "item_log_q": None if self.item_log_q is None else self.item_log_q.tolist(),
        }


# ---------------------------------------------------------------------------
# The estimator
# ---------------------------------------------------------------------------
def _as_float(value: Any, name: str, minimum: float = 0.0, strict: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = np.isfinite(value) and (value > minimum if strict else value >= minimum)
    if not ok:
        rel = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {rel} {minimum}, got {value!r}.")
    return float(value)


class JointRetrievalRating(BaseEstimator):
    """Joint retrieval + rating recommender with shared user and item embeddings.

    A sibling of :class:`~mtrec_lib.models.MultiTaskLearning` for the classic
    "retrieval and ranking in one model" setting (TFRS multi-task tutorial). The
    estimator is a scikit-learn ``BaseEstimator``: the constructor only stores
    parameters, :meth:`fit` returns ``self``; ``get_params``, ``set_params``, ``clone`` and
    ``repr`` come with it.

    Parameters
    ----------
    embedding_dim : int, default 32
        Width of the shared user and item embeddings.
    rating_units : sequence of int, default (256, 64)
        Hidden layers of the rating MLP (a linear 1-unit output follows).
    rating_weight, retrieval_weight : float, default 1.0
        Loss weights, non-negative, not both 0. ``(1, 0)``: rating-only; ``(0, 1)``:
        retrieval-only. The retrieval loss is a *sum* over the batch and the rating
        loss a *mean* (as in TFRS), so with the default batch of 8192 equal weights
        let retrieval dominate the shared embeddings.
    epochs : int, default 3
    batch_size : int, default 8192
        Also the number of in-batch negatives plus one. The defaults (8192, 3 epochs,
        Adagrad 0.1, 32 dimensions, no logQ correction) are the TFRS tutorial's.
    learning_rate : float, default 0.1
    optimizer : {"adagrad", "adam", "sgd"}, default "adagrad"
    logq_correction : bool, default False
        Correct the in-batch softmax for item popularity: the logit of item ``j`` is
        reduced by ``log q_j``, ``q_j`` its share of the training rows. Only training
        changes; scores at evaluation and recommendation are plain dot products.
    eval_batch_size : int, default 4096
        Rows scored at once in :meth:`evaluate` and :meth:`recommend` (memory only).
    deterministic : bool, default True
        Turn on TensorFlow op determinism (process-wide) so the same seed gives the
        same weights and predictions on the same machine. The losses logged in
        ``history_`` can still differ in the last float32 bit between two fits in one
        process (TensorFlow's CPU sums round by memory layout); training does not.
    seed : int, default 0
        Seeds the weights (``keras.utils.set_random_seed``) and the per-epoch shuffle.

    Attributes
    ----------
    model_ : TwoTowerRatingModel
        The trained Keras model.
    user_ids_, item_ids_ : pandas.Index
        Known ids; position ``p`` is embedding row ``p + 1`` (row 0 is the OOV bucket).
    history_ : dict
        Per-epoch ``loss`` (weighted objective), ``rating_loss`` and ``retrieval_loss``
        (training batch means), plus ``top100_accuracy`` and ``rmse`` when ``fit`` got
        ``eval_data``.
    fit_seconds_ : float

    Examples
    --------
    >>> import mtrec_lib as mt                                     # doctest: +SKIP
    >>> ml = mt.data.load_movielens_100k()                          # doctest: +SKIP
    >>> train, test = mt.data.split(ml.ratings, "random", test_size=0.2, seed=42)  # doctest: +SKIP
    >>> model = JointRetrievalRating(rating_weight=1, retrieval_weight=1).fit(
    ...     train, items=ml.items["item_id"])                       # doctest: +SKIP
    >>> model.evaluate(test)                                        # doctest: +SKIP
    {'top100_accuracy': ..., 'rmse': ...}
    """

    def __init__(
        self,
        embedding_dim: int = 32,
        rating_units: Sequence[int] = (256, 64),
        rating_weight: float = 1.0,
        retrieval_weight: float = 1.0,
        epochs: int = 3,
        batch_size: int = 8192,
        learning_rate: float = 0.1,
        optimizer: str = "adagrad",
        logq_correction: bool = False,
        eval_batch_size: int = 4096,
        deterministic: bool = True,
        seed: int = 0,
    ) -> None:
        self.embedding_dim = embedding_dim
        self.rating_units = rating_units
        self.rating_weight = rating_weight
        self.retrieval_weight = retrieval_weight
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.logq_correction = logq_correction
        self.eval_batch_size = eval_batch_size
        self.deterministic = deterministic
        self.seed = seed

    def _validated(self) -> dict[str, Any]:
        p = self.get_params()
        p["embedding_dim"] = check_positive_int(p["embedding_dim"], "embedding_dim")
        p["rating_units"] = as_units(p["rating_units"], allow_empty=True)
        p["rating_weight"] = _as_float(p["rating_weight"], "rating_weight")
        p["retrieval_weight"] = _as_float(p["retrieval_weight"], "retrieval_weight")
        if p["rating_weight"] == 0 and p["retrieval_weight"] == 0:
            raise ValueError(
                "rating_weight and retrieval_weight are both 0: nothing to train. "
                "Give at least one task a positive weight."
            )
        p["epochs"] = check_positive_int(p["epochs"], "epochs")
        p["batch_size"] = check_positive_int(p["batch_size"], "batch_size")
        p["eval_batch_size"] = check_positive_int(p["eval_batch_size"], "eval_batch_size")
        p["learning_rate"] = _as_float(p["learning_rate"], "learning_rate", strict=True)
        if p["optimizer"] not in _OPTIMIZERS:
            raise ValueError(f"unknown optimizer {p['optimizer']!r}; choose one of {list(_OPTIMIZERS)}.")
        p["seed"] = check_positive_int(p["seed"], "seed", minimum=0)
        return p

    # ------------------------------------------------------------------ data
    @staticmethod
    def _check(df: pd.DataFrame, name: str, rating: bool, some_rated: bool = True) -> None:
        # ids must be complete; ratings may be NaN (an interaction without a rating)
        check_frame(df, name, required=[USER, ITEM], no_nan=[USER, ITEM], numeric=[RATING] if rating else None)
        if rating and some_rated and df[RATING].isna().all():
            raise ValueError(
                f"{name}: column 'rating' has no values (all NaN). Pass rated rows, "
                "or set rating_weight=0 for retrieval from interactions only."
            )

    def _index(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Embedding rows of each row's user and item; unknown ids -> 0 (OOV bucket)."""
        return (self.user_ids_.get_indexer(df[USER]) + 1).astype("int32"), (
            self.item_ids_.get_indexer(df[ITEM]) + 1
        ).astype("int32")

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        ratings: pd.DataFrame,
        items: Iterable | pd.Series | None = None,
        eval_data: pd.DataFrame | None = None,
        verbose: int | str = 0,
    ) -> JointRetrievalRating:
        """Train on a ratings frame with columns ``user_id``, ``item_id`` and ``rating``.

        Parameters
        ----------
        ratings : pandas.DataFrame
            One row per (user, item) interaction. ``rating`` must be numeric. A missing
            rating (NaN) marks an interaction without an explicit rating: the row trains
            the retrieval task only. The column may be absent when ``rating_weight == 0``
            (retrieval from implicit feedback alone).
        items : iterable of item ids, optional
            The full catalogue to retrieve from. Items listed here but absent from
            ``ratings`` get an embedding that never receives a gradient (as in TFRS,
            whose vocabulary is built from all movies). Default: the items of ``ratings``.
        eval_data : pandas.DataFrame, optional
            Held-out rows scored with :meth:`evaluate` after every epoch, giving
            learning curves in ``history_["top100_accuracy"]`` and ``history_["rmse"]``.
            Only recorded, never used for training or stopping.
        verbose : int or "auto", default 0
            Keras progress output.

        Returns
        -------
        self
        """
        import tensorflow as tf

        p = self._validated()
        has_rating = RATING in getattr(ratings, "columns", ())
        self._check(
            ratings, "fit(ratings)", rating=p["rating_weight"] > 0 or has_rating, some_rated=p["rating_weight"] > 0
        )
        if items is not None:
            items = pd.Index(list(items) if not isinstance(items, (pd.Series, pd.Index, np.ndarray)) else items)
            if items.isna().any():
                raise ValueError("fit(items): the catalogue contains missing ids (NaN). Drop them first.")
        if eval_data is not None:
            self._check(eval_data, "fit(eval_data)", rating=True)
        keras.utils.set_random_seed(p["seed"])
        if self.deterministic:
            tf.config.experimental.enable_op_determinism()

        self.user_ids_ = pd.Index(pd.unique(ratings[USER]))
        known_items = pd.unique(ratings[ITEM])
        if items is not None:
            known_items = pd.Index(known_items).append(items).unique()
        self.item_ids_ = pd.Index(known_items)
        u, i = self._index(ratings)
        y = ratings[RATING].to_numpy(dtype="float32") if has_rating else np.zeros(len(ratings), "float32")

        log_q = None
        if self.logq_correction:
            counts = np.bincount(i, minlength=len(self.item_ids_) + 1).astype(float)
            log_q = np.log(np.maximum(counts, 1.0) / len(i))
        self.model_ = TwoTowerRatingModel(
            len(self.user_ids_),
            len(self.item_ids_),
            p["embedding_dim"],
            p["rating_units"],
            p["rating_weight"],
            p["retrieval_weight"],
            item_log_q=log_q,
        )
        self.model_.compile(optimizer=_OPTIMIZERS[p["optimizer"]](learning_rate=p["learning_rate"]))
        rng = np.random.default_rng(p["seed"])
        # Which items each user rated in training (rows: user embedding rows).
        self._seen = sparse.csr_matrix(
            (np.ones(len(u), dtype=bool), (u, i - 1)), shape=(len(self.user_ids_) + 1, len(self.item_ids_))
        )
        self.history_ = {"loss": [], "rating_loss": [], "retrieval_loss": []}
        if eval_data is not None:
            self.history_.update({"top100_accuracy": [], "rmse": []})
        start = time.perf_counter()
        for epoch in range(p["epochs"]):
            # Our own seeded shuffle each epoch: the batches (and so the in-batch
            # negatives) differ from epoch to epoch, reproducibly.
            perm = rng.permutation(len(y))
            hist = self.model_.fit(
                {"user": u[perm], "item": i[perm]},
                y[perm],
                batch_size=p["batch_size"],
                epochs=epoch + 1,
                initial_epoch=epoch,
                shuffle=False,
                verbose=verbose,
            )
            for key in ("loss", "rating_loss", "retrieval_loss"):
                self.history_[key].append(float(hist.history[key][-1]))
            if eval_data is not None:
                for key, value in self.evaluate(eval_data).items():
                    self.history_[key].append(value)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    # ------------------------------------------------------------------ embeddings
    def user_embeddings(self) -> np.ndarray:
        """User table, shape ``(n_users + 1, embedding_dim)``; row 0 is the OOV bucket."""
        check_fitted(self)
        return np.asarray(self.model_.user_embedding.embeddings, dtype="float32")

    def item_embeddings(self) -> np.ndarray:
        """Item table, shape ``(n_items + 1, embedding_dim)``; row 0 is the OOV bucket."""
        check_fitted(self)
        return np.asarray(self.model_.item_embedding.embeddings, dtype="float32")

    def _mask_seen(self, scores: np.ndarray, user_rows: np.ndarray, keep: np.ndarray | None = None) -> None:
        """Set the scores of items each query's user rated in training to ``-inf``, in place.

        ``keep`` (one catalogue column per query, or -1) is never masked: evaluation must
        not hide the very item it asks about.
        """
        sub = self._seen[user_rows].tocoo()
        r, c = sub.row, sub.col
        if keep is not None:
            r, c = r[c != keep[r]], c[c != keep[r]]
        scores[r, c] = -np.inf

    # ------------------------------------------------------------------ predict
    def predict_rating(self, data: pd.DataFrame) -> np.ndarray:
        """Predicted rating of each row's (user_id, item_id), aligned with ``data``.

        Unknown users or items use the OOV embedding instead of failing. Predictions
        are not clipped to the rating scale (TFRS does not clip either).
        """
        check_fitted(self)
        self._check(data, "predict_rating(data)", rating=False)
        u, i = self._index(data)
        step = check_positive_int(self.eval_batch_size, "eval_batch_size")
        # Plain eager calls in chunks: keras' predict() builds a tf.function per call
        # shape and warns about retracing when a notebook predicts on many frame sizes.
        out = [
            np.asarray(self.model_({"user": u[s : s + step], "item": i[s : s + step]})["rating"])
            for s in range(0, len(u), step)
        ]
        return np.concatenate(out).astype(float).ravel()

    def _scores(self, user_rows: np.ndarray) -> np.ndarray:
        # Dot product of each query with every catalogue item (the OOV row excluded).
        return self.user_embeddings()[user_rows] @ self.item_embeddings()[1:].T

    def evaluate(self, data: pd.DataFrame, k: int = 100, exclude_seen: bool = False) -> dict[str, float]:
        """Top-``k`` retrieval accuracy over the whole catalogue and rating RMSE.

        Parameters
        ----------
        data : pandas.DataFrame
            Test rows with ``user_id``, ``item_id`` and ``rating``.
        k : int, default 100
        exclude_seen : bool, default False
            Remove each user's training items from the candidates first. ``False``
            is TFRS's protocol.

        Returns
        -------
        dict
            ``{"top{k}_accuracy": ..., "rmse": ...}``. A test item outside the
            catalogue counts as a miss; RMSE is over the rows with a rating.
        """
        check_fitted(self)
        self._check(data, "evaluate(data)", rating=True)
        k = check_positive_int(k, "k")
        u, i = self._index(data)
        hits = 0
        step = check_positive_int(self.eval_batch_size, "eval_batch_size")
        for s in range(0, len(data), step):
            scores = self._scores(u[s : s + step])
            if exclude_seen:
                self._mask_seen(scores, u[s : s + step], keep=i[s : s + step] - 1)
            # The chunk's share of hits times its rows: its hit count (an integer, rounded back).
            hits += round(top_k_accuracy(scores, i[s : s + step] - 1, k) * len(scores))
        rated = data[RATING].notna().to_numpy()
        return {
            f"top{k}_accuracy": hits / len(data),
            "rmse": rmse(data[RATING].to_numpy(dtype=float)[rated], self.predict_rating(data[rated])),
        }

    def recommend(self, user_ids: Iterable, n: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """Top-``n`` items per user by retrieval score.

        Parameters
        ----------
        user_ids : iterable
            Users to recommend for; unknown users get the OOV query embedding.
        n : int, default 10
        exclude_seen : bool, default True
            Skip items the user rated in training.

        Returns
        -------
        pandas.DataFrame
            Columns ``user_id``, ``item_id``, ``score``, ``rank`` (1-based), ``n`` rows
            per user (fewer if the catalogue runs out), best first.
        """
        check_fitted(self)
        n = check_positive_int(n, "n")
        users = pd.Index(pd.unique(pd.Series(list(user_ids))))
        if len(users) == 0:
            raise ValueError("recommend(user_ids): no users given.")
        rows = (self.user_ids_.get_indexer(users) + 1).astype("int32")
        n_items = len(self.item_ids_)
        frames = []
        step = check_positive_int(self.eval_batch_size, "eval_batch_size")
        for s in range(0, len(users), step):
            scores = self._scores(rows[s : s + step])
            if exclude_seen:
                self._mask_seen(scores, rows[s : s + step])
            m = min(n, n_items)
            top = np.argpartition(-scores, m - 1, axis=1)[:, :m]
            top_scores = np.take_along_axis(scores, top, axis=1)
            order = np.argsort(-top_scores, axis=1, kind="stable")
            top = np.take_along_axis(top, order, axis=1)
            top_scores = np.take_along_axis(top_scores, order, axis=1)
            frames.append(
                pd.DataFrame(
                    {
                        USER: np.repeat(users[s : s + step].to_numpy(), m),
                        ITEM: self.item_ids_.to_numpy()[top.ravel()],
                        "score": top_scores.ravel(),
                        "rank": np.tile(np.arange(1, m + 1), len(top)),
                    }
                )
            )
        recs = pd.concat(frames, ignore_index=True)
        return recs[np.isfinite(recs["score"])].reset_index(drop=True)
