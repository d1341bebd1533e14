"""Task correlation and multi-task architectures: the MMoE paper's synthetic experiment, faithfully.

    .venv/bin/python benchmarks/task_correlation.py                # LR grid, then the full sweep
    .venv/bin/python benchmarks/task_correlation.py --seeds 3 --correlations 1 0
    .venv/bin/python benchmarks/task_correlation.py --summarise    # re-summarise the recorded runs

Protocol (Ma et al., KDD 2018, sections 3 and 5; the book's notebook
notebooks/ch03_experiments/01_task_correlation.ipynb runs a small version and reads this file):

* data: ``mt.data.make_correlated_tasks(n_train + n_val + n_test, p, n_features=100, seed=s)``
  with the library's defaults: google-research's fixed sinusoids (alpha_j = j,
  beta_j = (j-1)^2, j = 1..10), c = 1, noise sd 0.1 (noise floor of each task's squared
  error: 0.01). Rows are split in order into train / validation / test. For one seed every
  correlation shares x, the noise and w1, so curves over p are paired; each seed is one
  data set *and* one initialisation, the same for every model (paired seeds).
* models: ``mt.MultiTaskLearning`` with two regression tasks, the paper's sizes: OMoE and
  MMoE with 8 experts of 16 units and towers of 8; a shared bottom of one hidden layer
  sized to the same parameter count; single-task: one network per task, each one hidden
  layer, the two together the same parameter count (within 1%).
* training: Adam, batch 256, at most ``--epochs`` epochs, early stopping on the validation
  loss with patience ``--patience`` (best weights restored). The learning rate of each
  architecture is chosen once from ``--lr-grid`` on validation data of separate seeds
  (``--grid-seeds``, at p = ``--grid-correlation``), then fixed for the sweep.
* baselines printed beside every number: a least-squares linear regression per task
  (fitted on the same training rows) and the noise floor 0.01.
* figures: test MSE per task per run (the distribution over seeds is the paper's
  trainability view), its mean, median and spread per (model, p), the paired difference
  "model minus single-task" per seed, the measured label correlation corr(y1, y2).

Runs are appended to ``benchmarks/results/task_correlation_runs.jsonl`` as they finish
(seed-major, the first three correlations before the others, so an interrupted sweep still
holds whole seeds; ``--resume`` runs only what is missing); the summary goes to
``benchmarks/results/task_correlation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_results  # noqa: E402

TASKS = {"y1": "regression", "y2": "regression"}
# The paper's sizes; shared-bottom and single-task widths give the same parameter count
# as MMoE (14,818 with 100 inputs): 126 shared units, 68 units per single-task network.
ARCHITECTURES = {
    "single_task": {"bottom_units": (68,)},
    "shared_bottom": {"bottom_units": (126,)},
    "omoe": {"num_experts": 8, "expert_units": (16,)},
    "mmoe": {"num_experts": 8, "expert_units": (16,)},
}
COMMON = {"tower_units": (8,), "batch_size": 256, "embedding_dim": 8}
CORE = ("single_task", "shared_bottom", "mmoe")  # the models the paper's question is about
RUNS_FILE = RESULTS / "task_correlation_runs.jsonl"


def make_split(p: float, seed: int, n_train: int, n_val: int, n_test: int):
    import mtrec_lib as mt

    frame = mt.data.make_correlated_tasks(n_train + n_val + n_test, task_correlation=p, n_features=100, seed=seed)
    return frame.iloc[:n_train], frame.iloc[n_train : n_train + n_val], frame.iloc[n_train + n_val :]


def linear_floor(train: pd.DataFrame, test: pd.DataFrame) -> dict:
    """Test MSE per task of a least-squares fit on the same rows: what sharing must beat."""
    from sklearn.linear_model import LinearRegression

    x = [c for c in train if c.startswith("x")]
    pred = LinearRegression().fit(train[x], train[list(TASKS)]).predict(test[x])
    return {t: float(np.mean((test[t].to_numpy() - pred[:, i]) ** 2)) for i, t in enumerate(TASKS)}


def run_one(job: dict) -> dict:
    """Train one architecture on one (p, seed) and report its test and validation MSE."""
    import mtrec_lib as mt

    p, seed, arch, lr = job["p"], job["seed"], job["arch"], job["lr"]
    train, val, test = make_split(p, seed, job["n_train"], job["n_val"], job["n_test"])
    wall = time.perf_counter()
    model = mt.MultiTaskLearning(
        tasks=TASKS,
        architecture=arch,
        seed=seed,
        learning_rate=lr,
        epochs=job["epochs"],
        patience=job["patience"],
        **COMMON,
        **ARCHITECTURES[arch],
    )
    model.fit(train, validation_data=val, verbose=0)
    out = {"p": p, "seed": seed, "arch": arch, "lr": lr, "stage": job["stage"]}
    for name, frame in (("val", val), ("test", test)):
        pred = model.predict(frame)
        for t in TASKS:
            out[f"{name}_mse_{t}"] = float(np.mean((frame[t].to_numpy() - pred[t].to_numpy()) ** 2))
    hist = model.history_
    val_loss = hist.get("val_loss", [])
    out.update(
        {
            "epochs_run": len(hist.get("loss", [])),
            "best_epoch": int(np.argmin(val_loss)) + 1 if val_loss else None,
            "final_train_loss": float(hist["loss"][-1]),
            "params": int(model.count_params()),
            "wall_seconds": time.perf_counter() - wall,
        }
    )
    if arch == "single_task":  # once per (p, seed): the baselines beside it
        lin = linear_floor(train, test)
        out.update({f"linear_mse_{t}": v for t, v in lin.items()})
        out["label_corr_train"] = float(np.corrcoef(train["y1"], train["y2"])[0, 1])
    return out


def _init_worker() -> None:
    # One intra-op thread per worker: on 2 cores two such workers beat one two-thread process.
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def run_jobs(jobs: list[dict], workers: int, sink: Path | None) -> list[dict]:
    results = []
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) as pool:
        for r in pool.map(run_one, jobs):
            results.append(r)
            line = json.dumps({k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()})
            print(line, flush=True)
            if sink is not None:
                with sink.open("a") as fh:
                    fh.write(line + "\n")
    return results


def _key(job: dict) -> tuple:
    return job["stage"], job["p"], job["seed"], job["arch"], job["lr"]


def _read_runs() -> list[dict]:
    if not RUNS_FILE.exists():
        return []
    return [json.loads(x) for x in RUNS_FILE.read_text().splitlines() if x.strip()]


def choose_learning_rates(runs: pd.DataFrame) -> dict:
    """Per architecture: the grid's learning rate with the lowest mean validation MSE."""
    runs = runs.assign(val_mse=(runs.val_mse_y1 + runs.val_mse_y2) / 2)
    table = runs.groupby(["arch", "lr"]).val_mse.mean().unstack()
    return {a: float(table.loc[a].idxmin()) for a in table.index}, {
        a: {f"{lr:g}": round(float(v), 5) for lr, v in table.loc[a].items()} for a in table.index
    }


