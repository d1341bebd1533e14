"""Streaming training, tf.distribute strategies and the worker launcher (mtrec_lib.scale.distributed)."""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import mtrec_lib as mt
from mtrec_lib.scale import distributed as dist
from mtrec_lib.scale import shards as sh

ROOT = Path(__file__).resolve().parents[1]
FEATURES = [
    "user_id",
    "item_id",
    "position",
    "device",
    "user_segment",
    "user_age",
    "item_category",
    "item_price",
    "item_popularity",
]


@pytest.fixture(scope="module")
def split_shards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("split")
    return sh.simulate_train_test_shards(folder, 50_000, n_train_shards=4, seed=0)


# ----------------------------------------------------------------------------- cluster set-up
def test_tf_config_round_trip():
    addresses = [f"127.0.0.1:{p}" for p in dist.free_ports(3)]
    assert len(set(addresses)) == 3
    cfg = dist.make_tf_config(addresses, 2)
    assert json.loads(cfg)["cluster"]["worker"] == addresses
    assert dist.worker_info(cfg) == (2, 3)
    assert dist.worker_info("") == (0, 1)
    with pytest.raises(ValueError, match="index"):
        dist.make_tf_config(addresses, 3)


@pytest.mark.parametrize(
    "bad, match",
    [
        ("{oops", "not valid JSON"),
        ('{"cluster": {}}', "cluster"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "task"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}', "outside"),
    ],
)
def test_bad_tf_config_is_explained(bad, match):
    with pytest.raises(ValueError, match=match):
        dist.worker_info(bad)


def test_multi_worker_strategy_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG is not set"):
        dist.multi_worker_strategy()


# ----------------------------------------------------------------------------- launcher
def _py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_launcher_gives_each_worker_its_config():
    results = dist.launch_workers(
        _py("""
        import json, os
        cfg = json.loads(os.environ["TF_CONFIG"])
        print(cfg["task"]["index"], len(cfg["cluster"]["worker"]), os.environ["TF_NUM_INTRAOP_THREADS"])
    """),
        n_workers=3,
        start_timeout=None,
        timeout=60,
        threads_per_worker=1,
    )
    assert [r.stdout.split() for r in results] == [["0", "3", "1"], ["1", "3", "1"], ["2", "3", "1"]]
    assert all(r.returncode == 0 for r in results)


def test_ready_signal_satisfies_the_start_timeout():
    # Each worker signals ready at once, then works longer than start_timeout: the run succeeds.
    results = dist.launch_workers(
        _py(f"""
        import os, pathlib, time
        pathlib.Path(os.environ["{dist.READY_ENV}"]).write_text("up")
        time.sleep(4)
    """),
        n_workers=2,
        start_timeout=2,
        timeout=60,
    )
    assert len(results) == 2


def _assert_gone(pid_file: Path) -> None:
    for pid in map(int, pid_file.read_text().split()):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_worker_that_fails_to_start_fails_the_run_fast(tmp_path):
    pids = tmp_path / "pids"
    start = time.monotonic()
    with pytest.raises(dist.WorkerError) as info:
        dist.launch_workers(
            _py(f"""
            import json, os, time
            with open({str(pids)!r}, "a") as f:
                f.write(f"{{os.getpid()}} ")
            if json.loads(os.environ["TF_CONFIG"])["task"]["index"] == 1:
                raise SystemExit("cannot open the training data")
            time.sleep(120)
        """),
            n_workers=2,
            start_timeout=60,
            timeout=120,
        )
    assert time.monotonic() - start < 15
    msg = str(info.value)
    assert "worker 1 of 2 exited with code 1" in msg and "before it was ready" in msg
    assert "cannot open the training data" in msg
    _assert_gone(pids)  # the healthy worker was stopped, not left running


def test_worker_that_never_comes_up_times_out(tmp_path):
    pids = tmp_path / "pids"
    start = time.monotonic()
    with pytest.raises(dist.WorkerError, match=r"did not become ready within 2 s"):
        dist.launch_workers(
            _py(f"""
            import os, time
            with open({str(pids)!r}, "a") as f:
                f.write(f"{{os.getpid()}} ")
            time.sleep(120)
        """),
            n_workers=2,
            start_timeout=2,
            timeout=120,
        )
    assert time.monotonic() - start < 15
    _assert_gone(pids)


def test_run_that_hangs_hits_the_time_limit():
    start = time.monotonic()
    with pytest.raises(dist.WorkerError, match=r"did not finish within 2 s; worker\(s\) \[0, 1\]"):
        dist.launch_workers(_py("import time; time.sleep(120)"), n_workers=2, start_timeout=None, timeout=2)
    assert time.monotonic() - start < 15


