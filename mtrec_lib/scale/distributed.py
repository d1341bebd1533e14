"""When one machine is not enough: streaming training and ``tf.distribute``.

Three layers, from the inside out:

* **Training from a stream.** :func:`fit_dataset` trains a :class:`~mtrec_lib.MultiTaskLearning`
  estimator from a ``tf.data.Dataset`` of raw columns instead of a DataFrame, and
  :func:`fit_shards` from Parquet shards (:mod:`mtrec_lib.scale.shards`). The model's
  lookups and scaling adapt on a small *summary frame* that carries the vocabularies and
  moments of all the rows, so no pass over the data is needed before training. The
  result is an ordinary fitted estimator: ``predict``, ``evaluate`` and ``save`` work.
* **Strategies.** :func:`local_strategy` is ``MirroredStrategy`` on one machine (on a
  CPU-only machine it splits the CPU into logical devices, one replica each);
  :func:`multi_worker_strategy` is ``MultiWorkerMirroredStrategy`` for one of several
  processes, configured by the ``TF_CONFIG`` environment variable. Every replica holds a
  full copy of the model, reads its own part of the data, and the gradients are summed
  across replicas (all-reduce, 全归约) before each update, so the copies stay identical.
* **A launcher.** :func:`launch_workers` starts N worker processes on loopback, each with
  its own ``TF_CONFIG`` and a free port, and watches them: a worker that does not come up
  in time, exits with an error, or a run that outlives its time limit stops every worker
  and raises :class:`WorkerError` naming the worker, with the end of its error output.
  It never waits forever.

On a real cluster (Kubernetes with a training operator, Vertex AI, SageMaker...) the
platform plays the launcher's part: it starts the processes on separate machines and
sets ``TF_CONFIG`` for each; the worker code is the same.

TensorFlow is imported inside the functions that need it, so the launcher's own process
never pays for it (and ``TF_CONFIG`` can be set before a worker imports TensorFlow).

Examples
--------
>>> import sys
>>> from mtrec_lib.scale import distributed as dist
>>> results = dist.launch_workers([sys.executable, "-c", "print('hello')"], n_workers=2,
...                               start_timeout=None, timeout=60)
>>> [r.stdout.strip() for r in results]
['hello', 'hello']
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "WorkerError",
    "WorkerResult",
    "free_ports",
    "make_tf_config",
    "worker_info",
    "local_strategy",
    "multi_worker_strategy",
    "signal_ready",
    "launch_workers",
    "fit_dataset",  # noqa: F822 (lazy, see __getattr__)
    "fit_shards",
    "model_inputs",  # noqa: F822 (lazy, see __getattr__)
    "run_worker",
    "train_on_workers",
    "weights_fingerprint",
    "READY_ENV",
]

#: Environment variable naming the file a worker touches once its strategy is up.
READY_ENV = "MTREC_WORKER_READY_FILE"
_TF_LOG = re.compile(r"^[IWEF]\d{4} |^WARNING: All log messages|^To enable the following|^oneDNN")


# --------------------------------------------------------------------------- cluster set-up
def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct TCP ports that are free on ``host`` right now (the OS picks them)."""
    socks = []
    try:
        for _ in range(int(n)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def make_tf_config(addresses: Sequence[str], index: int) -> str:
    """The ``TF_CONFIG`` JSON for worker ``index`` of a cluster of ``addresses`` (``"host:port"``).

    >>> make_tf_config(["127.0.0.1:2222", "127.0.0.1:2223"], 1)
    '{"cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}, "task": {"type": "worker", "index": 1}}'
    """
    if not 0 <= int(index) < len(addresses):
        raise ValueError(f"index must be in [0, {len(addresses)}), got {index!r}.")
    return json.dumps({"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": int(index)}})


