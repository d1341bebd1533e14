"""Train an MMoE on two (or N) worker processes on this machine, from Parquet shards.

Usage::

    python scripts/train_multiworker.py                          # 2 workers, 200,000 impressions, 2 epochs
    python scripts/train_multiworker.py --workers 1              # the same run on one worker
    python scripts/train_multiworker.py --rows 20000 --epochs 1  # a quick one
    python scripts/train_multiworker.py --shards DIR             # reuse DIR/train and DIR/test
    python scripts/train_multiworker.py --crash-worker 1         # see a dead worker fail the run

Each worker is a separate process running ``python -m mtrec_lib.scale.distributed worker`` with
its own ``TF_CONFIG`` (cluster addresses on 127.0.0.1, free ports) and
``MultiWorkerMirroredStrategy``; worker ``i`` reads training shards ``i, i+N, ...``. The
global batch stays the estimator's ``batch_size``, so N workers make the same updates as
one. Worker 0 evaluates on the test shards. The script prints each worker's times, the
chief's metrics, whether all workers ended with identical weights, and one
``RESULT {json}`` line for programs. Exit code 1 with the launcher's message when a
worker fails or the run exceeds ``--timeout``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from mtrec_lib.scale import distributed as dist
from mtrec_lib.scale import shards as sh

# timestamp and day place a row in the calendar; a model tested on a later period must not read them.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--shards", type=Path, help="folder with train/ and test/ shards (default: simulate)")
    parser.add_argument("--rows", type=int, default=200_000, help="simulated impressions when --shards is absent")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the simulated log")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="seed of the model")
    parser.add_argument("--batch-size", type=int, default=512, help="global batch size")
    parser.add_argument("--architecture", default="mmoe")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds the whole run may take")
    parser.add_argument("--start-timeout", type=float, default=180.0, help="seconds for every worker to join")
    parser.add_argument("--crash-worker", type=int, default=None, help="make this worker exit at start (a test)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mtrec-shards-") as tmp:
        folder = args.shards
        if folder is None:
            folder = Path(tmp)
            train, test = sh.simulate_train_test_shards(folder, args.rows, seed=args.data_seed, n_train_shards=8)
            print(
                f"simulated {train.n_rows + test.n_rows:,} impressions: {train.n_rows:,} train rows in "
                f"{len(train)} shards, {test.n_rows:,} test rows",
                flush=True,
            )
        try:
            run = dist.train_on_workers(
                folder / "train",
                folder / "test",
                args.workers,
                architecture=args.architecture,
                features=FEATURES,
                epochs=args.epochs,
                seed=args.seed,
                batch_size=args.batch_size,
                crash_worker=args.crash_worker,
                start_timeout=args.start_timeout,
                timeout=args.timeout,
            )
        except dist.WorkerError as exc:
            print(f"the run failed: {exc}", file=sys.stderr)
            return 1

    for w in run["workers"]:
        print(
            f"worker {w['worker']}: fit {w['fit_seconds']:.1f} s (epochs: "
            f"{', '.join(f'{s:.1f}' for s in w['epoch_seconds'])} s), process {w['process_seconds']:.1f} s, "
            f"weights {w['weights']}"
        )
    same = len({w["weights"] for w in run["workers"]}) == 1
    run["identical_weights"] = same
    print(f"{args.workers} worker(s), wall {run['wall_seconds']:.1f} s; identical weights on every worker: {same}")
    print("test metrics (worker 0):", ", ".join(f"{k}={v:.4f}" for k, v in (run["metrics"] or {}).items()))
    print("RESULT " + json.dumps(run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
