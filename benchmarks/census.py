"""UCI Census-Income (KDD), the MMoE paper's real benchmark: every architecture, both task groups.

    .venv/bin/python benchmarks/census.py                        # everything: 72 fits, about an hour on one core
    .venv/bin/python benchmarks/census.py --workers 2 --runs-file /tmp/census_runs.jsonl   # two fits at a time
    .venv/bin/python benchmarks/census.py --no-deepctr --seeds 0 1 --groups 1
    .venv/bin/python benchmarks/census.py --quick                # smoke test: 20k rows, 1 seed, 2 epochs

Protocol (Ma et al., KDD 2018, section 6.3, with the sizes of the public implementations):

* data: ``mt.data.load_census_income()``: the 199,523 rows of ``census-income.data`` train;
  the 99,762 rows of ``census-income.test`` are split 1:1 by ``census.validation_test(seed=0)``
  into validation (early stopping, learning rate) and test (every reported AUC), 49,881 each.
  ``mt.data.census_tasks(frame, group)`` gives the tasks: group 1 ``income_50k`` (main) and
  ``never_married``; group 2 ``college`` (main) and ``never_married``; the label sources and
  ``instance_weight`` are not features. The 32 categorical columns are embedded (4 dimensions,
  as torch-rechub's census example), the 7 numeric ones standardised inside the model.
* models (``mt.MultiTaskLearning``, two binary tasks, towers of 8 units): MMoE and OMoE with
  8 experts of 16 units (PaddleRec's and torch-rechub's census configuration, the paper's
  synthetic sizes); the others sized to MMoE's parameter count (``ARCHITECTURES``;
  tests/test_census_experiment.py checks them within 5%): shared-bottom one hidden layer of
  130 units, single-task one network of 61 units per task (own embeddings), CGC 3
  task-specific + 2 shared experts of 16 units, PLE two such levels of 14-unit experts.
* training: Adam, batch 1024, at most ``--max-epochs`` epochs, early stopping on the summed
  validation loss with patience ``--patience`` (best weights restored). The learning rate is
  chosen per group for MMoE from ``--lr-grid`` by the main task's validation AUC (the paper's
  tuning objective; seed 0) and reused for every architecture of that group.
* figures: test AUC per task per seed; mean and standard deviation over seeds; parameters;
  wall time per fit. Side result: MMoE with the label-restating columns dropped
  (``census_tasks(..., drop_near_duplicates=True)``).
* throughput: on group 1, mtrec_lib's MMoE against DeepCTR 0.9.4's MMOE (same sizes, same
  parameter count, checked) in ``--rounds`` alternating rounds of ``--throughput-epochs``
  epochs, as benchmarks/mmoe_throughput.py does on the simulated shop (its DeepCTR
  interpreter, encoding and worker are reused): examples per second of each epoch after the
  first, the median over a round's epochs, the ratio of the two sides in the same round,
  the median ratio over rounds with min and max; the test AUC of both sides.

Every process runs TensorFlow on one thread (``--threads`` for the throughput stage), so the
figures do not depend on what else the machine runs. ``--runs-file`` appends each finished fit
as a JSON line and skips fits already recorded with the same settings, so an interrupted run
resumes. Writes ``benchmarks/results/census.json`` and prints rows for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

GROUPS = {1: ("income_50k", "never_married"), 2: ("college", "never_married")}
COMMON = {"embedding_dim": 4, "tower_units": (8,), "batch_size": 1024}
# MMoE / OMoE: PaddleRec's and torch-rechub's census sizes. The others match MMoE's 21,970
# parameters (group 1) within 5%: see the "params" figures in results/census.json.
ARCHITECTURES = {
    "single_task": {"bottom_units": (61,)},
    "shared_bottom": {"bottom_units": (130,)},
    "omoe": {"num_experts": 8, "expert_units": (16,)},
    "mmoe": {"num_experts": 8, "expert_units": (16,)},
    "cgc": {"num_specific_experts": 3, "num_shared_experts": 2, "expert_units": (16,)},
    "ple": {"num_specific_experts": 3, "num_shared_experts": 2, "expert_units": (14,), "num_levels": 2},
}

# ---------------------------------------------------------------------------- published
PAPER_SOURCE = (
    "Ma et al., KDD 2018 (doi:10.1145/3219819.3220007), section 6.3, Tables 1-2 (census groups 1 "
    "and 2); figures as transcribed in a public Chinese translation of the paper found through the "
    "code index (index id 58517126804; repository not named by the index), not checked against the "
    "PDF"
)
PUBLISHED = {
    "ma2018_paper": {
        "source": PAPER_SOURCE,
        "protocol": (
            "199,523 training rows; test file split 1:1 at random into validation and test; education and "
            "marital status (group 2) / income and marital status (group 1) removed from the features; "
            "hyper-parameters (learning rate, training steps, experts, units; at most 2,048 hidden units "
            "per layer, experts x units for MMoE) tuned by a Gaussian-process tuner over thousands of "
            "trials on the main task's validation AUC; then 400 runs with random initialisation; reported: "
            "mean AUC over the 400 runs and the AUCs of the run with the best main-task AUC. Model sizes "
            "and epochs for census are not given."
        ),
        "label_correlation": {
            "group1": 0.1768,
            "group2": 0.2373,
            "note": "absolute Pearson correlation of the two labels over 10,000 random rows",
        },
        "group1": {  # income (main), marital status (never married)
            "single_task": {
                "income_best": 0.9398,
                "income_mean": 0.9337,
                "marital_mean": 0.9933,
                "marital_at_best_income": 0.9922,
            },
            "shared_bottom": {
                "income_best": 0.9361,
                "income_mean": 0.9295,
                "marital_mean": 0.9915,
                "marital_at_best_income": 0.9921,
            },
            "l2_constrained": {
                "income_best": 0.9389,
                "income_mean": 0.9359,
                "marital_mean": 0.9922,
                "marital_at_best_income": 0.9918,
            },
            "cross_stitch": {
                "income_best": 0.9406,
                "income_mean": 0.9361,
                "marital_mean": 0.9917,
                "marital_at_best_income": 0.9922,
            },
            "tensor_factorization": {
                "income_best": 0.7460,
                "income_mean": 0.6765,
                "marital_mean": 0.8175,
                "marital_at_best_income": 0.8412,
            },
            "omoe": {
                "income_best": 0.9387,
                "income_mean": 0.9319,
                "marital_mean": 0.9928,
                "marital_at_best_income": 0.9923,
            },
            "mmoe": {
                "income_best": 0.9410,
                "income_mean": 0.9359,
                "marital_mean": 0.9926,
                "marital_at_best_income": 0.9927,
            },
        },
        "group2": {  # education at least college (main), marital status (never married)
            "single_task": {
                "education_best": 0.8843,
                "education_mean": 0.8792,
                "marital_mean": 0.9933,
                "marital_at_best_education": 0.9922,
            },
            "shared_bottom": {
                "education_best": 0.8836,
                "education_mean": 0.8813,
                "marital_mean": 0.9927,
                "marital_at_best_education": 0.9917,
            },
            "l2_constrained": {
                "education_best": 0.8855,
                "education_mean": 0.8823,
                "marital_mean": 0.9923,
                "marital_at_best_education": 0.9918,
            },
            "cross_stitch": {
                "education_best": 0.8855,
                "education_mean": 0.8819,
                "marital_mean": 0.9919,
                "marital_at_best_education": 0.9921,
            },
            "tensor_factorization": {
                "education_best": 0.7367,
                "education_mean": 0.7256,
                "marital_mean": 0.7453,
                "marital_at_best_education": 0.7497,
            },
            "omoe": {
                "education_best": 0.8852,
                "education_mean": 0.8813,
                "marital_mean": 0.9915,
                "marital_at_best_education": 0.9912,
            },
            "mmoe": {
                "education_best": 0.8860,
                "education_mean": 0.8826,
                "marital_mean": 0.9932,
                "marital_at_best_education": 0.9924,
            },
        },
    },
    "paddlerec_mmoe": {
        "source": (
            "PaddlePaddle/PaddleRec models/multitask/mmoe/README.md (commit 085f5a548ea6ecfbfba1c5f72068c83f8b04"
            "3198; also readme.md at 195ac5115abf3f9c527814edf443f73980a3c7f3)"
        ),
        "group1": {
            "mmoe": {"income_mean": 0.94465, "income_max": 0.94937, "marital_mean": 0.99324, "marital_max": 0.99419}
        },
        "protocol": (
            "MMoE 8 experts x 16 units, towers 8, Adam lr 1e-3 (config.yaml / config_bigdata.yaml "
            "hyper_parameters), batch 32; the README says 400 epochs, config_bigdata.yaml 100. Input: "
            "one-hot categoricals, 499 features. Test = half of the test file (pandas sample, "
            "random_state=1; the validation half is not used). Mean and max are over the test AUCs "
            "measured after every epoch of one run (the legacy train script's auc_income_list), so "
            "'max' is the best epoch chosen on the test set. The current README's table gives only "
            "auc_marital 0.99 (batch 32, 100 epochs)."
        ),
    },
    "torch_rechub": {
        "source": (
            "datawhalechina/torch-rechub examples/ranking/README.md (commit 1dcf493fbfe4f13f630e9fe098bf8c2c"
            "37685d70), script examples/ranking/run_census.py (commit 0d695c51288c9362d542f2732410c0806207d4a5)"
        ),
        "group1": {
            "shared_bottom": {"income": 0.9560, "marital": 0.9948},
            "mmoe": {"income": 0.9579, "marital": 0.9950},
            "ple_1_level": {"income": 0.9583, "marital": 0.9951},
            "ple_2_levels": {"income": 0.9593, "marital": 0.9950},
            "aitm": {"income": 0.9595, "marital": 0.9951},
        },
        "label_mapping": (
            "The README's prose says income is the CTR task and marital status the CVR task, but "
            "run_census.py renames income -> cvr_label and marital status -> ctr_label; the table's "
            "'Census-Income(CVR)' column (0.956-0.960) is therefore income and '(CTR)' (0.995) is "
            "marital status, which the magnitudes confirm."
        ),
        "protocol": (
            "One run each (seed 2022), no spread reported. Embeddings of 4 per categorical column, "
            "MinMax-scaled numerics; MMoE 8 experts x 16, towers 8; shared-bottom bottom 117 units; PLE "
            "2 specific + 1 shared experts of 16; Adam lr 1e-3, weight decay 1e-4, batch 1024, up to "
            "100 epochs (the script's default is 1) with early stopping patience 30 on validation; the "
            "test file split 1:1 by train_test_split stratified by income, without a seed."
        ),
    },
    "drawbridge_keras_mmoe": {
        "source": "drawbridge/keras-mmoe census_income_demo.py (commit 5532ffb3ed6bccf4a0eae9d189fa0d661357425f)",
        "figures": None,
        "protocol": (
            "Reports no AUCs (README is one line; the demo prints train/validation/test AUC per epoch). "
            "MMoE 8 experts x 4 units, towers 8, one-hot input, Adam defaults, batch 32, 100 epochs; "
            "test file split 1:1 with random_state=1."
        ),
    },
    "deepctr_example": {
        "source": "shenweichen/DeepCTR examples/run_mtl.py (commit 986636374bc5bc924840ba66892c72ff73e00a0e)",
        "figures": None,
        "protocol": ("Runs MMOE on the 200-line census-income.sample with an 80/20 split; publishes no AUCs."),
    },
}


# ---------------------------------------------------------------------------- one fit
_DATA: dict = {}


def _init_worker(threads: int = 1) -> None:
    """One TensorFlow thread per process (before TF does anything), as task_correlation.py does."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def frames(group: int, drop: bool, train_rows: int | None):
    """(train, validation, test) task frames of one group, cached per process."""
    import mtrec_lib as mt

    key = (group, drop, train_rows)
    if key not in _DATA:
        if "census" not in _DATA:
            census = mt.data.load_census_income(progress=False)
            _DATA["census"] = census
            _DATA["halves"] = census.validation_test(seed=0)
        census, (val, test) = _DATA["census"], _DATA["halves"]
        train = census.train if not train_rows else census.train.sample(train_rows, random_state=0).sort_index()
        _DATA[key] = tuple(mt.data.census_tasks(f, group=group, drop_near_duplicates=drop) for f in (train, val, test))
    return _DATA[key]