def summarise(runs: pd.DataFrame) -> dict:
    """Per correlation and architecture: distribution of test MSE, paired gain over single-task."""
    runs = runs.assign(test_mse=(runs.test_mse_y1 + runs.test_mse_y2) / 2)
    base = runs[runs.arch == "single_task"].set_index(["p", "seed"])
    out: dict = {}
    for (p, arch), g in runs.groupby(["p", "arch"]):
        g = g.set_index(["p", "seed"])
        row: dict = {"n_seeds": int(len(g))}
        for col in ("test_mse_y1", "test_mse_y2", "test_mse"):
            v = g[col]
            row[col] = {
                "mean": round(float(v.mean()), 5),
                "sd": round(float(v.std(ddof=1)), 5),
                "median": round(float(v.median()), 5),
                "q10": round(float(v.quantile(0.1)), 5),
                "q90": round(float(v.quantile(0.9)), 5),
            }
        # Paired with single-task on the same data and seed: < 0 means sharing helped.
        diff = g["test_mse"] - base.loc[g.index, "test_mse"]
        row["minus_single_task"] = {
            "mean": round(float(diff.mean()), 5),
            "se": round(float(diff.std(ddof=1) / np.sqrt(len(diff))), 5),
            "median": round(float(diff.median()), 5),
            "share_of_seeds_better": round(float((diff < 0).mean()), 3),
        }
        # Runs still near the linear floor: the network never got past the linear part.
        lin = base.loc[g.index, ["linear_mse_y1", "linear_mse_y2"]].mean(axis=1)
        row["share_stuck_near_linear"] = round(float((g["test_mse"] > 0.8 * lin).mean()), 3)
        row["epochs_run_median"] = float(g["epochs_run"].median())
        row["params"] = int(g["params"].iloc[0])
        out.setdefault(f"{p:g}", {})[arch] = row
    floors = {}
    for p, g in base.groupby(level="p"):
        lin = (g.linear_mse_y1 + g.linear_mse_y2) / 2
        floors[f"{p:g}"] = {
            "linear_test_mse_mean": round(float(lin.mean()), 4),
            "label_corr_mean": round(float(g.label_corr_train.mean()), 4),
            "label_corr_sd": round(float(g.label_corr_train.std(ddof=1)), 4),
        }
    return {"by_correlation": out, "baselines": floors, "noise_floor_mse": 0.01}