def worker_info(tf_config: str | None = None) -> tuple[int, int]:
    """``(index, n_workers)`` of this process from ``TF_CONFIG``; ``(0, 1)`` when it is unset.

    Raises ``ValueError`` with the reason when ``TF_CONFIG`` is set but malformed.
    """
    raw = os.environ.get("TF_CONFIG") if tf_config is None else tf_config
    if not raw:
        return 0, 1
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON ({exc}): {raw[:200]!r}") from None
    workers = (cfg.get("cluster") or {}).get("worker") if isinstance(cfg, dict) else None
    task = cfg.get("task") if isinstance(cfg, dict) else None
    if not isinstance(workers, list) or not workers:
        raise ValueError('TF_CONFIG needs {"cluster": {"worker": ["host:port", ...]}, ...}; got ' + raw[:200])
    if not isinstance(task, dict) or task.get("type") != "worker" or not isinstance(task.get("index"), int):
        raise ValueError('TF_CONFIG needs {"task": {"type": "worker", "index": i}}; got ' + raw[:200])
    if not 0 <= task["index"] < len(workers):
        raise ValueError(f"TF_CONFIG task index {task['index']} is outside the {len(workers)} workers listed.")
    return task["index"], len(workers)


def local_strategy(n_replicas: int = 1):
    """``tf.distribute.MirroredStrategy`` with ``n_replicas`` replicas in this process.

    With GPUs, one replica per GPU. On a CPU-only machine the CPU is split into
    ``n_replicas`` logical devices: the replicas then share the cores, which shows how
    mirrored training works (and what it costs) but does not make training faster.
    Splitting must happen before TensorFlow has run anything in this process.
    """
    import tensorflow as tf

    if isinstance(n_replicas, bool) or not isinstance(n_replicas, int) or n_replicas < 1:
        raise ValueError(f"n_replicas must be an integer >= 1, got {n_replicas!r}.")
    if tf.config.list_physical_devices("GPU"):  # physical: listing logical devices would start the runtime
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy([g.name for g in gpus[:n_replicas]])
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if n_replicas > 1 and (current is None or len(current) != n_replicas):
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n_replicas)
        except RuntimeError:
            raise RuntimeError(
                f"local_strategy({n_replicas}) must split the CPU into {n_replicas} logical devices before "
                "TensorFlow runs anything in this process, and it already has. Call it first (restart the "
                "kernel), or run the training in a fresh process."
            ) from None
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:n_replicas]
    # Replicas on one host: reduce in memory, no NCCL (there is no GPU).
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())


def signal_ready() -> None:
    """Tell :func:`launch_workers` that this worker is up (no-op outside a launched worker)."""
    path = os.environ.get(READY_ENV)
    if path:
        Path(path).write_text(str(os.getpid()))


def multi_worker_strategy(collective_timeout: float = 300.0):
    """``tf.distribute.MultiWorkerMirroredStrategy`` for this process, configured by ``TF_CONFIG``.

    ``TF_CONFIG`` must be set before TensorFlow is imported (the launcher and cluster
    schedulers set it in the environment of each process). Creating the strategy starts
    this worker's gRPC server and waits for the others; then it signals the launcher.

    Parameters
    ----------
    collective_timeout : float
        Seconds a collective operation (an all-reduce) may wait for the other workers
        before it fails with ``DeadlineExceededError``, rather than waiting forever for a
        worker that died.
    """
    if not os.environ.get("TF_CONFIG"):
        raise ValueError(
            "TF_CONFIG is not set. Each worker needs it before TensorFlow is imported, e.g. "
            '{"cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}, "task": {"type": '
            '"worker", "index": 0}}; launch_workers() sets it for you.'
        )
    worker_info()  # validate with a readable message before TensorFlow parses it
    import tensorflow as tf

    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=float(collective_timeout))
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    signal_ready()
    return strategy


def _n_workers(strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec()
    return sum(spec.num_tasks(job) for job in ("chief", "worker") if job in spec.jobs) or 1


# --------------------------------------------------------------------------- launcher
class WorkerError(RuntimeError):
    """A launched worker failed to start, died, or the run exceeded its time limit."""


@dataclass
class WorkerResult:
    """What one worker left behind: exit code, output and wall time."""

    index: int
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def _tail(text: str, n: int = 25) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip() and not _TF_LOG.match(ln)]
    return "\n".join(lines[-n:])


def _stop(procs: Sequence[subprocess.Popen], grace: float = 5.0) -> None:
    """SIGTERM each still-running worker's process group, then SIGKILL what is left."""
    alive = [p for p in procs if p.poll() is None]
    for p in alive:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    for p in alive:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=grace)