def hyperparameters(arch: str, lr: float, args_like: dict) -> dict:
    return {
        **COMMON,
        **ARCHITECTURES[arch],
        "learning_rate": lr,
        "epochs": args_like["max_epochs"],
        "patience": args_like["patience"],
    }


def binary_metrics(model, frames: dict, tasks) -> dict:
    """``{<frame>_auc_<task>, <frame>_logloss_<task>}`` of a fitted model on each named frame."""
    out = {}
    for name, frame in frames.items():
        res = model.evaluate(frame)
        for t in tasks:
            out[f"{name}_auc_{t}"] = float(res[f"{t}_auc"])
            out[f"{name}_logloss_{t}"] = float(res[f"{t}_logloss"])
    return out


def run_one(job: dict) -> dict:
    """Train one architecture on one group with one seed; validation and test AUC per task."""
    import numpy as np

    import mtrec_lib as mt

    group, arch, seed, lr, drop = job["group"], job["arch"], job["seed"], job["lr"], job["drop"]
    train, val, test = frames(group, drop, job["train_rows"])
    tasks = {t: "binary" for t in GROUPS[group]}
    wall = time.perf_counter()
    model = mt.MultiTaskLearning(tasks=tasks, architecture=arch, seed=seed, **hyperparameters(arch, lr, job))
    model.fit(train, validation_data=val, verbose=0)
    out = {k: job[k] for k in ("group", "arch", "seed", "lr", "drop", "signature")}
    out.update(binary_metrics(model, {"val": val, "test": test}, tasks))
    hist = model.history_
    val_loss = hist.get("val_loss", [])
    out.update(
        {
            "params": int(model.count_params()),
            "epochs_run": len(hist.get("loss", [])),
            "best_epoch": int(np.argmin(val_loss)) + 1 if val_loss else None,
            "fit_seconds": float(model.fit_seconds_),
            "wall_seconds": time.perf_counter() - wall,
            "train_rows": len(train),
        }
    )
    return out


