"""Streaming from Parquet shards vs the in-memory DataFrame path: peak memory and throughput.

    python benchmarks/streaming.py                        # 1M and 10M rows (about 10 minutes)
    python benchmarks/streaming.py --sizes 1000000        # one size
    python benchmarks/streaming.py --in-memory-max 1000000  # skip the in-memory path above 1M rows

The log is simulated straight into shards, chunk by chunk (``simulate_shards``: 250,000
impressions per shard, each from ``simulate_shop`` with the next seed), so 10 million rows
are never in memory at once. Size ``N`` reads the first ``N / 250,000`` shards.

For each size, two fresh processes train an MMoE (the estimator's defaults: 4 experts of
16 units, batch 512, Adam 3e-3) for one epoch on the same rows:

* **streaming**: ``mtrec_lib.scale.distributed.fit_shards`` (interleaved Parquet reads, row
  blocks shuffled, prefetch; lookups and scaling inside the model, every step);
* **in memory**: ``ShardSet.to_frame()`` then ``MultiTaskLearning.fit(frame)`` (lookups
  and scaling run once over the frame, then batches are gathered from tensors).

Peak memory is the child's maximum resident set size, read by a wrapper process with
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` (a fresh wrapper per child, so one
child's peak cannot hide another's). Throughput is rows per second of the epoch after
the first 16 steps (which pay for tracing the graph), the median over ``--rounds``
alternating rounds for sizes up to ``--rounds-up-to`` (larger sizes run once); ``total_seconds`` is the child's
whole run from its first line (imports, reading, preprocessing, training) and
``cpu_seconds`` its CPU time over all threads (a figure that other load on a shared
machine disturbs less than wall time).

Writes ``benchmarks/results/streaming.json`` and prints a markdown row for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import write_results  # noqa: E402

FEATURES = [
    "user_id",
    "item_id",
    "position",
    "device",
    "user_segment",
    "user_age",
    "user_activity",
    "item_category",
    "item_price",
    "item_price_band",
    "item_popularity",
]
LABELS = ["click", "purchase"]
ROWS_PER_SHARD = 250_000


# --------------------------------------------------------------------------- child processes
def child(mode: str, folder: str, n_files: int, seed: int) -> None:
    """Runs in a fresh process: train one epoch, print one JSON line."""
    t0 = time.perf_counter()
    import keras

    import mtrec_lib as mt
    from mtrec_lib.scale import distributed as dist
    from mtrec_lib.scale import shards as sh

    class Clock(keras.callbacks.Callback):
        """Time from the end of the first compiled call (16 steps, tracing included) to the epoch end."""

        def on_train_batch_end(self, batch, logs=None):
            if not hasattr(self, "first"):
                self.first, self.first_batch = time.perf_counter(), batch + 1

        def on_epoch_end(self, epoch, logs=None):
            self.last = time.perf_counter()

    shards = sh.open_shards(folder).subset(slice(0, n_files))
    est = mt.MultiTaskLearning(features=FEATURES, seed=seed)
    clock = Clock()
    read_seconds = 0.0
    if mode == "streaming":
        dist.fit_shards(est, shards, epochs=1, callbacks=[clock])
    else:
        t = time.perf_counter()
        frame = shards.to_frame(FEATURES + LABELS)
        read_seconds = time.perf_counter() - t
        est.fit(frame, epochs=1, verbose=0, callbacks=[clock])
    rows = shards.n_rows
    batch = est.get_params()["batch_size"]
    steady_rows = rows - clock.first_batch * batch
    print(
        json.dumps(
            {
                "rows": rows,
                "total_seconds": round(time.perf_counter() - t0, 2),
                "read_seconds": round(read_seconds, 2),
                "fit_seconds": round(est.fit_seconds_, 2),
                "rows_per_second": round(steady_rows / (clock.last - clock.first)),
                "final_loss": round(est.history_["loss"][-1], 5),
            }
        ),
        flush=True,
    )


_WRAPPER = (
    "import json, resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, "
    "text=True); u = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(json.dumps({'rc': r.returncode, 'out': r.stdout, 'err': r.stderr[-3000:], "
    "'maxrss_kb': u.ru_maxrss, 'cpu_seconds': u.ru_utime + u.ru_stime}))"
)


def measure(mode: str, folder: Path, n_files: int, seed: int) -> dict:
    cmd = [
        sys.executable,
        "-c",
        _WRAPPER,
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        str(folder),
        str(n_files),
        str(seed),
    ]
    res = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    if res["rc"] != 0:
        return {"failed": f"exit code {res['rc']}: {res['err'][-500:]}", "peak_rss_mb": round(res["maxrss_kb"] / 1024)}
    out = json.loads(res["out"].strip().splitlines()[-1])
    out["peak_rss_mb"] = round(res["maxrss_kb"] / 1024)  # Linux reports ru_maxrss in KiB
    # CPU time of the whole child (all threads): less sensitive than wall time to other load.
    out["cpu_seconds"] = round(res["cpu_seconds"], 1)
    return out


def _median_run(runs: list[dict]) -> dict:
    """Median of each timing over rounds; the largest peak memory."""
    ok = [r for r in runs if "failed" not in r]
    if not ok:
        return runs[-1]
    out = dict(ok[0])
    for k in ("total_seconds", "read_seconds", "fit_seconds", "rows_per_second", "cpu_seconds", "final_loss"):
        out[k] = statistics.median(r[k] for r in ok)
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in ok)
    return out


# --------------------------------------------------------------------------- driver
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--in-memory-max", type=int, default=10_000_000, help="largest size to run the in-memory path at"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("/tmp/mtrec-streaming-shards"),
        help="shard folder (reused when it already holds enough rows)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3, help="repeat both paths this often (medians reported)")
    parser.add_argument(
        "--rounds-up-to",
        type=int,
        default=1_000_000,
        help="repeat only sizes up to this many rows (larger ones run once)",
    )
    parser.add_argument("--child", nargs=4, metavar=("MODE", "FOLDER", "FILES", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, folder, n_files, seed = args.child
        child(mode, folder, int(n_files), int(seed))
        return 0

    from mtrec_lib.scale import shards as sh

    sizes = sorted(args.sizes)
    if any(n % ROWS_PER_SHARD for n in sizes):
        parser.error(f"sizes must be multiples of {ROWS_PER_SHARD:,}")
    need = sizes[-1]
    timing = args.data / "write_seconds.json"  # kept beside the shards, so a reuse still reports it
    try:
        shards = sh.open_shards(args.data)
        if shards.n_rows < need:
            raise ValueError("too few rows")
        write_seconds = json.loads(timing.read_text())["seconds"] if timing.exists() else None
        print(f"reusing {shards}", flush=True)
    except (ValueError, FileNotFoundError):
        t = time.perf_counter()
        shards = sh.simulate_shards(args.data, need, rows_per_shard=ROWS_PER_SHARD, seed=args.seed, overwrite=True)
        write_seconds = round(time.perf_counter() - t, 1)
        timing.write_text(json.dumps({"seconds": write_seconds, "rows": shards.n_rows}))
        print(f"simulated and wrote {shards} in {write_seconds} s", flush=True)
    disk_mb = round(sum(p.stat().st_size for p in shards.files) / 2**20, 1)

    results: dict[str, dict] = {}
    for n in sizes:
        files = n // ROWS_PER_SHARD
        modes = ["streaming"] + (["in_memory"] if n <= args.in_memory_max else [])
        rounds = args.rounds if n <= args.rounds_up_to else 1
        runs: dict[str, list[dict]] = {m: [] for m in modes}
        for r in range(rounds):  # alternate the two paths so that other load hits both alike
            for mode in modes:
                runs[mode].append(measure(mode, args.data, files, args.seed))
                print(f"{n:>11,} rows  {mode:<9}  round {r + 1}/{rounds}  {runs[mode][-1]}", flush=True)
        row = {mode: _median_run(rs) for mode, rs in runs.items()}
        if rounds > 1:
            row["rounds"] = runs
        s, m = row["streaming"], row.get("in_memory", {"failed": "not run"})
        if "failed" not in s and "failed" not in m:
            row["throughput_ratio_streaming_over_in_memory"] = round(s["rows_per_second"] / m["rows_per_second"], 3)
            row["total_time_ratio_streaming_over_in_memory"] = round(s["total_seconds"] / m["total_seconds"], 3)
            row["cpu_time_ratio_streaming_over_in_memory"] = round(s["cpu_seconds"] / m["cpu_seconds"], 3)
        results[str(n)] = row

    small, large = str(sizes[0]), str(sizes[-1])
    figures = {
        "sizes": sizes,
        "rows_per_shard": ROWS_PER_SHARD,
        "shard_mb_per_million_rows": round(disk_mb / (shards.n_rows / 1e6), 1),
        "write_seconds_total": write_seconds,  # simulate + write all rows, chunk by chunk
        "results": results,
        "streaming_peak_rss_mb": {k: v["streaming"].get("peak_rss_mb") for k, v in results.items()},
        "in_memory_peak_rss_mb": {k: v["in_memory"].get("peak_rss_mb") for k, v in results.items() if "in_memory" in v},
        "streaming_peak_growth_mb": (
            results[large]["streaming"]["peak_rss_mb"] - results[small]["streaming"]["peak_rss_mb"]
        ),
        "model": "mmoe, estimator defaults (4 experts x 16, towers 8, embedding 8, batch 512, Adam 3e-3), 1 epoch",
        "features": FEATURES,
    }
    path = write_results("streaming", figures)
    print(f"wrote {path}")
    s_small, s_large = results[small]["streaming"], results[large]["streaming"]
    m_small, m_large = (results[k].get("in_memory", {}) for k in (small, large))
    ratios = [results[k].get("throughput_ratio_streaming_over_in_memory") for k in (small, large)]
    total = results[large].get("total_time_ratio_streaming_over_in_memory")
    print("\nmarkdown row for benchmarks/README.md:")
    print(
        f"| streaming.py | MMoE, 1 epoch on {int(small):,} / {int(large):,} simulated impressions from Parquet "
        f"shards vs the in-memory DataFrame path | peak RSS streaming {s_small.get('peak_rss_mb')} / "
        f"{s_large.get('peak_rss_mb')} MB, in memory {m_small.get('peak_rss_mb')} / {m_large.get('peak_rss_mb')} MB; "
        f"training throughput streaming / in-memory {ratios[0]} / {ratios[1]}; whole run (read, prepare, train) "
        f"streaming / in-memory {total} at {int(large):,} rows | peak within 2 GB and flat in the row count |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