def launch_workers(
    command: Sequence[str],
    n_workers: int = 2,
    *,
    host: str = "127.0.0.1",
    start_timeout: float | None = 120.0,
    timeout: float = 600.0,
    threads_per_worker: int | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    poll_interval: float = 0.2,
) -> list[WorkerResult]:
    """Run ``command`` as ``n_workers`` processes forming one TensorFlow cluster on ``host``.

    Each process gets ``TF_CONFIG`` (its index, the addresses of all) and the path of a
    ready file (:data:`READY_ENV`) that :func:`multi_worker_strategy` touches once the
    cluster is up. The launcher polls the processes and fails fast:

    * a worker exits with a non-zero code (or is killed) -> every other worker is
      stopped and :class:`WorkerError` names the worker, its exit code, and the last
      lines of its error output;
    * some worker is not ready ``start_timeout`` seconds after launch -> the same;
    * the whole run takes longer than ``timeout`` seconds -> the same.

    Parameters
    ----------
    command : list of str
        The program every worker runs, e.g. ``[sys.executable, "train.py", "--worker"]``.
    n_workers : int
    host : str
        Address to listen on; loopback by default (all workers on this machine).
    start_timeout : float or None
        Seconds until every worker must have signalled ready (or exited successfully).
        ``None`` when the command never calls :func:`signal_ready`.
    timeout : float
        Seconds the whole run may take.
    threads_per_worker : int, optional
        Cap TensorFlow's thread pools in each worker (``TF_NUM_INTRAOP_THREADS`` etc.),
        so that workers sharing one machine do not fight over its cores.
    env : dict, optional
        Extra environment variables for every worker.

    Returns
    -------
    list of WorkerResult
        One per worker, in index order, when all exited with code 0.
    """
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ValueError(f"n_workers must be an integer >= 1, got {n_workers!r}.")
    if isinstance(command, str) or not command:
        raise ValueError("command must be a non-empty list of strings, e.g. [sys.executable, 'train.py'].")
    addresses = [f"{host}:{p}" for p in free_ports(n_workers, host)]
    tmp = Path(tempfile.mkdtemp(prefix="mtrec-workers-"))
    procs: list[subprocess.Popen] = []
    files = []
    start = time.monotonic()
    ended: dict[int, float] = {}
    try:
        for i in range(n_workers):
            wenv = {
                **os.environ,
                **(env or {}),
                "TF_CONFIG": make_tf_config(addresses, i),
                READY_ENV: str(tmp / f"ready-{i}"),
            }
            wenv.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            if threads_per_worker:
                t = str(int(threads_per_worker))
                wenv.update(TF_NUM_INTRAOP_THREADS=t, TF_NUM_INTEROP_THREADS=t, OMP_NUM_THREADS=t)
            out, err = open(tmp / f"out-{i}", "w+"), open(tmp / f"err-{i}", "w+")
            files.append((out, err))
            # Own session: the launcher can stop a worker together with anything it started.
            try:
                procs.append(
                    subprocess.Popen(
                        list(command),
                        env=wenv,
                        cwd=cwd,
                        stdout=out,
                        stderr=err,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
            except OSError as exc:
                raise WorkerError(f"worker {i} of {n_workers} could not be started: {exc}") from None

        def read(i: int) -> tuple[str, str]:
            return ((tmp / f"out-{i}").read_text(errors="replace"), (tmp / f"err-{i}").read_text(errors="replace"))

        def fail(reason: str, culprits: Sequence[int]) -> None:
            _stop(procs)
            parts = [f"{reason} Every worker still running was stopped."]
            for i in culprits:
                out, err = read(i)
                tail = _tail(err) or _tail(out)
                parts.append(f"--- worker {i} ({addresses[i]}), last lines of its output ---\n{tail or '(none)'}")
            raise WorkerError("\n".join(parts))

        while True:
            elapsed = time.monotonic() - start
            codes = [p.poll() for p in procs]
            for i, rc in enumerate(codes):
                if rc is not None and i not in ended:
                    ended[i] = elapsed
            for i, rc in enumerate(codes):
                if rc not in (None, 0):
                    ready = (tmp / f"ready-{i}").exists()
                    how = f"was killed by signal {-rc}" if rc < 0 else f"exited with code {rc}"
                    fail(
                        f"worker {i} of {n_workers} {how} after {ended[i]:.1f} s"
                        f"{'' if ready else ', before it was ready'}.",
                        [i],
                    )
            if all(rc == 0 for rc in codes):
                break
            if start_timeout is not None and elapsed > start_timeout:
                late = [i for i, rc in enumerate(codes) if rc is None and not (tmp / f"ready-{i}").exists()]
                if late:
                    fail(
                        f"worker(s) {late} of {n_workers} did not become ready within {start_timeout:.0f} s "
                        "(TensorFlow did not start, or the workers cannot reach each other).",
                        late,
                    )
            if elapsed > timeout:
                running = [i for i, rc in enumerate(codes) if rc is None]
                fail(
                    f"the run did not finish within {timeout:.0f} s; worker(s) {running} still running "
                    "(a hang in a collective operation, or too much work for the time limit).",
                    running,
                )
            time.sleep(poll_interval)
        results = []
        for i in range(n_workers):
            out, err = read(i)
            results.append(WorkerResult(i, 0, out, err, ended.get(i, time.monotonic() - start)))
        return results
    finally:
        _stop(procs)
        for out, err in files:
            out.close()
            err.close()
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()


# --------------------------------------------------------------------------- training from a stream
# The single-process pieces live in mtrec_lib.models.streaming (MultiTaskLearning.fit uses them).
# They are re-exported lazily: importing them loads TensorFlow, which the launcher's process
# must not do (and a worker only after TF_CONFIG is set).
def __getattr__(name: str) -> Any:
    if name in ("fit_dataset", "model_inputs"):
        from mtrec_lib.models import streaming

        return getattr(streaming, name)
    raise AttributeError(f"module 'mtrec_lib.scale.distributed' has no attribute {name!r}")


def fit_shards(
    estimator,
    shards,
    *,
    epochs: int | None = None,
    strategy=None,
    shuffle: bool = True,
    verbose: Any = 0,
    block_rows: int = 8192,
    cycle_length: int = 2,
    callbacks: list | None = None,
):
    """Train ``estimator`` on Parquet shards, streaming, optionally across workers.

    The estimator's ``batch_size`` is the *global* batch: under a strategy with ``R``
    replicas each replica takes ``batch_size // R`` rows per step, so one worker and two
    workers make the same number of updates of the same size (and should reach the same
    quality). With several workers each reads its own files (``shards.shard``), and every
    worker takes ``min(rows per worker) // (batch per worker)`` steps per epoch, so that no
    worker waits in an all-reduce for another that has run out of data.

    Parameters
    ----------
    estimator : MultiTaskLearning
    shards : ShardSet
        From :func:`mtrec_lib.scale.shards.open_shards` (or ``write_shards``); its manifest's
        statistics adapt the lookups and scaling.
    epochs : int, optional
    strategy : tf.distribute.Strategy, optional
    shuffle : bool
        Reshuffle file order and rows within blocks every epoch (seeded by the estimator's seed).
    block_rows, cycle_length
        Passed to :meth:`ShardSet.dataset`.

    Examples
    --------
    >>> import tempfile
    >>> import mtrec_lib as mt
    >>> from mtrec_lib.scale import distributed as dist
    >>> from mtrec_lib.scale import shards as sh
    >>> log = mt.data.simulate_shop(n_users=200, n_items=50, n_impressions=4_000, seed=0).data
    >>> shards = sh.write_shards(log, tempfile.mkdtemp(), rows_per_shard=1_000)
    >>> model = mt.MultiTaskLearning(features=["user_id", "item_id", "position", "device"], seed=0)
    >>> model = dist.fit_shards(model, shards, epochs=1)
    >>> sorted(model.evaluate(log))
    ['click_auc', 'click_logloss', 'purchase_auc', 'purchase_logloss']
    """
    from mtrec_lib.models.streaming import fit_dataset

    tasks = estimator._task_dict()
    for t, ty in tasks.items():
        if t not in shards.schema:
            raise KeyError(f"fit_shards: label column {t!r} is not in the shards (columns: {shards.columns}).")
        st = shards.stats[t]
        if ty == "binary" and ("min" not in st or st["min"] < 0 or st["max"] > 1):
            raise ValueError(
                f"fit_shards: column {t!r} is a binary label and must hold only 0 and 1; the shards "
                f"hold values in [{st.get('min')}, {st.get('max')}]. Threshold it before writing."
            )
    features = estimator.features
    if features is None:
        from mtrec_lib.models.features import default_features

        features = default_features(shards.columns, tasks)
    features = list(features)
    summary = shards.summary_frame(features)
    batch = int(estimator.get_params()["batch_size"])
    seed = int(estimator.seed)
    read = dict(
        columns=features,
        labels=list(tasks),
        shuffle=shuffle,
        seed=seed,
        block_rows=block_rows,
        cycle_length=cycle_length,
    )
    if strategy is None:
        ds = shards.dataset(batch, **read)
        return fit_dataset(estimator, ds, summary=summary, epochs=epochs, verbose=verbose, callbacks=callbacks)
    n_workers = _n_workers(strategy)
    replicas = int(strategy.num_replicas_in_sync)
    if batch % replicas:
        raise ValueError(f"batch_size {batch} does not split evenly among {replicas} replicas; choose a multiple.")
    per_worker = batch // n_workers
    rows = [shards.shard(n_workers, i).n_rows for i in range(n_workers)]
    steps = min(rows) // per_worker
    if steps < 1:
        raise ValueError(
            f"each worker needs at least one batch of {per_worker} rows; the smallest share has "
            f"{min(rows)}. Use a smaller batch_size or more data."
        )

    def dataset_fn(ctx):
        part = shards.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        return part.dataset(ctx.get_per_replica_batch_size(batch), drop_remainder=True, repeat=True, **read)

    return fit_dataset(
        estimator, dataset_fn, summary=summary, epochs=epochs, steps_per_epoch=steps, strategy=strategy, verbose=verbose
    )


# --------------------------------------------------------------------------- the worker program
def weights_fingerprint(estimator) -> str:
    """A short hash of the fitted network's weights: equal on every worker of a synchronous run."""
    import hashlib

    import keras

    h = hashlib.sha1()
    for w in estimator.network_.weights:
        h.update(np.ascontiguousarray(keras.ops.convert_to_numpy(w)).tobytes())
    return h.hexdigest()[:16]


def run_worker(
    train_dir: str | os.PathLike,
    test_dir: str | os.PathLike | None = None,
    *,
    architecture: str = "mmoe",
    features: Sequence[str] | None = None,
    epochs: int = 2,
    seed: int = 0,
    batch_size: int = 512,
    crash: bool = False,
) -> dict[str, Any]:
    """The program each worker runs: join the cluster, train on its shards, report.

    Under ``TF_CONFIG`` (set by :func:`launch_workers` or a cluster scheduler) this trains
    with :func:`multi_worker_strategy`; without it, on this process alone. Worker 0, the
    chief (主节点), evaluates on ``test_dir``. ``crash=True`` makes the worker exit with
    code 3 as soon as the cluster is up (to see what a dead worker does to a run).

    Returns a dict: ``worker``, ``n_workers``, ``fit_seconds``, ``epoch_seconds``,
    ``steps_per_epoch``, ``train_rows``, ``weights`` (:func:`weights_fingerprint`), and
    for the chief ``metrics`` (the estimator's ``evaluate`` on the test shards).
    """
    from mtrec_lib.models import MultiTaskLearning
    from mtrec_lib.scale.shards import open_shards

    index, n_workers = worker_info()
    strategy = multi_worker_strategy() if os.environ.get("TF_CONFIG") else None
    if crash:
        import sys

        print(f"worker {index}: exiting with code 3 on purpose (crash=True)", file=sys.stderr, flush=True)
        os._exit(3)  # no clean-up on purpose: this is what a crashed machine looks like to its peers
    train = open_shards(train_dir)
    est = MultiTaskLearning(
        architecture=architecture,
        features=None if features is None else list(features),
        seed=seed,
        batch_size=batch_size,
    )
    fit_shards(est, train, epochs=epochs, strategy=strategy)
    out: dict[str, Any] = {
        "worker": index,
        "n_workers": n_workers,
        "fit_seconds": round(est.fit_seconds_, 3),
        "epoch_seconds": [round(x, 3) for x in est.history_.get("seconds", [])],
        "loss": [round(x, 5) for x in est.history_.get("loss", [])],
        "train_rows": train.n_rows,
        "weights": weights_fingerprint(est),
    }
    if test_dir is not None and index == 0:
        test = open_shards(test_dir).to_frame()
        out["metrics"] = {k: round(float(v), 5) for k, v in est.evaluate(test).items()}
        out["test_rows"] = len(test)
    return out


def train_on_workers(
    train_dir: str | os.PathLike,
    test_dir: str | os.PathLike | None = None,
    n_workers: int = 2,
    *,
    architecture: str = "mmoe",
    features: Sequence[str] | None = None,
    epochs: int = 2,
    seed: int = 0,
    batch_size: int = 512,
    crash_worker: int | None = None,
    start_timeout: float = 180.0,
    timeout: float = 900.0,
    threads_per_worker: int | None = None,
) -> dict[str, Any]:
    """Train on ``n_workers`` local processes (:func:`run_worker` in each) and collect their reports.

    Returns ``{"n_workers", "wall_seconds", "workers": [report per worker], "metrics": chief's
    metrics}``. Raises :class:`WorkerError` if a worker fails (see :func:`launch_workers`).
    ``threads_per_worker`` defaults to the machine's cores divided among the workers.

    Examples
    --------
    >>> import tempfile
    >>> import mtrec_lib as mt
    >>> from mtrec_lib.scale import distributed as dist
    >>> from mtrec_lib.scale import shards as sh
    >>> log = mt.data.simulate_shop(n_users=200, n_items=50, n_impressions=8_000, seed=0).data
    >>> folder = tempfile.mkdtemp()
    >>> _ = sh.write_shards(log.iloc[:6000], folder + "/train", rows_per_shard=1500)
    >>> _ = sh.write_shards(log.iloc[6000:], folder + "/test")
    >>> run = dist.train_on_workers(folder + "/train", folder + "/test", n_workers=2, epochs=1,
    ...                             features=["user_id", "item_id", "position"])  # doctest: +SKIP
    >>> run["workers"][0]["weights"] == run["workers"][1]["weights"]  # doctest: +SKIP
    True
    """
    import sys

    cmd = [
        sys.executable,
        "-m",
        "mtrec_lib.scale.distributed",
        "worker",
        "--train",
        str(train_dir),
        "--architecture",
        architecture,
        "--epochs",
        str(int(epochs)),
        "--seed",
        str(int(seed)),
        "--batch-size",
        str(int(batch_size)),
    ]
    if test_dir is not None:
        cmd += ["--test", str(test_dir)]
    if features is not None:
        cmd += ["--features", ",".join(features)]
    if crash_worker is not None:
        cmd += ["--crash-worker", str(int(crash_worker))]
    if threads_per_worker is None:
        threads_per_worker = max(1, (os.cpu_count() or 1) // n_workers)
    start = time.monotonic()
    results = launch_workers(
        cmd, n_workers, start_timeout=start_timeout, timeout=timeout, threads_per_worker=threads_per_worker
    )
    wall = time.monotonic() - start
    reports = []
    for r in results:
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
        if not lines:
            raise WorkerError(
                f"worker {r.index} exited cleanly but printed no RESULT line; its output ends:\n"
                f"{_tail(r.stdout + chr(10) + r.stderr)}"
            )
        rep = json.loads(lines[-1][len("RESULT ") :])
        rep["process_seconds"] = round(r.seconds, 3)
        reports.append(rep)
    return {
        "n_workers": n_workers,
        "wall_seconds": round(wall, 3),
        "threads_per_worker": threads_per_worker,
        "workers": reports,
        "metrics": reports[0].get("metrics"),
    }


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m mtrec_lib.scale.distributed",
        description="Worker program of a multi-worker run (see train_on_workers).",
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("worker", help="join the cluster in TF_CONFIG, train on shards, print RESULT {json}")
    w.add_argument("--train", required=True)
    w.add_argument("--test")
    w.add_argument("--architecture", default="mmoe")
    w.add_argument("--features", help="comma-separated feature columns (default: every column but the labels and time)")
    w.add_argument("--epochs", type=int, default=2)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--batch-size", type=int, default=512)
    w.add_argument("--crash-worker", type=int, default=None, help="this worker index exits with code 3 at start")
    args = parser.parse_args(argv)
    index, _ = worker_info()
    report = run_worker(
        args.train,
        args.test,
        architecture=args.architecture,
        features=None if not args.features else args.features.split(","),
        epochs=args.epochs,
        seed=args.seed,
        batch_size=args.batch_size,
        crash=args.crash_worker == index,
    )
    print("RESULT " + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
