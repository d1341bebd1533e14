"""What a gradient method costs per training step, against the plain sum, in the same run.

    python benchmarks/gradient_cost.py                     # 3 architectures x 8 methods, 5 rounds
    python benchmarks/gradient_cost.py --architectures mmoe --rounds 2 --epochs 3

Data: the simulated shop of benchmarks/mmoe_throughput.py (``make_data(0)``: the first
``--rows`` (40,000) training impressions, every column but the timestamp and day a feature),
tasks click and purchase, the estimator's default sizes (4 experts of 16 units, towers of 8,
batch 512).

Methods (``MultiTaskLearning`` arguments): ``sum`` (the default), ``sum+cosine``
(``gradient_cosine=True``: per-task gradients computed only to log their cosine),
``pcgrad``, ``mgda``, and the loss weightings ``uncertainty``, ``gradnorm``, ``dwa`` with the
plain sum, and ``pcgrad+uncertainty``. One fit per method and round, ``--epochs`` epochs;
a fit's step time is the median over its epochs after the first (which pays for tracing the
step) of epoch seconds / steps. The methods run in a different order in every round
(rotated), so that load from elsewhere hits all of them; the reported cost of a method is
the median over rounds of its step time divided by ``sum``'s in the same round, with the
lowest and highest round. TensorFlow runs on ``--threads`` threads (default 1).

Writes ``benchmarks/results/gradient_cost.json`` and prints rows for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

METHODS = {
    "sum": {},
    "sum+cosine": {"gradient_cosine": True},
    "pcgrad": {"gradient": "pcgrad"},
    "mgda": {"gradient": "mgda"},
    "uncertainty": {"loss_weights": "uncertainty"},
    "gradnorm": {"loss_weights": "gradnorm"},
    "dwa": {"loss_weights": "dwa"},
    "pcgrad+uncertainty": {"gradient": "pcgrad", "loss_weights": "uncertainty"},
}
ARCHITECTURES = ("shared_bottom", "mmoe", "ple")
BATCH = 512


def step_seconds(train, architecture: str, method: str, epochs: int, seed: int) -> dict:
    """Fit once; the median seconds per step over the epochs after the first."""
    import keras

    import mtrec_lib as mt

    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    model = mt.MultiTaskLearning(architecture=architecture, seed=seed, batch_size=BATCH, **METHODS[method])
    model.fit(train, epochs=epochs, verbose=0, callbacks=[Timer()])
    steps = -(-len(train) // BATCH)
    return {
        "step_ms": 1000 * statistics.median(times[1:]) / steps,
        "epoch_seconds": times,
        "final_loss": model.history_["loss"][-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=40_000, help="training rows (the step cost does not depend on it)")
    parser.add_argument("--no-write", action="store_true", help="print only (smoke runs)")
    args = parser.parse_args()
    if "sum" not in args.methods:
        parser.error("--methods must include 'sum', the reference")

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from _common import write_results
    from mmoe_throughput import make_data

    train = make_data(0)[0].iloc[: args.rows]
    start = time.perf_counter()
    runs = {a: {m: [] for m in args.methods} for a in args.architectures}
    for r in range(args.rounds):
        for a in args.architectures:
            order = args.methods[r % len(args.methods) :] + args.methods[: r % len(args.methods)]
            for m in order:
                res = step_seconds(train, a, m, args.epochs, seed=r)
                runs[a][m].append(res)
                print(f"round {r} {a:14s} {m:20s} {res['step_ms']:.2f} ms/step", flush=True)
    table = {}
    for a in args.architectures:
        table[a] = {}
        for m in args.methods:
            ratios = [x["step_ms"] / s["step_ms"] for x, s in zip(runs[a][m], runs[a]["sum"])]
            table[a][m] = {
                "step_ms_median": round(statistics.median(x["step_ms"] for x in runs[a][m]), 3),
                "step_ms_per_round": [round(x["step_ms"], 3) for x in runs[a][m]],
                "ratio_to_sum_median": round(statistics.median(ratios), 3),
                "ratio_to_sum_min": round(min(ratios), 3),
                "ratio_to_sum_max": round(max(ratios), 3),
            }
    figures = {
        "protocol": {
            "data": f"simulate_shop(2000, 500, 200_000, seed=0): first {args.rows:,} impressions by time "
            "(mmoe_throughput.make_data)",
            "tasks": ["click", "purchase"],
            "batch_size": BATCH,
            "epochs_per_fit": args.epochs,
            "rounds": args.rounds,
            "threads": args.threads,
            "methods": METHODS,
            "figure": "ms per step: median over a fit's epochs after the first; ratio to 'sum' in the same round, "
            "median (min, max) over rounds; method order rotated every round",
        },
        "results": table,
        "wall_seconds": round(time.perf_counter() - start),
    }
    print("\n| architecture | method | ms / step | x sum (median) | min - max |")
    print("|---|---|---:|---:|---|")
    for a, rows in table.items():
        for m, v in rows.items():
            print(
                f"| {a} | {m} | {v['step_ms_median']:.2f} | {v['ratio_to_sum_median']:.2f} | "
                f"{v['ratio_to_sum_min']:.2f} - {v['ratio_to_sum_max']:.2f} |"
            )
    if not args.no_write:
        print("wrote", write_results("gradient_cost", figures))


if __name__ == "__main__":
    main()