def _key(r: dict) -> tuple:
    return r["signature"], r["group"], r["arch"], r["seed"], float(r["lr"]), bool(r["drop"])


def run_jobs(jobs: list[dict], workers: int, done: dict, runs_file: Path | None) -> None:
    """Run the jobs not in ``done`` (in place), print one line each, append to ``runs_file``."""
    todo = [j for j in jobs if _key(j) not in done]
    if not todo:
        return
    start = time.perf_counter()
    print(f"  {len(todo)} fits ({len(jobs) - len(todo)} already recorded), {workers} worker(s) ...", flush=True)
    # spawn: this process may already hold TensorFlow's thread pools, which a fork would copy
    with ProcessPoolExecutor(
        max_workers=workers, initializer=_init_worker, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        for i, r in enumerate(pool.map(run_one, todo), 1):
            done[_key(r)] = r
            tasks = GROUPS[r["group"]]
            elapsed = time.perf_counter() - start
            print(
                f"  [{i}/{len(todo)}] group {r['group']} {r['arch']:<13} seed {r['seed']} lr {r['lr']:g}"
                f"{' drop' if r['drop'] else ''}: test AUC "
                + " / ".join(f"{r[f'test_auc_{t}']:.4f}" for t in tasks)
                + f", {r['params']:,} params, {r['epochs_run']} epochs, fit {r['fit_seconds']:.0f} s"
                f" (elapsed {elapsed / 60:.1f} min, ~{elapsed / i * (len(todo) - i) / 60:.1f} min left)",
                flush=True,
            )
            if runs_file is not None:
                with runs_file.open("a") as fh:
                    fh.write(json.dumps(r) + "\n")


# ---------------------------------------------------------------------------- summaries
def _stats(values: list[float]) -> dict:
    return {
        "mean": round(statistics.fmean(values), 4),
        "sd": round(statistics.stdev(values), 4) if len(values) > 1 else None,
        "per_seed": [round(v, 4) for v in values],
    }


def summarise(runs: list[dict], group: int, arch: str, seeds: list[int], lr: float, drop: bool = False) -> dict:
    rows = sorted(
        (
            r
            for r in runs
            if r["group"] == group
            and r["arch"] == arch
            and float(r["lr"]) == lr
            and bool(r["drop"]) == drop
            and r["seed"] in seeds
        ),
        key=lambda r: r["seed"],
    )
    out = {
        "seeds": [r["seed"] for r in rows],
        "params": rows[0]["params"],
        "hyperparameters": {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in {**COMMON, **ARCHITECTURES[arch], "learning_rate": lr}.items()
        },
        "epochs_run": [r["epochs_run"] for r in rows],
        "best_epoch": [r["best_epoch"] for r in rows],
        "fit_seconds": [round(r["fit_seconds"], 1) for r in rows],
        "fit_seconds_mean": round(statistics.fmean(r["fit_seconds"] for r in rows), 1),
    }
    for t in GROUPS[group]:
        out[t] = {
            "test_auc": _stats([r[f"test_auc_{t}"] for r in rows]),
            "val_auc": _stats([r[f"val_auc_{t}"] for r in rows]),
        }
    return out


def spread(models: dict, group: int) -> dict:
    """How far apart the architectures' mean AUCs are, against the seed-to-seed spread."""
    out = {}
    for t in GROUPS[group]:
        means = {a: m[t]["test_auc"]["mean"] for a, m in models.items()}
        sds = [m[t]["test_auc"]["sd"] for m in models.values() if m[t]["test_auc"]["sd"] is not None]
        best, worst = max(means, key=means.get), min(means, key=means.get)
        out[t] = {
            "best": best,
            "worst": worst,
            "range_of_means": round(means[best] - means[worst], 4),
            "mean_seed_sd": round(statistics.fmean(sds), 4) if sds else None,
            "mmoe_minus_single_task": round(means["mmoe"] - means["single_task"], 4)
            if {"mmoe", "single_task"} <= means.keys()
            else None,
            "mmoe_minus_shared_bottom": round(means["mmoe"] - means["shared_bottom"], 4)
            if {"mmoe", "shared_bottom"} <= means.keys()
            else None,
        }
    return out


# ---------------------------------------------------------------------------- throughput
def throughput(args, lr: float) -> dict:
    """Alternate rounds of mtrec_lib's MMoE and DeepCTR's MMOE on group 1 (see the module docstring)."""
    import mmoe_throughput as mtp

    tasks = GROUPS[1]
    train, _, test = frames(1, False, args.train_rows)
    sizes = {
        "num_experts": 8,
        "expert_units": 16,
        "tower_units": 8,
        "embedding_dim": COMMON["embedding_dim"],
        "batch_size": COMMON["batch_size"],
        "learning_rate": lr,
        "l2_embedding": 1e-4,
        "threads": args.threads,
    }
    out = {
        "group": 1,
        "sizes": sizes,
        "epochs": args.throughput_epochs,
        "rounds": args.rounds,
        "train_rows": len(train),
        "test_rows": len(test),
    }
    try:
        python = args.deepctr_python or mtp.deepctr_python()
        out["deepctr_env"] = mtp.deepctr_versions(python)
    except Exception as exc:  # noqa: BLE001 -- recorded in the results, the rest still runs
        out["deepctr_error"] = f"could not make or run the DeepCTR interpreter: {type(exc).__name__}: {exc}"
        print("  " + out["deepctr_error"], flush=True)
        return out
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "census.npz"
        mtp.encode_for_deepctr(train, test, npz, labels=tasks)
        for r in range(args.rounds):
            print(f"  throughput round {r + 1}/{args.rounds}: mtrec_lib MMoE, then DeepCTR MMOE ...", flush=True)
            ours.append(mtp.run_ours(train, test, args.throughput_epochs, r, sizes, tasks=tasks))
            try:
                theirs.append(mtp.run_deepctr(python, npz, args.throughput_epochs, r, sizes))
            except RuntimeError as exc:
                out["deepctr_error"] = str(exc)[-2000:]
                print("  DeepCTR failed: " + out["deepctr_error"][-500:], flush=True)
                break
    out["mtrec_params"] = ours[0]["params"]
    if not theirs:
        return out
    out["deepctr_params"] = theirs[0]["params"]
    out["params_equal"] = ours[0]["params"] == theirs[0]["params"]

    def speed(run):  # examples per second: median epoch after the first (tracing) one
        return len(train) / statistics.median(run["epoch_seconds"][1:])

    ratios = [speed(a) / speed(b) for a, b in zip(ours, theirs)]
    out.update(
        {
            "mtrec_examples_per_second": round(statistics.median(speed(r) for r in ours)),
            "deepctr_examples_per_second": round(statistics.median(speed(r) for r in theirs)),
            "throughput_ratio_median": round(statistics.median(ratios), 3),
            "throughput_ratio_min": round(min(ratios), 3),
            "throughput_ratio_max": round(max(ratios), 3),
            "throughput_ratio_per_round": [round(x, 3) for x in ratios],
            "mtrec_epoch_seconds": [[round(s, 3) for s in r["epoch_seconds"]] for r in ours],
            "deepctr_epoch_seconds": [[round(s, 3) for s in r["epoch_seconds"]] for r in theirs],
        }
    )
    for side, runs in (("mtrec", ours), ("deepctr", theirs[: len(ours)])):
        for t in tasks:
            out[f"{side}_{t}_auc"] = _stats([r[f"{t}_auc"] for r in runs])
    return out


# ---------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--groups", type=int, nargs="+", choices=[1, 2], default=[1, 2])
    ap.add_argument("--archs", nargs="+", choices=list(ARCHITECTURES), default=list(ARCHITECTURES))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--lr-grid", type=float, nargs="+", default=[1e-3, 3e-3])
    ap.add_argument("--max-epochs", type=int, default=30)
    ap.add_argument("--patience", type=int, default=2)
    ap.add_argument("--train-rows", type=int, default=None, help="subsample the training file (smoke tests)")
    ap.add_argument("--workers", type=int, default=1, help="parallel fits, one TensorFlow thread each")
    ap.add_argument("--runs-file", type=Path, default=None, help="append finished fits here; resume from it")
    ap.add_argument("--no-near-duplicates", action="store_true", help="skip the side run without them")
    ap.add_argument("--no-deepctr", action="store_true", help="skip the throughput comparison")
    ap.add_argument("--deepctr-python", default=os.environ.get("MTREC_BENCH_PYTHON"))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--throughput-epochs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1, help="TensorFlow threads of both sides in the throughput stage")
    ap.add_argument("--quick", action="store_true", help="smoke test: 20,000 rows, seed 0, 2 epochs, 2 rounds")
    args = ap.parse_args()
    if args.quick:
        args.train_rows, args.seeds, args.max_epochs = args.train_rows or 20_000, [0], 2
        args.rounds, args.throughput_epochs = 2, 2
    if args.rounds < 2 or args.throughput_epochs < 2:
        ap.error("--rounds and --throughput-epochs must be at least 2 (the first epoch is not timed)")
    _init_worker(args.threads)  # this process's own TensorFlow (throughput stage), before anything else

    from _common import write_results

    signature = json.dumps(
        {
            "common": COMMON,
            "archs": ARCHITECTURES,
            "max_epochs": args.max_epochs,
            "patience": args.patience,
            "train_rows": args.train_rows,
        },
        sort_keys=True,
    )
    base = {
        "signature": signature,
        "max_epochs": args.max_epochs,
        "patience": args.patience,
        "train_rows": args.train_rows,
    }
    done: dict = {}
    if args.runs_file is not None and args.runs_file.exists():
        for line in args.runs_file.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r.get("signature") == signature:
                    done[_key(r)] = r
    t0 = time.perf_counter()

    # 1. learning rate: MMoE, seed 0, per group, by the main task's validation AUC
    print(f"learning rate: MMoE, seed {args.seeds[0]}, grid {args.lr_grid} ...", flush=True)
    lr_jobs = [
        {**base, "group": g, "arch": "mmoe", "seed": args.seeds[0], "lr": lr, "drop": False}
        for g in args.groups
        for lr in args.lr_grid
    ]
    run_jobs(lr_jobs, args.workers, done, args.runs_file)
    chosen, lr_table = {}, {}
    for g in args.groups:
        main_task = GROUPS[g][0]
        scores = {lr: done[_key(j)][f"val_auc_{main_task}"] for j in lr_jobs if j["group"] == g for lr in [j["lr"]]}
        chosen[g] = max(scores, key=scores.get)
        lr_table[f"group{g}"] = {
            "validation_auc_" + main_task: {f"{k:g}": round(v, 4) for k, v in scores.items()},
            "chosen": chosen[g],
        }
        print(f"  group {g}: validation AUC of {main_task} {lr_table[f'group{g}']} -> lr {chosen[g]:g}", flush=True)

    # 2. every architecture, every seed (seed-major, so an interrupted run holds whole seeds)
    print("architectures ...", flush=True)
    jobs = [
        {**base, "group": g, "arch": a, "seed": s, "lr": chosen[g], "drop": False}
        for s in args.seeds
        for g in args.groups
        for a in args.archs
    ]
    if not args.no_near_duplicates:  # 3. side result: MMoE without the label-restating columns
        jobs += [
            {**base, "group": g, "arch": "mmoe", "seed": s, "lr": chosen[g], "drop": True}
            for s in args.seeds
            for g in args.groups
        ]
    run_jobs(jobs, args.workers, done, args.runs_file)
    runs = list(done.values())

    results, near_dup = {}, {}
    for g in args.groups:
        models = {a: summarise(runs, g, a, args.seeds, chosen[g]) for a in args.archs}
        results[f"group{g}"] = {
            "tasks": list(GROUPS[g]),
            "main_task": GROUPS[g][0],
            "learning_rate": chosen[g],
            "models": models,
            "spread": spread(models, g),
        }
        if not args.no_near_duplicates:
            import mtrec_lib.data.census as census_module

            near_dup[f"group{g}"] = {
                "dropped_columns": census_module.NEAR_DUPLICATES[g],
                "mmoe": summarise(runs, g, "mmoe", args.seeds, chosen[g], drop=True),
            }

    # 4. throughput against DeepCTR
    tp = None
    if not args.no_deepctr:
        lr1 = chosen.get(1, args.lr_grid[0])
        print("throughput against DeepCTR 0.9.4 (group 1) ...", flush=True)
        tp = throughput(args, lr1)

    import keras
    import tensorflow as tf

    import mtrec_lib as mt

    census = mt.data.load_census_income(progress=False)
    val, test = census.validation_test(seed=0)
    correlations = {}
    for g in args.groups:
        a, b = GROUPS[g]
        f = mt.data.census_tasks(census.train, group=g)
        correlations[f"group{g}"] = {
            "train": round(float(f[a].corr(f[b])), 4),
            "label_rates_train": {t: round(float(f[t].mean()), 4) for t in (a, b)},
        }
    figures = {
        "protocol": {
            "data": (
                "UCI Census-Income (KDD) via mt.data.load_census_income(): census-income.data trains "
                f"({len(census.train):,} rows"
                + (f", subsampled to {args.train_rows:,}" if args.train_rows else "")
                + f"); census-income.test split by validation_test(seed=0) into validation ({len(val):,}) and "
                f"test ({len(test):,}); tasks from mt.data.census_tasks(frame, group)"
            ),
            "groups": {f"group{g}": list(GROUPS[g]) for g in args.groups},
            "architectures": {
                a: {k: (list(v) if isinstance(v, tuple) else v) for k, v in hp.items()}
                for a, hp in ARCHITECTURES.items()
                if a in args.archs
            },
            "common": {k: (list(v) if isinstance(v, tuple) else v) for k, v in COMMON.items()},
            "training": (
                f"Adam, batch {COMMON['batch_size']}, at most {args.max_epochs} epochs, early stopping on "
                f"the summed validation loss, patience {args.patience}, best weights restored; L2 1e-4 on "
                "embeddings; one TensorFlow thread per fit"
            ),
            "learning_rate": (
                f"per group, MMoE seed {args.seeds[0]}, grid {args.lr_grid}, chosen by the main task's "
                "validation AUC and reused for every architecture"
            ),
            "seeds": args.seeds,
            "workers": args.workers,
            "metric": "test AUC per task (sklearn-equivalent ROC AUC on the test half), mean and sd over seeds",
        },
        "learning_rate_selection": lr_table,
        "label_correlation": correlations,
        "results": results,
        "near_duplicates_dropped": near_dup or None,
        "throughput_vs_deepctr": tp,
        "published": PUBLISHED,
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "wall_seconds_this_invocation": round(time.perf_counter() - t0),
    }
    path = write_results("census", figures)
    print(json.dumps(results, indent=1)[:3000])
    print(f"wrote {path.relative_to(ROOT)}")
    print_markdown(figures, args)


