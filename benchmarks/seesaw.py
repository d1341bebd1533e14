"""The seesaw, measured: per-task gains over single-task models, gradient methods, Pareto fronts.

    .venv/bin/python benchmarks/seesaw.py --workers 2            # both settings, seeds 0-2 (222 fits)
    .venv/bin/python benchmarks/seesaw.py --settings census --seeds 0 1
    .venv/bin/python benchmarks/seesaw.py --summarise            # re-aggregate the recorded runs only
    .venv/bin/python benchmarks/seesaw.py --quick                # smoke test into a temporary folder

The seesaw phenomenon (跷跷板现象; Tang et al., RecSys 2020, the PLE paper): in a multi-task
model, one task improves over its single-task model while the other gets worse, and
methods or weightings that move one up move the other down. This script measures it in two
settings, for four architectures and five ways of combining the tasks, against single-task
models of the same size, with paired seeds.

Settings
--------
* ``synthetic``: ``mt.data.make_correlated_tasks(n_train + n_val + n_test, task_correlation=0,
  n_features=100, seed=s, n_sin=2)`` (the MMoE paper's generator with the first two of
  google-research's sinusoids; two unrelated regression tasks ``y1``, ``y2``), rows split in
  order into 20,000 train / 5,000 validation / 5,000 test; the seed fixes the data and the
  initialisation, the same for every model (paired seeds). Why two sinusoids and not ten:
  with all ten, 20,000 rows and this epoch budget, every network stops at the least-squares
  floor (about 4.1: validation MSE rises from the first epochs, so early stopping returns a
  linear fit), and with 40,000 rows MMoE is still at 0.93 against single-task's 0.48 after 30
  epochs (benchmarks/task_correlation.py documents the slow training); either way the
  comparison would measure how fast an architecture trains, not what sharing does. With two
  (as notebooks/ch09_faq/01_mtl_vs_single_task), every architecture ends far below least
  squares (about 0.68) within the budget. The ground truth is known, so every seed also
  records the least-squares floor (a linear regression per task on the same training rows)
  and the noise floor (the test MSE of the true function, about 0.01). Sizes:
  task_correlation.py's table (single-task 2 x 68 units, shared-bottom 126 units, MMoE 8
  experts x 16; about 14.8k parameters), plus CGC (3 task-specific + 2 shared experts of 16
  units) and PLE (two such levels of 14-unit experts), census.py's expert shapes, within 5%
  of MMoE's parameter count (tests/test_seesaw_experiment.py checks it). Towers of 8 units.
  Metric: test MSE per task (lower is better); gain = single-task MSE - model MSE (positive:
  better than single-task). Learning rate 3e-3 (the library's default) for every model;
  batch 256, at most 30 epochs, patience 4.
* ``census``: UCI Census-Income (KDD), census.py's group 2 (``college``, ``never_married``):
  a fixed random subsample of 50,000 training rows (``census.frames(2, False, 50000)``:
  ``sample(50000, random_state=0)``, the same rows for every run); validation and test are
  census.py's halves of the test file (``validation_test(seed=0)``). Sizes: census.py's
  ``ARCHITECTURES`` (about 21.9k parameters; embeddings of 4, towers of 8). Metric: test AUC
  per task; gain = model AUC - single-task AUC. Learning rate 3e-3 (census.json's choice),
  batch 1024, at most 20 epochs, patience 2.

Grid per setting
----------------
Architectures ``shared_bottom``, ``mmoe``, ``cgc``, ``ple`` x methods ``sum`` (plain sum of the
losses), ``pcgrad`` (``gradient="pcgrad"``), ``mgda`` (``gradient="mgda"``), ``uncertainty``
(``loss_weights="uncertainty"``), ``dwa`` (``loss_weights="dwa"``) x seeds 0, 1, 2; one
``single_task`` model per seed; and a fixed-weight sweep per architecture,
``loss_weights={task1: 2w, task2: 2(1 - w)}`` for w in 0.1, 0.25, 0.75, 0.9 (w = 0.5 is
``sum``) x the same seeds. Adam; early stopping on ``val_loss`` (the plain sum of the task
losses, whatever the weighting; best weights restored). Every multi-task run sets
``gradient_cosine=True`` and records the cosine between the two tasks' loss gradients on the
shared parameters, averaged over each epoch's training batches: its mean over the epochs
run, and the first and the last epoch's.

Recorded per run (one JSON line in ``benchmarks/results/seesaw_runs.jsonl``, appended as
runs finish; a run whose key (signature, setting, arch, method, weight, seed) is already
there is skipped, so an interrupted run resumes): setting, arch, method, weight, seed, test
and validation metric per task, epochs run, best epoch, fit seconds, parameters, gradient
cosine (per epoch, mean, first, last), the learned task weights at the last epoch
(uncertainty, DWA) and, for single-task synthetic runs, the floors.

Aggregates (``benchmarks/results/seesaw.json`` through ``_common.write_results``), per setting:

* per (arch, method) point: mean and sd over seeds of each task's test metric and of its
  paired gain over the single-task model of the same seed; mean gradient cosine (and first,
  last epoch); epochs; parameters; mean learned weights;
* the Pareto front (帕累托前沿): the points not dominated on the two tasks' mean metrics
  (better or equal on both, strictly better on one), over every method and sweep point of
  every architecture plus the single-task pair (``overall``), and within each architecture
  (its five methods and four sweep points);
* the seesaw, operationally: a point shows the seesaw when one task's mean paired gain is
  above +1 sd (of the per-seed gains) and the other's below -1 sd;
* PLE against MMoE (PLE's claim that explicit task-specific experts reduce the seesaw): per
  method and sweep point, the per-seed difference of gains PLE - MMoE per task (positive:
  PLE better), its mean and sd, whether PLE's and MMoE's gains are both > 0 on both tasks
  (no seesaw in the weak sense) and whether each shows the seesaw by the rule above.

Every worker process runs TensorFlow on one thread (census.py's ``_init_worker``);
``--workers`` fits run at a time. ``--quick`` (2,000 training rows, 1,000 validation and test
rows in the synthetic setting, 2 epochs, seed 0, shared-bottom only and two sweep weights,
unless ``--seeds``, ``--archs`` or ``--sweep-weights`` say otherwise) writes its runs and
results to a temporary folder and never touches ``benchmarks/results``; the notebook
(notebooks/ch03_experiments/05_seesaw.ipynb) reads such a file when the environment variable
``MTREC_SEESAW_RESULTS`` names it, and ``benchmarks/results/seesaw.json`` otherwise.

Cost: about 222 fits. Measured on the reference machine (2 cores, two single-thread fits at a
time), a fit takes roughly 1 s per epoch in either setting plus a few seconds of set-up and
evaluation (synthetic fits 17-29 s for 30 epochs, census fits 15-20 s); the whole grid about
40 minutes with ``--workers 2`` on the idle machine.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import census as census_bench  # noqa: E402  (its data, sizes and worker set-up are reused)
import task_correlation as tc_bench  # noqa: E402
from _common import RESULTS  # noqa: E402

ARCHS = ("shared_bottom", "mmoe", "cgc", "ple")
METHODS = ("sum", "pcgrad", "mgda", "uncertainty", "dwa")
SWEEP_WEIGHTS = (0.1, 0.25, 0.75, 0.9)
SEEDS = (0, 1, 2)
RUNS_FILE = RESULTS / "seesaw_runs.jsonl"

# Synthetic sizes: task_correlation.py's (about 14.8k parameters with 100 inputs), plus CGC
# and PLE with census.py's expert shapes (14,218 and 15,190 parameters: within 5% of 14,818).
SYNTHETIC_ARCHITECTURES = {
    "single_task": dict(tc_bench.ARCHITECTURES["single_task"]),
    "shared_bottom": dict(tc_bench.ARCHITECTURES["shared_bottom"]),
    "mmoe": dict(tc_bench.ARCHITECTURES["mmoe"]),
    "cgc": dict(census_bench.ARCHITECTURES["cgc"]),
    "ple": dict(census_bench.ARCHITECTURES["ple"]),
}
CENSUS_ARCHITECTURES = {a: dict(census_bench.ARCHITECTURES[a]) for a in ("single_task", *ARCHS)}

SETTINGS = {
    "synthetic": {
        "tasks": ("y1", "y2"),
        "task_type": "regression",
        "metric": "mse",
        "higher_is_better": False,
        "n_train": 20_000,
        "n_val": 5_000,
        "n_test": 5_000,
        "task_correlation": 0.0,
        "n_sin": 2,
        "max_epochs": 30,
        "patience": 4,
        "learning_rate": 3e-3,
        "common": {k: v for k, v in tc_bench.COMMON.items()},  # towers (8,), batch 256, embeddings 8
        "architectures": SYNTHETIC_ARCHITECTURES,
    },
    "census": {
        "tasks": census_bench.GROUPS[2],
        "task_type": "binary",
        "metric": "auc",
        "higher_is_better": True,
        "group": 2,
        "train_rows": 50_000,
        "max_epochs": 20,
        "patience": 2,
        "learning_rate": 3e-3,
        "common": dict(census_bench.COMMON),  # embeddings 4, towers (8,), batch 1024
        "architectures": CENSUS_ARCHITECTURES,
    },
}


# ---------------------------------------------------------------------------- protocol
def learning_rates(setting: str) -> dict:
    """One learning rate for every architecture of a setting (the book's default, 3e-3)."""
    return {a: SETTINGS[setting]["learning_rate"] for a in SETTINGS[setting]["architectures"]}


def protocol(setting: str, quick: bool = False) -> dict:
    """Everything a run of ``setting`` depends on (its signature is this, as sorted JSON)."""
    s = SETTINGS[setting]
    out = {
        "setting": setting,
        "tasks": list(s["tasks"]),
        "metric": s["metric"],
        "max_epochs": s["max_epochs"],
        "patience": s["patience"],
        "common": _plain(s["common"]),
        "architectures": _plain(s["architectures"]),
        "learning_rates": learning_rates(setting),
    }
    if setting == "synthetic":
        out.update({k: s[k] for k in ("n_train", "n_val", "n_test", "task_correlation", "n_sin")})
        if quick:
            out.update({"n_train": 2_000, "n_val": 1_000, "n_test": 1_000})
    else:
        out.update({"group": s["group"], "train_rows": 2_000 if quick else s["train_rows"]})
    if quick:
        out["max_epochs"] = 2
    return out


def signature(proto: dict) -> str:
    return json.dumps(proto, sort_keys=True)


def _plain(v):
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    return v


def point_name(method: str, weight: float | None) -> str:
    """``"sum"``, ``"pcgrad"``, ... or ``"w0.25"`` for a fixed-weight sweep point."""
    return method if method != "fixed" else f"w{weight:g}"


def method_kwargs(method: str, weight: float | None, tasks) -> dict:
    """The constructor arguments of one method (``fixed``: the sweep's loss weights)."""
    if method in ("sum", "pcgrad", "mgda"):
        return {"gradient": method}
    if method in ("uncertainty", "dwa"):
        return {"loss_weights": method}
    if method == "fixed":
        a, b = tasks
        return {"loss_weights": {a: 2 * weight, b: 2 * (1 - weight)}}
    raise ValueError(f"unknown method {method!r}")


def make_jobs(settings, archs, seeds, sweep_weights, quick: bool = False) -> list[dict]:
    """Seed-major (an interrupted run holds whole seeds), single-task first in each block."""
    jobs = []
    for seed in seeds:
        for setting in settings:
            proto = protocol(setting, quick)
            base = {"setting": setting, "seed": seed, "signature": signature(proto), "protocol": proto}
            jobs.append({**base, "arch": "single_task", "method": "sum", "weight": None})
            for arch in archs:
                jobs += [{**base, "arch": arch, "method": m, "weight": None} for m in METHODS]
                jobs += [{**base, "arch": arch, "method": "fixed", "weight": w} for w in sweep_weights]
    return jobs


def run_key(r: dict) -> tuple:
    w = r.get("weight")
    return r["signature"], r["setting"], r["arch"], r["method"], None if w is None else float(w), int(r["seed"])


# ---------------------------------------------------------------------------- one fit
_DATA: dict = {}


def synthetic_split(seed: int, n_train: int, n_val: int, n_test: int, p: float = 0.0, n_sin: int = 2):
    """(train, val, test): the generator's rows in order, as task_correlation.py splits them; cached."""
    import mtrec_lib as mt

    key = ("synthetic", seed, n_train, n_val, n_test, p, n_sin)
    if key not in _DATA:
        frame = mt.data.make_correlated_tasks(
            n_train + n_val + n_test, task_correlation=p, n_features=100, seed=seed, n_sin=n_sin
        )
        _DATA[key] = frame.iloc[:n_train], frame.iloc[n_train : n_train + n_val], frame.iloc[n_train + n_val :]
    return _DATA[key]


def synthetic_floors(seed: int, n_train: int, n_val: int, n_test: int, p: float = 0.0, n_sin: int = 2) -> dict:
    """Test MSE per task of least squares on the training rows and of the true function."""
    import numpy as np

    import mtrec_lib as mt

    n = n_train + n_val + n_test
    frame, w = mt.data.make_correlated_tasks(
        n, task_correlation=p, n_features=100, seed=seed, n_sin=n_sin, return_weights=True
    )
    train, test = frame.iloc[:n_train], frame.iloc[n_train + n_val :]
    x = test.filter(regex=r"^x\d+$").to_numpy()
    out = {f"linear_mse_{t}": v for t, v in tc_bench.linear_floor(train, test).items()}
    for t, wv in (("y1", w["w1"]), ("y2", w["w2"])):
        lin = x @ wv
        truth = lin + np.sin(np.outer(lin, w["alpha"]) + w["beta"]).sum(axis=1)
        out[f"noise_mse_{t}"] = float(np.mean((test[t].to_numpy() - truth) ** 2))
    out["label_corr_train"] = float(np.corrcoef(train["y1"], train["y2"])[0, 1])
    return out


def setting_data(proto: dict, seed: int):
    if proto["setting"] == "synthetic":
        return synthetic_split(
            seed, proto["n_train"], proto["n_val"], proto["n_test"], proto["task_correlation"], proto["n_sin"]
        )
    return census_bench.frames(proto["group"], False, proto["train_rows"])


def _mean(values) -> float | None:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return statistics.fmean(vals) if vals else None


def run_one(job: dict) -> dict:
    """Train one (setting, arch, method, weight, seed); test and validation metric per task."""
    import numpy as np

    import mtrec_lib as mt

    proto, arch, seed = job["protocol"], job["arch"], job["seed"]
    tasks = proto["tasks"]
    train, val, test = setting_data(proto, seed)
    task_type = SETTINGS[proto["setting"]]["task_type"]
    kwargs = {
        **proto["common"],
        **proto["architectures"][arch],
        "learning_rate": proto["learning_rates"][arch],
        "epochs": proto["max_epochs"],
        "patience": proto["patience"],
    }
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items()}
    if arch != "single_task":
        kwargs.update(method_kwargs(job["method"], job["weight"], tasks))
        kwargs["gradient_cosine"] = True
    wall = time.perf_counter()
    model = mt.MultiTaskLearning(tasks={t: task_type for t in tasks}, architecture=arch, seed=seed, **kwargs)
    model.fit(train, validation_data=val, verbose=0)
    out = {k: job[k] for k in ("setting", "arch", "method", "weight", "seed", "signature")}
    out["point"] = point_name(job["method"], job["weight"])
    if task_type == "regression":
        for name, frame in (("val", val), ("test", test)):
            pred = model.predict(frame)
            for t in tasks:
                out[f"{name}_mse_{t}"] = float(np.mean((frame[t].to_numpy() - pred[t].to_numpy()) ** 2))
    else:
        out.update(census_bench.binary_metrics(model, {"val": val, "test": test}, tasks))
    hist = model.history_
    val_loss = hist.get("val_loss", [])
    cos_keys = [k for k in hist if k.startswith("grad_cos_")]
    cos = [float(v) for v in hist[cos_keys[0]]] if cos_keys else []
    weights = {k[2:]: float(v[-1]) for k, v in hist.items() if k.startswith("w_") and k[2:] in tasks and v}
    best = int(np.nanargmin(val_loss)) + 1 if len(val_loss) else None
    out.update(
        {
            "params": int(model.count_params()),
            "epochs_run": len(hist.get("loss", [])),
            "best_epoch": best,
            "fit_seconds": float(model.fit_seconds_),
            "wall_seconds": time.perf_counter() - wall,
            "grad_cos_epochs": [round(c, 5) for c in cos],
            "grad_cos_mean": _mean(cos),
            "grad_cos_first": cos[0] if cos else None,
            "grad_cos_last": cos[-1] if cos else None,
            "learned_weights": weights or None,
            "learned_weights_best_epoch": (
                {
                    k[2:]: float(v[best - 1])
                    for k, v in hist.items()
                    if k.startswith("w_") and k[2:] in tasks and best and len(v) >= best
                }
                or None
            ),
        }
    )
    if proto["setting"] == "synthetic" and arch == "single_task":
        out.update(
            synthetic_floors(
                seed, proto["n_train"], proto["n_val"], proto["n_test"], proto["task_correlation"], proto["n_sin"]
            )
        )
    return out