def markdown_row(figures: dict) -> str:
    """One row for benchmarks/README.md: median test MSE per architecture at each correlation."""
    by, base = figures["by_correlation"], figures["baselines"]
    cells = []
    for p in sorted(by, key=float, reverse=True):
        cells.append(
            f"p={p} (corr {base[p]['label_corr_mean']:.2f}, linear {base[p]['linear_test_mse_mean']:.2f}): "
            + ", ".join(f"{a} {by[p][a]['test_mse']['median']:.3f}" for a in ARCHITECTURES if a in by[p])
        )
    proto = figures["protocol"]
    return (
        f"| task_correlation.py | MMoE paper generator (google-research sinusoids), {proto['n_train']:,} "
        f"training rows, {figures['n_seeds']} paired seeds, 14.8k parameters each: median test MSE "
        f"(mean of 2 tasks) | {'; '.join(cells)} | Ma et al. 2018: shared-bottom degrades as "
        "correlation falls, MMoE holds |"
    )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--correlations", type=float, nargs="+", default=[1.0, 0.5, 0.0, 0.9])
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--n-train", type=int, default=40_000)
    ap.add_argument("--n-val", type=int, default=5_000)
    ap.add_argument("--n-test", type=int, default=5_000)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--patience", type=int, default=8)
    ap.add_argument("--lr-grid", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2])
    ap.add_argument("--grid-seeds", type=int, nargs="+", default=[1000, 1001])
    ap.add_argument("--grid-correlation", type=float, default=0.5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--architectures",
        nargs="+",
        default=list(ARCHITECTURES),
        choices=list(ARCHITECTURES),
        help="train only these in the sweep (single_task is always needed as the pair)",
    )
    ap.add_argument(
        "--long-seeds",
        type=int,
        nargs="*",
        default=[0, 1],
        help="after the sweep: these seeds again with --long-epochs, to see where training ends",
    )
    ap.add_argument("--long-epochs", type=int, default=120)
    ap.add_argument("--long-patience", type=int, default=15)
    ap.add_argument("--long-correlations", type=float, nargs="*", default=[1.0, 0.0])
    ap.add_argument("--summarise", action="store_true", help="summarise the recorded runs file and exit")
    ap.add_argument(
        "--resume",
        action="store_true",
        help="keep the recorded runs and run only the missing ones (e.g. after an interruption)",
    )
    args = ap.parse_args(argv)
    protocol = {
        "n_train": args.n_train,
        "n_val": args.n_val,
        "n_test": args.n_test,
        "n_features": 100,
        "epochs_max": args.epochs,
        "patience": args.patience,
        "lr_grid": args.lr_grid,
        "grid_seeds": args.grid_seeds,
        "grid_correlation": args.grid_correlation,
        "architectures": {a: {**COMMON, **hp} for a, hp in ARCHITECTURES.items()},
        "generator": "mt.data.make_correlated_tasks defaults (alpha_j = j, beta_j = (j-1)^2, c = 1, noise sd 0.1)",
        "metric": "test mean squared error per task",
    }
    job_base = {
        "n_train": args.n_train,
        "n_val": args.n_val,
        "n_test": args.n_test,
        "epochs": args.epochs,
        "patience": args.patience,
    }
    wall = time.perf_counter()
    if not args.summarise:
        if not args.resume:
            RUNS_FILE.unlink(missing_ok=True)
        done = {(r["stage"], r["p"], r["seed"], r["arch"], r["lr"]) for r in _read_runs()}
        grid = [
            {**job_base, "p": args.grid_correlation, "seed": s, "arch": a, "lr": lr, "stage": "lr_grid"}
            for s in args.grid_seeds
            for a in ARCHITECTURES
            for lr in args.lr_grid
        ]
        run_jobs([j for j in grid if _key(j) not in done], args.workers, RUNS_FILE)
        rates, _ = choose_learning_rates(pd.DataFrame([r for r in _read_runs() if r["stage"] == "lr_grid"]))
        print("learning rates chosen on validation:", rates, flush=True)
        # The first three correlations for every seed, then the rest: an interrupted sweep keeps
        # the widest range of p with all seeds.
        blocks = [args.correlations[:3], args.correlations[3:]]
        sweep = [
            {**job_base, "p": p, "seed": s, "arch": a, "lr": rates[a], "stage": "sweep"}
            for block in blocks
            for s in range(args.seeds)
            for p in block
            for a in ARCHITECTURES
            if a in args.architectures or a == "single_task"
        ]
        run_jobs([j for j in sweep if _key(j) not in done], args.workers, RUNS_FILE)
        long = [
            {
                **job_base,
                "epochs": args.long_epochs,
                "patience": args.long_patience,
                "p": p,
                "seed": s,
                "arch": a,
                "lr": rates[a],
                "stage": "long",
            }
            for s in args.long_seeds
            for p in args.long_correlations
            for a in CORE
        ]
        run_jobs([j for j in long if _key(j) not in done], args.workers, RUNS_FILE)
    runs = pd.DataFrame(_read_runs())
    rates, grid_table = choose_learning_rates(runs[runs.stage == "lr_grid"])
    sweep = runs[runs.stage == "sweep"]
    # Only paired runs enter the summary: a (p, seed) counts for a model when single-task has it too.
    paired_keys = set(map(tuple, sweep[sweep.arch == "single_task"][["p", "seed"]].to_numpy()))
    sweep = sweep[[(p, s) in paired_keys for p, s in zip(sweep.p, sweep.seed)]]
    n_seeds = sweep.groupby(["p", "arch"]).seed.nunique()
    figures = {
        "protocol": protocol,
        "learning_rates": rates,
        "lr_grid_val_mse": grid_table,
        # Seeds of the three models every comparison needs, over the first block of correlations
        # (OMoE and the last correlations come after them and may have fewer: see the next key).
        "n_seeds": int(n_seeds[[(p, a) for p in args.correlations[:3] for a in CORE if (p, a) in n_seeds.index]].min()),
        "n_seeds_by_correlation": {
            f"{p:g}": {a: int(n) for a, n in g.droplevel(0).items()} for p, g in n_seeds.groupby(level=0)
        },
        **summarise(sweep),
        "wall_seconds_per_fit_median": round(float(sweep.wall_seconds.median()), 1),
    }
    long = runs[runs.stage == "long"]
    if len(long):
        long = long.assign(test_mse=(long.test_mse_y1 + long.test_mse_y2) / 2)
        figures["long_budget"] = {
            "epochs_max": args.long_epochs,
            "patience": args.long_patience,
            "runs": [
                {
                    k: (round(v, 5) if isinstance(v, float) else v)
                    for k, v in r.items()
                    if k in ("p", "seed", "arch", "test_mse", "epochs_run", "best_epoch")
                }
                for r in long.to_dict("records")
            ],
        }
    if not args.summarise:
        figures["wall_seconds_total"] = round(time.perf_counter() - wall, 1)
    figures["runs"] = [
        {
            k: (round(v, 5) if isinstance(v, float) else v)
            for k, v in r.items()
            if k
            in (
                "p",
                "seed",
                "arch",
                "test_mse_y1",
                "test_mse_y2",
                "final_train_loss",
                "epochs_run",
                "linear_mse_y1",
                "linear_mse_y2",
                "label_corr_train",
            )
            and not (isinstance(v, float) and np.isnan(v))
        }
        for r in sweep.to_dict("records")
    ]
    path = write_results("task_correlation", figures)
    print(f"wrote {path}\n\nMarkdown row for benchmarks/README.md:\n{markdown_row(figures)}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main(sys.argv[1:]))