def print_markdown(f: dict, args) -> None:
    print("\n| group | model | params | " + " | ".join(["task 1 test AUC", "task 2 test AUC"]) + " | epochs | fit s |")
    print("|---|---|---|---|---|---|---|")
    for gname, g in f["results"].items():
        for a, m in g["models"].items():
            aucs = [f"{t} {m[t]['test_auc']['mean']:.4f} ± {m[t]['test_auc']['sd'] or 0:.4f}" for t in g["tasks"]]
            print(
                f"| {gname} | {a} | {m['params']:,} | "
                + " | ".join(aucs)
                + f" | {statistics.median(m['epochs_run']):.0f} | {m['fit_seconds_mean']:.0f} |"
            )
    tp = f.get("throughput_vs_deepctr")
    if tp and "throughput_ratio_median" in tp:
        print(
            f"\nthroughput (group 1, {tp['mtrec_params']:,} vs {tp['deepctr_params']:,} parameters): "
            f"{tp['mtrec_examples_per_second']:,} vs {tp['deepctr_examples_per_second']:,} ex/s, ratio "
            f"{tp['throughput_ratio_median']:.2f} ({tp['throughput_ratio_min']:.2f}-{tp['throughput_ratio_max']:.2f})"
        )
    elif tp:
        print(f"\nthroughput: {tp.get('deepctr_error')}")


if __name__ == "__main__":
    main()
