"""Task correlation and multi-task architectures: the MMoE paper's synthetic experiment.

    .venv/bin/python benchmarks/task_correlation.py                 # full sweep (about 15 CPU minutes)
    .venv/bin/python benchmarks/task_correlation.py --seeds 2 --correlations 1 0.5 0 --long-correlations

Protocol (Ma et al., KDD 2018, section 3; the book's notebook
notebooks/ch03_experiments/01_task_correlation.ipynb runs a small version of it):

* data: ``mt.data.make_correlated_tasks(n_samples, task_correlation=p, n_features=100,
  seed=s)`` with the library's defaults (10 sinusoids, alpha and beta ~ N(0, 0.1^2),
  c = 1, noise sd 0.1, so the noise floor of each task's squared error is 0.01). The
  first 80% of the rows train, the last 20% test. For one seed every correlation shares
  x, the noise and w1 (only w2 moves with p), so curves over p are paired.
* models: ``mt.MultiTaskLearning`` with two regression tasks and comparable parameter
  counts (about 7,000-7,500 trainable weights each): single-task (two networks, each a
  32-unit hidden layer and an 8-unit tower), shared-bottom (64-unit shared layer, 8-unit
  towers), OMoE and MMoE (4 experts of 16 units, 8-unit towers). Adam 3e-3, batch 256,
  a fixed number of epochs (no early stopping), model seed = data seed.
* figure: test mean squared error per task, mean and standard deviation over seeds; the
  paired difference "model minus single-task" per seed (positive = sharing hurts, i.e.
  negative transfer); the degradation "loss at p=0 minus loss at p=1" per model.

Two training budgets: ``--epochs`` (short, the notebook's budget) over every correlation,
and ``--long-epochs`` over ``--long-correlations``, to see whether a finding is about
how fast a model trains or where it ends.

Writes benchmarks/results/task_correlation.json and prints a markdown row for
benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results  # noqa: E402

import mtrec_lib as mt  # noqa: E402

TASKS = {"y1": "regression", "y2": "regression"}
# Hyperparameters per architecture: parameter counts within about 7% of each other.
ARCHITECTURES = {
    "single_task": {"bottom_units": (32,)},
    "shared_bottom": {"bottom_units": (64,)},
    "omoe": {"num_experts": 4, "expert_units": (16,)},
    "mmoe": {"num_experts": 4, "expert_units": (16,)},
}
COMMON = {"tower_units": (8,), "batch_size": 256, "learning_rate": 3e-3}


def run_one(p: float, seed: int, arch: str, epochs: int, n_samples: int) -> dict:
    frame = mt.data.make_correlated_tasks(n_samples=n_samples, task_correlation=p, n_features=100, seed=seed)
    n_train = int(0.8 * n_samples)
    train, test = frame.iloc[:n_train], frame.iloc[n_train:]
    cpu, wall = time.process_time(), time.perf_counter()
    model = mt.MultiTaskLearning(tasks=TASKS, architecture=arch, seed=seed, epochs=epochs,
                                 **COMMON, **ARCHITECTURES[arch])
    model.fit(train, verbose=0)
    pred = model.predict(test)
    mse = {t: float(np.mean((test[t].to_numpy() - pred[t].to_numpy()) ** 2)) for t in TASKS}
    return {"p": p, "seed": seed, "arch": arch, "epochs": epochs, "mse_y1": mse["y1"], "mse_y2": mse["y2"],
            "params": model.count_params(), "cpu_seconds": time.process_time() - cpu,
            "wall_seconds": time.perf_counter() - wall}


def summarise(runs: pd.DataFrame) -> dict:
    """Per correlation and architecture: mean/sd of each task's loss, paired differences."""
    runs = runs.assign(mse_mean=(runs.mse_y1 + runs.mse_y2) / 2)
    out: dict = {}
    base = runs[runs.arch == "single_task"].set_index(["p", "seed"])
    for (p, arch), g in runs.groupby(["p", "arch"], sort=False):
        g = g.set_index(["p", "seed"])
        row = {}
        for col in ("mse_y1", "mse_y2", "mse_mean"):
            row[col] = round(float(g[col].mean()), 5)
            row[f"{col}_sd"] = round(float(g[col].std(ddof=1)) if len(g) > 1 else 0.0, 5)
            # A seed where a narrow 8-unit tower trains slowly can dominate a mean: medians too.
            row[f"{col}_median"] = round(float(g[col].median()), 5)
        # Paired with single-task on the same data and seed: > 0 means sharing hurt this task.
        for t in ("y1", "y2", "mean"):
            diff = g[f"mse_{t}"] - base.loc[g.index, f"mse_{t}"]
            row[f"vs_single_{t}"] = round(float(diff.mean()), 5)
            row[f"vs_single_{t}_se"] = round(float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0, 5)
            row[f"vs_single_{t}_median"] = round(float(diff.median()), 5)
        # Negative transfer, counted per (seed, task): the shared model's loss above single-task's.
        worse = np.concatenate([(g[f"mse_{t}"] - base.loc[g.index, f"mse_{t}"]).to_numpy() for t in ("y1", "y2")])
        row["share_tasks_worse_than_single"] = round(float((worse > 0).mean()), 3)
        row["params"] = int(g["params"].iloc[0])
        out.setdefault(f"{p:g}", {})[arch] = row
    # Degradation from the highest to the lowest correlation, paired by seed.
    hi, lo = runs.p.max(), runs.p[runs.p >= 0].min()
    deg = {}
    for arch, g in runs.groupby("arch"):
        a = g[g.p == hi].set_index("seed").mse_mean
        b = g[g.p == lo].set_index("seed").mse_mean
        d = (b - a.loc[b.index]).dropna()
        deg[arch] = {"mean": round(float(d.mean()), 5), "median": round(float(d.median()), 5),
                     "se": round(float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0, 5)}
    return {"by_correlation": out, "degradation": {"from_p": float(hi), "to_p": float(lo), **deg}}


