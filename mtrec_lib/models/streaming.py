"""Training the library's models from a ``tf.data.Dataset`` (streaming input).

:meth:`mtrec_lib.models.MultiTaskLearning.fit` does the set-up for a dataset as for a frame
(seed, feature spec, network, loss weighting, optimiser), adapting the preprocessing
(vocabularies, means and variances) on ``summary``, a small frame with the data's
vocabularies and moments (e.g. ``ShardSet.summary_frame()`` from :mod:`mtrec_lib.scale.shards`),
so the full data never has to be in memory. This module holds only what is streaming's own:
converting raw column batches to the network's inputs (:func:`model_inputs`) and training
on them (:func:`train_on_dataset`). Under a ``tf.distribute`` strategy the training loop is
written out rather than calling ``model.fit``: Keras 3.15 breaks there with dict inputs
(keras-team/keras#20329) and with scalar logs across workers (tensorflow#72388).
:mod:`mtrec_lib.scale.distributed` builds on this module to train across processes.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from mtrec_lib.models.architectures import STEPS_PER_EXECUTION

__all__ = ["fit_dataset", "model_inputs", "train_on_dataset"]


def model_inputs(spec, tasks: Sequence[str] | None = None) -> Callable:
    """A ``tf.data`` map function: raw column batches -> the estimator network's inputs.

    Takes ``features`` (a dict of 1-D column tensors) or ``(features, labels)`` and returns
    the same with features in the network's layout (one ``(batch, 1)`` input per
    categorical column, the numeric columns stacked into one float32 block) and labels as
    ``(batch, 1)`` float32.
    """
    import tensorflow as tf

    from mtrec_lib.models.features import NUMERIC_INPUT

    def convert(x):
        out = {}
        for c in spec.categorical:
            v = x[c]
            if spec.kinds[c] == "int":
                v = tf.cast(v, tf.int64)
            elif v.dtype != tf.string:
                v = tf.strings.as_string(v)
            out[spec.inputs[c]] = tf.reshape(v, [-1, 1])
        if spec.numeric:
            out[NUMERIC_INPUT] = tf.stack([tf.cast(x[c], tf.float32) for c in spec.numeric], axis=1)
        return out

    def fn(*element):
        if len(element) == 1:
            return convert(element[0])
        x, y = element[0], element[1]
        names = list(y) if tasks is None else list(tasks)
        return convert(x), {t: tf.reshape(tf.cast(y[t], tf.float32), [-1, 1]) for t in names}

    return fn


def _check_dataset_columns(element_spec, spec, tasks: Sequence[str], where: str) -> None:
    if not (
        isinstance(element_spec, tuple)
        and len(element_spec) == 2
        and isinstance(element_spec[0], dict)
        and isinstance(element_spec[1], dict)
    ):
        raise ValueError(
            f"{where}: the dataset must yield (features, labels) pairs of dicts of column tensors, "
            f"e.g. shards.dataset(batch_size, labels={list(tasks)}); it yields {element_spec}."
        )
    x, y = element_spec
    for c in spec.columns:
        if c not in x:
            raise KeyError(f"{where}: feature column {c!r} is not in the dataset (it has {sorted(x)}).")
    for t in tasks:
        if t not in y:
            raise KeyError(f"{where}: label column {t!r} is not in the dataset's labels (it has {sorted(y)}).")


def _distributed_loop(model, strategy, dist_dataset, epochs: int, steps_per_epoch: int, verbose) -> dict:
    """What ``model.fit`` does under a strategy, written out (see the note in :func:`fit_dataset`)."""
    import tensorflow as tf

    with strategy.scope():
        model.optimizer.build(model.trainable_variables)

    @tf.function
    def run_steps(iterator, n):
        for _ in tf.range(n):
            strategy.run(model.train_step, args=(next(iterator),))

    iterator = iter(dist_dataset)
    history: dict[str, list[float]] = {}
    for epoch in range(epochs):
        for m in model.metrics:
            m.reset_state()
        start, done = time.perf_counter(), 0
        while done < steps_per_epoch:
            k = min(STEPS_PER_EXECUTION, steps_per_epoch - done)
            run_steps(iterator, tf.constant(k, tf.int64))
            done += k
        model.weighting.end_epoch()
        logs = {m.name: float(m.result()) for m in model.metrics}
        logs["seconds"] = time.perf_counter() - start
        for k, v in logs.items():
            history.setdefault(k, []).append(v)
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: " + ", ".join(f"{k}={v:.4f}" for k, v in logs.items()), flush=True)
    return history


def fit_dataset(
    estimator,
    dataset,
    *,
    summary: pd.DataFrame,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    strategy=None,
    verbose: Any = 0,
    callbacks: list | None = None,
):
    """Train ``estimator`` (a :class:`~mtrec_lib.MultiTaskLearning`) from a ``tf.data`` stream.

    Parameters
    ----------
    estimator : MultiTaskLearning
        Unfitted or fitted; its parameters (architecture, tasks, features, seed,
        hyperparameters) are used as in ``fit``.
    dataset : tf.data.Dataset or callable
        Without ``strategy``: a dataset of ``(features, labels)`` batches, dicts of 1-D
        raw column tensors (what :meth:`ShardSet.dataset` gives with ``labels=``).
        With ``strategy``: a function ``input_context -> dataset`` giving each worker its
        own part of the data in per-replica batches
        (``strategy.distribute_datasets_from_function``).
    summary : DataFrame
        Feature columns whose values carry the vocabularies and the means and variances
        of the training data: :meth:`ShardSet.summary_frame`, or a sample of rows (then
        ids absent from the sample fall in the out-of-vocabulary bucket).
    epochs : int, optional
        Default: the estimator's ``epochs``.
    steps_per_epoch : int, optional
        Batches per epoch; required with ``strategy`` (each worker must take the same
        number of steps, or the all-reduce waits for a worker that has run out of data).
    strategy : tf.distribute.Strategy, optional
        Train under this strategy (:func:`local_strategy`, :func:`multi_worker_strategy`).
    verbose, callbacks
        Keras progress output and callbacks (callbacks only without ``strategy``).

    Returns
    -------
    estimator
        Fitted: ``predict``, ``evaluate``, ``save`` work as after ``fit(DataFrame)``.

    Notes
    -----
    This is ``estimator.fit(dataset, summary=..., ...)``: one set-up for frames and streams.
    Without a strategy this is ``keras.Model.fit`` on the stream. Under a strategy the
    training loop is written out (``strategy.run(model.train_step)`` inside a
    ``tf.function``), because Keras 3.15's ``fit`` under ``tf.distribute`` fails for
    models with dict inputs (keras-team/keras#20329) and, across workers, on scalar
    metrics (tensorflow/tensorflow#72388).
    """
    return estimator.fit(
        dataset,
        summary=summary,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        strategy=strategy,
        verbose=verbose,
        callbacks=callbacks,
    )


class _shard_errors_surface:
    """Re-raise a shard error raised inside the ``tf.data`` pipeline as itself.

    TensorFlow wraps an exception from a Python generator into an ``InvalidArgumentError``
    whose message starts with graph internals; the reader should see which file is bad.
    """

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        import tensorflow as tf

        if exc is None or not isinstance(exc, tf.errors.OpError):
            return False
        found = re.search(r"\b((?:Missing)?ShardError): (.*?)(?:\n|$)", exc.message or "")
        # The shard reader raised it, so its module is loaded; looked up rather than imported,
        # because the scale package builds on this module, not the other way round.
        module = sys.modules.get("mtrec_lib.scale.shards")
        if found and module is not None:
            raise getattr(module, found.group(1))(found.group(2).rstrip(" .") + ".") from None
        return False


def train_on_dataset(
    model,
    dataset,
    spec,
    tasks: Sequence[str],
    *,
    epochs: int,
    steps_per_epoch: int | None = None,
    strategy=None,
    verbose: Any = 0,
    callbacks: list | None = None,
) -> dict[str, list[float]]:
    """Train a compiled training model on raw column batches; returns the per-epoch logs.

    ``dataset`` as in :func:`fit_dataset`; ``spec`` is the fitted
    :class:`~mtrec_lib.models.features.FeatureSpec` that :func:`model_inputs` converts
    batches with. Without ``strategy`` this is ``model.fit``; with one, the written-out loop.
    """
    import tensorflow as tf

    from mtrec_lib.data.validate import check_positive_int

    to_inputs = model_inputs(spec, list(tasks))
    if strategy is None:
        if callable(dataset) and not isinstance(dataset, tf.data.Dataset):
            raise TypeError("fit_dataset(dataset): without a strategy, pass a tf.data.Dataset, not a function.")
        _check_dataset_columns(dataset.element_spec, spec, list(tasks), "fit_dataset(dataset)")
        with _shard_errors_surface():
            return model.fit(
                dataset.map(to_inputs, num_parallel_calls=tf.data.AUTOTUNE),
                epochs=epochs,
                steps_per_epoch=steps_per_epoch,
                verbose=verbose,
                callbacks=list(callbacks or []),
                shuffle=False,
            ).history  # the stream shuffles itself
    if not callable(dataset) or isinstance(dataset, tf.data.Dataset):
        raise TypeError(
            "fit_dataset(dataset, strategy=...): pass a function input_context -> tf.data.Dataset, "
            "so that each worker reads its own part of the data."
        )
    if steps_per_epoch is None:
        raise ValueError(
            "fit_dataset(strategy=...): give steps_per_epoch; every worker must take the same number of steps."
        )
    steps_per_epoch = check_positive_int(steps_per_epoch, "steps_per_epoch")

    def dataset_fn(ctx):
        ds = dataset(ctx)
        _check_dataset_columns(ds.element_spec, spec, list(tasks), "fit_dataset(dataset)")
        return ds.map(to_inputs, num_parallel_calls=tf.data.AUTOTUNE)

    with _shard_errors_surface():
        return _distributed_loop(
            model, strategy, strategy.distribute_datasets_from_function(dataset_fn), epochs, steps_per_epoch, verbose
        )
