"""One worker against two: quality, time and overhead of synchronous data-parallel training.

    python benchmarks/multiworker.py                      # 200,000 impressions, 3 epochs, 3 seeds
    python benchmarks/multiworker.py --rows 100000 --seeds 0 1

One simulated shop log (``simulate_train_test_shards``: the first 80% by time to train, in
8 shards, the last 20% to test) and an MMoE with the estimator's defaults (global batch
512). Three ways to train it, each seed in each way, interleaved so that load from other
processes hits all of them alike:

* ``1_worker``: one process, ``MultiWorkerMirroredStrategy`` with a cluster of one
  (started by the same launcher, so the code path is the same as with two);
* ``2_workers``: two processes on 127.0.0.1 (``train_on_workers``), each reading 4 of
  the 8 shards, gradients all-reduced over gRPC every step, one core each;
* ``mirrored_2_replicas``: one process, ``MirroredStrategy`` over two logical CPUs.

The global batch is the same in all three, so each makes the same number of updates of
the same size; quality should agree within seed-to-seed noise. On a 2-core machine two
workers cannot be faster than one (they share the same two cores and add an all-reduce
per step); what the benchmark measures is that overhead, the price of the protocol that
lets a real cluster add machines. ``epoch_seconds`` is the median epoch after the first
(which traces the graph); ``wall_seconds`` includes starting the processes and TensorFlow.

Writes ``benchmarks/results/multiworker.json`` and prints a markdown row for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
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
CONFIGS = ("1_worker", "2_workers", "mirrored_2_replicas")


def mirrored_child(train: str, test: str, seed: int, epochs: int) -> None:
    """Runs in a fresh process (logical CPUs must be set before TensorFlow starts)."""
    t0 = time.perf_counter()
    import mtrec_lib as mt
    from mtrec_lib.scale import distributed as dist
    from mtrec_lib.scale import shards as sh

    strategy = dist.local_strategy(2)
    est = mt.MultiTaskLearning(features=FEATURES, seed=seed)
    dist.fit_shards(est, sh.open_shards(train), strategy=strategy, epochs=epochs)
    metrics = est.evaluate(sh.open_shards(test).to_frame())
    print(
        "RESULT "
        + json.dumps(
            {
                "metrics": metrics,
                "fit_seconds": est.fit_seconds_,
                "epoch_seconds": est.history_["seconds"],
                "replicas": strategy.num_replicas_in_sync,
                "wall_seconds": time.perf_counter() - t0,
            }
        ),
        flush=True,
    )


def run_one(config: str, train: Path, test: Path, seed: int, epochs: int) -> dict:
    from mtrec_lib.scale import distributed as dist

    if config == "mirrored_2_replicas":
        start = time.monotonic()
        out = subprocess.run(
            [sys.executable, __file__, "--mirrored-child", str(train), str(test), str(seed), str(epochs)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if out.returncode:
            raise RuntimeError(out.stderr[-3000:])
        rep = json.loads(out.stdout.split("RESULT ")[-1])
        wall = time.monotonic() - start
    else:
        n = 1 if config == "1_worker" else 2
        run = dist.train_on_workers(train, test, n, features=FEATURES, epochs=epochs, seed=seed, timeout=1800)
        rep = run["workers"][0]
        if len({w["weights"] for w in run["workers"]}) != 1:
            raise RuntimeError("workers ended with different weights")
        wall = run["wall_seconds"]
    epochs_s = rep["epoch_seconds"]
    m = rep["metrics"]
    return {
        "click_auc": round(m["click_auc"], 4),
        "purchase_auc": round(m["purchase_auc"], 4),
        "click_logloss": round(m["click_logloss"], 5),
        "wall_seconds": round(wall, 2),
        "fit_seconds": round(rep["fit_seconds"], 2),
        "epoch_seconds": round(statistics.median(epochs_s[1:] or epochs_s), 3),
        "first_epoch_seconds": round(epochs_s[0], 3),
    }


def _mean_sd(xs: list[float]) -> tuple[float, float]:
    return round(statistics.fmean(xs), 4), round(statistics.stdev(xs), 4) if len(xs) > 1 else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--mirrored-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mirrored_child:
        train, test, seed, epochs = args.mirrored_child
        mirrored_child(train, test, int(seed), int(epochs))
        return 0

    from mtrec_lib.scale import shards as sh

    runs: dict[str, list[dict]] = {c: [] for c in args.configs}
    with tempfile.TemporaryDirectory(prefix="mtrec-multiworker-") as tmp:
        train, test = sh.simulate_train_test_shards(tmp, args.rows, n_train_shards=8, seed=0)
        for seed in args.seeds:
            for config in args.configs:
                res = run_one(config, train.directory, test.directory, seed, args.epochs)
                runs[config].append(res)
                print(f"seed {seed} {config:>20}: {res}", flush=True)

    summary = {}
    for c, rs in runs.items():
        summary[c] = {
            k: _mean_sd([r[k] for r in rs])
            for k in ("click_auc", "purchase_auc", "click_logloss", "epoch_seconds", "wall_seconds", "fit_seconds")
        }
    figures = {
        "rows": args.rows,
        "train_rows": train.n_rows,
        "test_rows": test.n_rows,
        "epochs": args.epochs,
        "seeds": args.seeds,
        "global_batch": 512,
        "runs": runs,
        "summary": summary,
        "model": "mmoe, estimator defaults (4 experts x 16, towers 8, embedding 8, Adam 3e-3)",
    }
    if "1_worker" in summary:
        one = summary["1_worker"]
        for c in summary:
            if c == "1_worker":
                continue
            s = summary[c]
            figures[f"{c}_vs_1_worker"] = {
                "click_auc_diff": round(s["click_auc"][0] - one["click_auc"][0], 4),
                "purchase_auc_diff": round(s["purchase_auc"][0] - one["purchase_auc"][0], 4),
                "epoch_time_overhead": round(s["epoch_seconds"][0] / one["epoch_seconds"][0] - 1, 3),
                "wall_time_overhead": round(s["wall_seconds"][0] / one["wall_seconds"][0] - 1, 3),
            }
    path = write_results("multiworker", figures)
    print(f"wrote {path}\n" + json.dumps(summary, indent=1))
    if "2_workers_vs_1_worker" in figures:
        one, two, d = summary["1_worker"], summary["2_workers"], figures["2_workers_vs_1_worker"]
        print("\nmarkdown row for benchmarks/README.md:")
        print(
            f"| multiworker.py | MMoE, {train.n_rows:,} train rows, {args.epochs} epochs, {len(args.seeds)} seeds: "
            f"1 worker vs 2 workers on 127.0.0.1 | click AUC {one['click_auc'][0]:.4f}±{one['click_auc'][1]:.4f} vs "
            f"{two['click_auc'][0]:.4f}±{two['click_auc'][1]:.4f}; purchase AUC {one['purchase_auc'][0]:.3f} vs "
            f"{two['purchase_auc'][0]:.3f}; epoch {one['epoch_seconds'][0]:.2f} s vs {two['epoch_seconds'][0]:.2f} s "
            f"(overhead {d['epoch_time_overhead']:+.0%}), wall {one['wall_seconds'][0]:.0f} s vs "
            f"{two['wall_seconds'][0]:.0f} s | equal quality within noise |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