def markdown_row(figures: dict) -> str:
    """One row for benchmarks/README.md: median test MSE at the highest and lowest correlation."""
    proto = figures["protocol"]
    cells = []
    for budget in ("short", "long"):
        if budget not in figures:
            continue
        by = figures[budget]["by_correlation"]
        ps = [float(p) for p in by]
        hi, lo = f"{max(ps):g}", f"{min(p for p in ps if p >= 0):g}"
        deg = figures[budget]["degradation"]
        cells.append(f"{figures[budget]['epochs']} epochs, p={hi} -> {lo}: " + ", ".join(
            f"{a} {by[hi][a]['mse_mean_median']:.4f} -> {by[lo][a]['mse_mean_median']:.4f} "
            f"({deg[a]['mean']:+.4f}±{deg[a]['se']:.4f})" for a in ARCHITECTURES))
    return (f"| task_correlation.py | MMoE synthetic data, {proto['n_samples']} rows, {len(proto['seeds'])} seeds, "
            f"~7.0-7.6k parameters each: median test MSE (mean of 2 tasks; in brackets the paired change "
            f"from the highest to the lowest correlation, mean±se) | {'; '.join(cells)} | "
            "Ma et al. 2018: shared-bottom degrades as correlation falls, MMoE holds |")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--correlations", type=float, nargs="+", default=[1.0, 0.9, 0.7, 0.5, 0.3, 0.0, -0.5, -1.0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--n-samples", type=int, default=8000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--long-epochs", type=int, default=40)
    ap.add_argument("--long-correlations", type=float, nargs="*", default=[1.0, 0.5, 0.0])
    ap.add_argument("--print-row", action="store_true",
                    help="print the README row of the existing results file and exit")
    args = ap.parse_args(argv)
    if args.print_row:
        from _common import RESULTS

        print(markdown_row(json.loads((RESULTS / "task_correlation.json").read_text())))
        return 0

    start_cpu, start_wall = time.process_time(), time.perf_counter()
    budgets = {"short": (args.epochs, args.correlations)}
    if args.long_correlations:
        budgets["long"] = (args.long_epochs, args.long_correlations)
    figures: dict = {"protocol": {
        "n_samples": args.n_samples, "n_features": 100, "train_share": 0.8, "seeds": list(range(args.seeds)),
        "architectures": {a: {**COMMON, **hp} for a, hp in ARCHITECTURES.items()},
        "noise_floor_mse": 0.01, "metric": "test mean squared error per task",
    }}
    all_runs = []
    for budget, (epochs, correlations) in budgets.items():
        runs = []
        for p in correlations:
            for seed in range(args.seeds):
                for arch in ARCHITECTURES:
                    r = run_one(p, seed, arch, epochs, args.n_samples)
                    runs.append(r)
                    print(budget, json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items()}),
                          flush=True)
        frame = pd.DataFrame(runs)
        all_runs.append(frame.assign(budget=budget))
        figures[budget] = {"epochs": epochs, "correlations": correlations, **summarise(frame)}
    runs = pd.concat(all_runs)
    figures["params"] = {a: int(runs[runs.arch == a].params.iloc[0]) for a in ARCHITECTURES}
    figures["cpu_seconds_per_fit"] = {b: round(float(g.cpu_seconds.mean()), 2) for b, g in runs.groupby("budget")}
    figures["cpu_seconds_total"] = round(time.process_time() - start_cpu, 1)
    figures["wall_seconds_total"] = round(time.perf_counter() - start_wall, 1)
    figures["runs"] = [{k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items()}
                       for r in runs.to_dict("records")]
    path = write_results("task_correlation", figures)
    print(f"wrote {path}")

    print("\nMarkdown row for benchmarks/README.md:")
    print(markdown_row(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