def run_jobs(jobs: list[dict], workers: int, done: dict, runs_file: Path) -> None:
    """Run the jobs not in ``done`` (in place), print one line each, append to ``runs_file``."""
    todo = [j for j in jobs if run_key(j) not in done]
    if not todo:
        print(f"all {len(jobs)} fits already recorded in {runs_file}", flush=True)
        return
    start = time.perf_counter()
    print(f"{len(todo)} fits ({len(jobs) - len(todo)} already recorded), {workers} worker(s) ...", flush=True)
    # spawn: a forked child would inherit this process's TensorFlow state, if any
    with ProcessPoolExecutor(
        max_workers=workers, initializer=census_bench._init_worker, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        futures = [pool.submit(run_one, j) for j in todo]
        for i, fut in enumerate(as_completed(futures), 1):
            r = fut.result()
            done[run_key(r)] = r
            with runs_file.open("a") as fh:
                fh.write(json.dumps(r) + "\n")
            m = SETTINGS[r["setting"]]["metric"]
            elapsed = time.perf_counter() - start
            cos = f", cos {r['grad_cos_mean']:+.3f}" if r["grad_cos_mean"] is not None else ""
            print(
                f"  [{i}/{len(todo)}] {r['setting']:<9} {r['arch']:<13} {r['point']:<11} seed {r['seed']}: "
                f"test {m} "
                + " / ".join(f"{r[f'test_{m}_{t}']:.4f}" for t in SETTINGS[r["setting"]]["tasks"])
                + f"{cos}, {r['epochs_run']} epochs, fit {r['fit_seconds']:.0f} s "
                f"(elapsed {elapsed / 60:.1f} min, ~{elapsed / i * (len(todo) - i) / 60:.1f} min left)",
                flush=True,
            )


def read_runs(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


# ---------------------------------------------------------------------------- aggregates
def stats(values) -> dict:
    """Mean, sample sd (None for one value) and the values, rounded to 6 decimals."""
    vals = [float(v) for v in values]
    return {
        "mean": round(statistics.fmean(vals), 6) if vals else None,
        "sd": round(statistics.stdev(vals), 6) if len(vals) > 1 else None,
        "n": len(vals),
        "per_seed": [round(v, 6) for v in vals],
    }


def gain(model_metric: float, single_metric: float, higher_is_better: bool) -> float:
    """Positive when the model is better than the single-task model."""
    return model_metric - single_metric if higher_is_better else single_metric - model_metric


def pareto_front(points: dict, higher_is_better: bool = True) -> list[str]:
    """Names of the points (name -> (task1, task2)) that no other point dominates.

    ``q`` dominates ``p`` when it is at least as good on both tasks and strictly better on
    one. Points with a missing coordinate are ignored. Ties (equal on both) are both kept.
    """
    sign = 1.0 if higher_is_better else -1.0
    pts = {n: (sign * a, sign * b) for n, (a, b) in points.items() if a is not None and b is not None}
    front = []
    for n, (a, b) in pts.items():
        if not any(qa >= a and qb >= b and (qa > a or qb > b) for m, (qa, qb) in pts.items() if m != n):
            front.append(n)
    return sorted(front)


def is_seesaw(gain1: dict, gain2: dict) -> bool:
    """One task's mean paired gain above +1 sd, the other's below -1 sd."""

    def up(g):
        return g["mean"] is not None and g["sd"] is not None and g["mean"] > g["sd"]

    def down(g):
        return g["mean"] is not None and g["sd"] is not None and g["mean"] < -g["sd"]

    return (up(gain1) and down(gain2)) or (up(gain2) and down(gain1))


def paired_gains(rows: dict, single: dict, tasks, metric: str, higher_is_better: bool) -> dict:
    """Per task, the per-seed gains of ``rows`` (seed -> run) over ``single`` (seed -> run)."""
    seeds = sorted(set(rows) & set(single))
    return {
        t: [gain(rows[s][f"test_{metric}_{t}"], single[s][f"test_{metric}_{t}"], higher_is_better) for s in seeds]
        for t in tasks
    }, seeds


def aggregate_setting(runs: list[dict], setting: str, sig: str, seeds, archs=ARCHS) -> dict:
    """Everything seesaw.json holds for one setting, from its runs (pure, deterministic)."""
    s = SETTINGS[setting]
    tasks, metric, hib = list(s["tasks"]), s["metric"], s["higher_is_better"]
    seeds = [int(x) for x in seeds]
    mine = [r for r in runs if r.get("signature") == sig and r["setting"] == setting and int(r["seed"]) in seeds]
    by_point: dict = {}
    for r in mine:
        by_point.setdefault((r["arch"], point_name(r["method"], r.get("weight"))), {})[int(r["seed"])] = r
    single = by_point.get(("single_task", "sum"), {})
    out: dict = {
        "tasks": tasks,
        "metric": f"test_{metric}",
        "higher_is_better": hib,
        "seeds": seeds,
        "signature": sig,
        "n_runs": len(mine),
    }
    if single:
        ss = [single[k] for k in sorted(single)]
        out["single_task"] = {
            "seeds": sorted(single),
            "params": ss[0]["params"],
            "metric": {t: stats([r[f"test_{metric}_{t}"] for r in ss]) for t in tasks},
            "val_metric": {t: stats([r[f"val_{metric}_{t}"] for r in ss]) for t in tasks},
            "epochs_run": [r["epochs_run"] for r in ss],
            "fit_seconds_mean": round(statistics.fmean(r["fit_seconds"] for r in ss), 1),
        }
        if setting == "synthetic" and all("linear_mse_y1" in r for r in ss):
            out["floors"] = {
                "per_seed": {
                    str(r["seed"]): {
                        k: round(r[k], 6)
                        for k in ("linear_mse_y1", "linear_mse_y2", "noise_mse_y1", "noise_mse_y2", "label_corr_train")
                    }
                    for r in ss
                },
                **{
                    k: round(statistics.fmean(r[k] for r in ss), 6)
                    for k in ("linear_mse_y1", "linear_mse_y2", "noise_mse_y1", "noise_mse_y2", "label_corr_train")
                },
            }
    points = {}
    for (arch, name), rows in sorted(by_point.items()):
        if arch == "single_task":
            continue
        rs = [rows[k] for k in sorted(rows)]
        g, gseeds = paired_gains(rows, single, tasks, metric, hib)
        gains = {t: stats(g[t]) for t in tasks}
        first = rs[0]
        p = {
            "arch": arch,
            "method": first["method"],
            "weight": first.get("weight"),
            "seeds": sorted(rows),
            "paired_seeds": gseeds,
            "params": first["params"],
            "metric": {t: stats([r[f"test_{metric}_{t}"] for r in rs]) for t in tasks},
            "val_metric": {t: stats([r[f"val_{metric}_{t}"] for r in rs]) for t in tasks},
            "gain": gains,
            "seesaw": bool(gseeds) and is_seesaw(gains[tasks[0]], gains[tasks[1]]),
            "both_gains_positive": bool(gseeds) and all(gains[t]["mean"] > 0 for t in tasks),
            "grad_cos": {
                k: (round(v, 6) if v is not None else None)
                for k, v in (
                    ("mean", _mean(r["grad_cos_mean"] for r in rs)),
                    (
                        "sd",
                        statistics.stdev([r["grad_cos_mean"] for r in rs])
                        if len(rs) > 1 and all(r["grad_cos_mean"] is not None for r in rs)
                        else None,
                    ),
                    ("first", _mean(r["grad_cos_first"] for r in rs)),
                    ("last", _mean(r["grad_cos_last"] for r in rs)),
                )
            },
            "epochs_run": [r["epochs_run"] for r in rs],
            "fit_seconds_mean": round(statistics.fmean(r["fit_seconds"] for r in rs), 1),
        }
        lw = [r["learned_weights"] for r in rs if r.get("learned_weights")]
        p["learned_weights"] = (
            {t: round(statistics.fmean(w[t] for w in lw), 4) for t in tasks}
            if lw and all(t in w for w in lw for t in tasks)
            else None
        )
        points[f"{arch}/{name}"] = p
    out["points"] = points
    means = {n: (p["metric"][tasks[0]]["mean"], p["metric"][tasks[1]]["mean"]) for n, p in points.items()}
    if single:
        means["single_task"] = tuple(out["single_task"]["metric"][t]["mean"] for t in tasks)
    overall = pareto_front(means, hib)
    per_arch = {
        a: pareto_front({n: v for n, v in means.items() if n.startswith(a + "/")}, hib)
        for a in archs
        if any(n.startswith(a + "/") for n in means)
    }
    out["pareto_front"] = {"overall": overall, "per_arch": per_arch, "single_task_on_front": "single_task" in overall}
    for n, p in points.items():
        p["pareto_overall"] = n in overall
        p["pareto_arch"] = n in per_arch.get(p["arch"], [])
    out["seesaw_points"] = sorted(n for n, p in points.items() if p["seesaw"])
    out["both_gains_positive_points"] = sorted(n for n, p in points.items() if p["both_gains_positive"])
    out["ple_vs_mmoe"] = ple_vs_mmoe(by_point, single, tasks, metric, hib, points)
    cos = [p["grad_cos"]["mean"] for p in points.values() if p["grad_cos"]["mean"] is not None]
    out["grad_cos_summary"] = {
        "mean_over_points": round(statistics.fmean(cos), 6) if cos else None,
        "min": round(min(cos), 6) if cos else None,
        "max": round(max(cos), 6) if cos else None,
        "sum_by_arch": {a: points[f"{a}/sum"]["grad_cos"] for a in archs if f"{a}/sum" in points},
    }
    return out


def ple_vs_mmoe(by_point: dict, single: dict, tasks, metric: str, hib: bool, points: dict) -> dict:
    """Per method and sweep point: the per-seed gain difference PLE - MMoE (positive: PLE better)."""
    out = {}
    names = sorted({n for a, n in by_point if a == "ple"} & {n for a, n in by_point if a == "mmoe"})
    for name in names:
        ple, mmoe = by_point[("ple", name)], by_point[("mmoe", name)]
        seeds = sorted(set(ple) & set(mmoe))
        if not seeds:
            continue
        diff = {
            t: stats([gain(ple[s][f"test_{metric}_{t}"], mmoe[s][f"test_{metric}_{t}"], hib) for s in seeds])
            for t in tasks
        }
        pp, pm = points.get(f"ple/{name}"), points.get(f"mmoe/{name}")
        out[name] = {
            "seeds": seeds,
            "difference": diff,
            "ple_better_on_both": all(diff[t]["mean"] > 0 for t in tasks),
            "ple_worse_on_both": all(diff[t]["mean"] < 0 for t in tasks),
            "beyond_1sd": {t: (diff[t]["sd"] is not None and abs(diff[t]["mean"]) > diff[t]["sd"]) for t in tasks},
            "ple_both_gains_positive": bool(pp and pp["both_gains_positive"]),
            "mmoe_both_gains_positive": bool(pm and pm["both_gains_positive"]),
            "ple_seesaw": bool(pp and pp["seesaw"]),
            "mmoe_seesaw": bool(pm and pm["seesaw"]),
        }
    return out


def aggregate(runs: list[dict], settings: dict) -> dict:
    """``settings``: name -> {"signature", "seeds", "archs"}; one aggregate per setting."""
    return {
        name: aggregate_setting(runs, name, v["signature"], v["seeds"], v.get("archs", ARCHS))
        for name, v in settings.items()
    }


# ---------------------------------------------------------------------------- report
def _sd(s: dict) -> str:
    return "-" if s["sd"] is None else f"{s['sd']:.4f}"


def readme_row(results: dict, proto: dict) -> str:
    """One row for the Results table of benchmarks/README.md."""
    cells = []
    for name, agg in results.items():
        pts = agg["points"]
        methods = [p for p in pts.values() if p["method"] != "fixed"]
        d = agg["ple_vs_mmoe"]
        cells.append(
            f"{name}: {sum(p['both_gains_positive'] for p in methods)}/{len(methods)} (arch, method) points gain on "
            f"both tasks, {sum(all(p['gain'][t]['mean'] < 0 for t in agg['tasks']) for p in methods)} lose on both, "
            f"{len(agg['seesaw_points'])} of {len(pts)} points (sweep included) show the seesaw; Pareto front "
            f"{', '.join(agg['pareto_front']['overall'])}; PLE vs MMoE: seesaw in "
            f"{sum(x['ple_seesaw'] for x in d.values())} vs {sum(x['mmoe_seesaw'] for x in d.values())} of {len(d)} "
            f"comparisons, PLE better on both (>1 sd) in "
            f"{sum(x['ple_better_on_both'] and all(x['beyond_1sd'].values()) for x in d.values())}, worse on both in "
            f"{sum(x['ple_worse_on_both'] and all(x['beyond_1sd'].values()) for x in d.values())}"
        )
    return (
        f"| `seesaw.py --workers {proto['workers']}` | per-task gain over equal-sized single-task models, "
        f"{len(proto['archs'])} architectures x 5 methods + fixed-weight sweep {proto['sweep_weights']}, seeds "
        f"{proto['seeds']}; synthetic p=0 (test MSE) and census group 2 on 50,000 rows (test AUC) | "
        + "; ".join(cells)
        + " | PLE paper: PLE reduces the seesaw against MMoE | see the notebook |"
    )


def markdown(results: dict) -> str:
    lines = []
    for name, agg in results.items():
        tasks, metric = agg["tasks"], agg["metric"].split("_", 1)[1].upper()
        st = agg.get("single_task")
        lines.append(
            f"\n{name}: single-task test {metric} "
            + (", ".join(f"{t} {st['metric'][t]['mean']:.4f} ± {_sd(st['metric'][t])}" for t in tasks) if st else "-")
            + f"; Pareto front (all points): {', '.join(agg['pareto_front']['overall'])}"
        )
        lines.append(
            f"| setting | model / method | {tasks[0]} gain | {tasks[1]} gain | seesaw | "
            "Pareto (all / arch) | grad cos |"
        )
        lines.append("|---|---|---|---|---|---|---|")
        for n, p in agg["points"].items():
            g = [f"{p['gain'][t]['mean']:+.4f} ± {_sd(p['gain'][t])}" for t in tasks]
            cos = p["grad_cos"]["mean"]
            lines.append(
                f"| {name} | {n} | {g[0]} | {g[1]} | {'yes' if p['seesaw'] else 'no'} | "
                f"{'yes' if p['pareto_overall'] else 'no'} / {'yes' if p['pareto_arch'] else 'no'} | "
                + (f"{cos:+.3f}" if cos is not None else "-")
                + " |"
            )
        lines.append(f"\n{name}: PLE - MMoE, gain difference per task (mean ± sd over seeds)")
        for m, d in agg["ple_vs_mmoe"].items():
            lines.append(
                f"  {m:<12} "
                + ", ".join(f"{t} {d['difference'][t]['mean']:+.4f} ± {_sd(d['difference'][t])}" for t in tasks)
                + f"; PLE both gains > 0: {d['ple_both_gains_positive']}, MMoE: {d['mmoe_both_gains_positive']}"
            )
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    ap.add_argument("--archs", nargs="+", choices=list(ARCHS), default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 (--quick: 0)")
    ap.add_argument("--sweep-weights", type=float, nargs="*", default=None)
    ap.add_argument("--workers", type=int, default=2, help="parallel fits, one TensorFlow thread each")
    ap.add_argument("--runs-file", type=Path, default=None, help=f"default {RUNS_FILE.relative_to(ROOT)}")
    ap.add_argument("--summarise", action="store_true", help="aggregate the recorded runs only, train nothing")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 2,000 rows, 2 epochs, seed 0, one architecture, into a temporary folder",
    )
    args = ap.parse_args(argv)
    archs = args.archs or (["shared_bottom"] if args.quick else list(ARCHS))
    sweep = (
        args.sweep_weights if args.sweep_weights is not None else ([0.1, 0.9] if args.quick else list(SWEEP_WEIGHTS))
    )
    seeds = args.seeds or ([0] if args.quick else list(SEEDS))
    out_dir = Path(tempfile.mkdtemp(prefix="seesaw_quick_")) if args.quick else RESULTS
    runs_file = args.runs_file or (out_dir / "seesaw_runs.jsonl" if args.quick else RUNS_FILE)
    t0 = time.perf_counter()

    jobs = make_jobs(args.settings, archs, seeds, sweep, quick=args.quick)
    done = {run_key(r): r for r in read_runs(runs_file)}
    if not args.summarise:
        run_jobs(jobs, args.workers, done, runs_file)
    runs = read_runs(runs_file)
    chosen = {
        s: {"signature": signature(protocol(s, args.quick)), "seeds": seeds, "archs": archs} for s in args.settings
    }
    results = aggregate(runs, chosen)
    missing = [s for s, agg in results.items() if "single_task" not in agg or not agg["points"]]
    if missing:
        print(f"no recorded runs (or no single-task runs) for {missing} in {runs_file}; nothing written")
        return 1
    mine = [
        r
        for r in runs
        if any(r.get("signature") == c["signature"] for c in chosen.values()) and int(r["seed"]) in seeds
    ]
    figures = {
        "protocol": {
            "settings": {s: protocol(s, args.quick) for s in args.settings},
            "archs": archs,
            "methods": list(METHODS),
            "sweep_weights": sweep,
            "seeds": seeds,
            "workers": args.workers,
            "quick": args.quick,
            "training": (
                "Adam; early stopping on val_loss (plain sum of the task losses), best weights "
                "restored; gradient_cosine=True on every multi-task run; one TensorFlow thread per fit"
            ),
            "seesaw_rule": (
                "one task's mean paired gain over single-task > +1 sd (over seeds) and the other's < -1 sd"
            ),
            "gain": "synthetic: single-task MSE - model MSE; census: model AUC - single-task AUC (paired by seed)",
            "runs_file": str(runs_file.relative_to(ROOT)) if runs_file.is_relative_to(ROOT) else str(runs_file),
        },
        "results": results,
        "fit_seconds_total": round(sum(r["fit_seconds"] for r in mine), 1),
        "wall_seconds_this_invocation": round(time.perf_counter() - t0, 1),
    }
    import _common

    if args.quick:  # never overwrite benchmarks/results
        _common.RESULTS = out_dir
    path = _common.write_results("seesaw", figures)
    print(markdown(results))
    print("\nRow for the Results table of benchmarks/README.md:\n" + readme_row(results, figures["protocol"]))
    print(f"\nwrote {path}" + (f"\nnotebook: MTREC_SEESAW_RESULTS={path}" if args.quick else ""))
    print(
        f"fit seconds in these results: {figures['fit_seconds_total']:.0f} "
        f"(~{figures['fit_seconds_total'] / max(args.workers, 1) / 60:.1f} min of wall time with "
        f"{args.workers} workers); this invocation {figures['wall_seconds_this_invocation']:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