def test_launcher_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_workers"):
        dist.launch_workers(["true"], n_workers=0)
    with pytest.raises(ValueError, match="list of strings"):
        dist.launch_workers("python train.py")
    with pytest.raises(dist.WorkerError, match="worker 0 of 2 could not be started"):
        dist.launch_workers(["/nonexistent/trainer"], n_workers=2)


# ----------------------------------------------------------------------------- training from a stream
def test_doctests():
    assert doctest.testmod(dist).failed == 0


def test_fit_shards_matches_the_dataframe_path(split_shards, tmp_path):
    train, test = split_shards
    test_df = test.to_frame()
    streamed = dist.fit_shards(mt.MultiTaskLearning(features=FEATURES, seed=0), train, epochs=2)
    in_memory = mt.MultiTaskLearning(features=FEATURES, seed=0).fit(train.to_frame(), epochs=2, verbose=0)
    a, b = streamed.evaluate(test_df), in_memory.evaluate(test_df)
    assert a["click_auc"] > 0.62 and a["purchase_auc"] > 0.7
    assert abs(a["click_auc"] - b["click_auc"]) < 0.03, (a, b)
    assert abs(a["click_logloss"] - b["click_logloss"]) < 0.005, (a, b)
    # Adapted on the manifest's statistics = adapted on every row.
    for name in ("lookup_cat_0_user_id", "lookup_cat_2_device"):
        vocab = [m.network_.get_layer("preprocess").get_layer(name).get_vocabulary() for m in (streamed, in_memory)]
        assert vocab[0] == vocab[1]
    norm = [m.network_.get_layer("preprocess").get_layer("normalize_numeric") for m in (streamed, in_memory)]
    np.testing.assert_allclose(norm[0].mean.numpy(), norm[1].mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(norm[0].variance.numpy(), norm[1].variance.numpy(), rtol=1e-4)
    # A fitted estimator like any other: predict, save, load.
    pred = streamed.predict(test_df.head(100))
    assert list(pred.columns) == ["click", "purchase"] and pred.index.equals(test_df.head(100).index)
    streamed.save(tmp_path / "m")
    again = mt.MultiTaskLearning.load(tmp_path / "m")
    np.testing.assert_allclose(again.predict(test_df.head(100)).to_numpy(), pred.to_numpy(), rtol=1e-6)


def test_estimator_fit_accepts_a_tf_data_dataset(split_shards):
    # The estimator's own fit streams a dataset; it matches fit_shards, which shares the code.
    train, test = split_shards
    ds = train.dataset(512, columns=FEATURES, labels=["click", "purchase"], shuffle=True, seed=0)
    est = mt.MultiTaskLearning(features=FEATURES, seed=0).fit(
        ds, summary=train.summary_frame(FEATURES), epochs=2, verbose=0
    )
    metrics = est.evaluate(test.to_frame())
    assert metrics["click_auc"] > 0.6 and np.isfinite(metrics["purchase_logloss"])
    with pytest.raises(ValueError, match="summary"):
        mt.MultiTaskLearning(features=FEATURES).fit(ds, epochs=1)
    with pytest.raises(ValueError, match="validation_data"):
        mt.MultiTaskLearning(features=FEATURES).fit(
            ds, summary=train.summary_frame(FEATURES), validation_data=test.to_frame()
        )
    with pytest.raises(ValueError, match=r"Dataset\) only"):
        mt.MultiTaskLearning(features=FEATURES).fit(train.to_frame(), summary=train.summary_frame(FEATURES))


def test_fit_dataset_checks_its_input(split_shards):
    train, _ = split_shards
    est = mt.MultiTaskLearning(features=FEATURES, seed=0)
    summary = train.summary_frame(FEATURES)
    no_device = train.dataset(256, columns=[c for c in FEATURES if c != "device"], labels=["click", "purchase"])
    with pytest.raises(KeyError, match="'device'"):
        dist.fit_dataset(est, no_device, summary=summary, epochs=1)
    with pytest.raises(ValueError, match=r"\(features, labels\)"):
        dist.fit_dataset(est, train.dataset(256), summary=summary, epochs=1)
    with pytest.raises(TypeError, match="not a function"):
        dist.fit_dataset(est, lambda ctx: None, summary=summary, epochs=1)
    with pytest.raises(ValueError, match="summary"):
        dist.fit_dataset(est, no_device, summary=summary.iloc[:0], epochs=1)
    with pytest.raises(KeyError, match="'liked'"):
        dist.fit_shards(mt.MultiTaskLearning(tasks={"liked": "binary"}), train)


def test_non_binary_label_in_shards_is_refused(tmp_path):
    log = mt.data.simulate_media(n_users=100, n_items=40, n_impressions=2_000, seed=0).data
    shards = sh.write_shards(log, tmp_path / "m")
    with pytest.raises(ValueError, match="'watch_time' is a binary label"):
        dist.fit_shards(mt.MultiTaskLearning(tasks={"click": "binary", "watch_time": "binary"}), shards)


def test_corrupt_shard_during_training_is_named(split_shards, tmp_path):
    train, _ = split_shards
    copy = sh.write_shards(train.to_frame(), tmp_path / "c", rows_per_shard=10_000)
    victim = copy.files[2]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(sh.ShardError, match=f"{victim.name}.*corrupt"):
        dist.fit_shards(mt.MultiTaskLearning(features=FEATURES, seed=0), copy, epochs=1)


# ----------------------------------------------------------------------------- strategies
def _run(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


@pytest.mark.slow
def test_mirrored_strategy_with_two_replicas_in_one_process(split_shards):
    train, test = split_shards
    out = _run(f"""
        import json
        from mtrec_lib.scale import distributed as dist
        from mtrec_lib.scale import shards as sh
        import mtrec_lib as mt
        strategy = dist.local_strategy(2)
        est = mt.MultiTaskLearning(features={FEATURES!r}, seed=0)
        dist.fit_shards(est, sh.open_shards({str(train.directory)!r}), strategy=strategy, epochs=2)
        m = est.evaluate(sh.open_shards({str(test.directory)!r}).to_frame())
        print("RESULT", json.dumps({{"replicas": strategy.num_replicas_in_sync, **m}}))
    """)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.split("RESULT ")[-1])
    assert res["replicas"] == 2 and res["click_auc"] > 0.62


@pytest.mark.slow
def test_two_workers_on_loopback_train_in_lockstep(split_shards):
    """The issue's acceptance run: two worker processes on 127.0.0.1, under 90 s, one model."""
    train, test = split_shards
    start = time.monotonic()
    run = dist.train_on_workers(
        train.directory, test.directory, n_workers=2, features=FEATURES, epochs=2, start_timeout=80, timeout=90
    )
    assert time.monotonic() - start < 90
    w0, w1 = run["workers"]
    assert (w0["worker"], w1["worker"], w0["n_workers"]) == (0, 1, 2)
    assert w0["weights"] == w1["weights"]  # synchronous all-reduce: identical copies
    assert w0["loss"] == w1["loss"]
    # Same global batch and updates as one process: the same quality, within noise.
    single = dist.fit_shards(mt.MultiTaskLearning(features=FEATURES, seed=0), train, epochs=2)
    ref = single.evaluate(test.to_frame())
    assert abs(run["metrics"]["click_auc"] - ref["click_auc"]) < 0.03, (run["metrics"], ref)
    assert run["metrics"]["purchase_auc"] > 0.7


@pytest.mark.slow
def test_dead_worker_fails_the_script_with_a_clear_message():
    start = time.monotonic()
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "train_multiworker.py"),
            "--rows",
            "8000",
            "--epochs",
            "1",
            "--crash-worker",
            "1",
            "--start-timeout",
            "80",
            "--timeout",
            "100",
        ],
        capture_output=True,
        text=True,
        timeout=150,
        cwd=ROOT,
    )
    assert time.monotonic() - start < 120
    assert out.returncode == 1
    assert "worker 1 of 2 exited with code 3" in out.stderr
    assert "exiting with code 3 on purpose" in out.stderr


# ----------------------------------------------------------------------------- the chapter page
@pytest.mark.slow
def test_scaling_out_notebook_states_what_it_measured(built_site):
    from conftest import notebook_results

    r = notebook_results("notebooks/ch08_trends/05_scaling_out.ipynb")
    assert r["identical_weights"] is True  # "bit-identical weights"
    assert abs(r["stream_click_auc"] - r["memory_click_auc"]) < 0.01  # "Same quality"
    assert abs(r["two_workers_click_auc"] - r["stream_click_auc"]) < 0.03  # "within the noise"
    assert r["two_workers_purchase_auc"] > 0.7
    # "two workers are *slower* than one" on this machine
    assert r["two_workers_wall_seconds"] > r["memory_wall_seconds"]
    # the benchmark tables the page shows: "the streaming process stays at the same peak whatever
    # the row count"; "the in-memory path grows with every row"
    stream, memory = r["bench_streaming_peak_mb"], r["bench_memory_peak_mb"]
    assert abs(stream["10000000"] - stream["1000000"]) < 0.1 * stream["1000000"]
    assert memory["10000000"] > 4 * memory["1000000"] > 4 * stream["1000000"]
    # per-epoch time: two processes cost more than two replicas in one process, which cost more
    # than one worker
    epoch = r["bench_epoch_seconds"]
    assert epoch["2_workers"] > epoch["mirrored_2_replicas"] > epoch["1_worker"]
