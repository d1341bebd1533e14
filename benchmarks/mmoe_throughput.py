"""Training throughput of mtrec_lib's MMoE against DeepCTR's MMOE, same data, same sizes.

    python benchmarks/mmoe_throughput.py                       # both sizes, 10 epochs, 6 rounds
    python benchmarks/mmoe_throughput.py --sizes small --epochs 6 --rounds 2
    python benchmarks/mmoe_throughput.py --deepctr-python /path/to/python

Both models train on the same simulated shop log (``mt.data.simulate_shop(2000, 500,
200_000, seed=0)``: the first 80,000 impressions by time train, the last 80,000 test),
with the same architecture, in two sizes (``SIZES``): *small* is 4 experts of 16 units,
towers of 8, embeddings of 8, batch 512 (the DeepCTR defaults scaled down to this log);
*large* is 8 experts of 64, towers of 32, embeddings of 16, batch 1024. Gates are linear
softmax without bias, L2 1e-4 on the embeddings, Adam 3e-3. The two sides have the same
parameter count (checked). Each side trains ``--epochs`` epochs per round, in ``--rounds``
alternating rounds so that load from other processes hits both; round ``r`` seeds both
models with ``seed + r``.

An epoch's throughput is training rows / wall seconds of that epoch. A round's figure is
the median over its epochs except the first (which pays for graph tracing), and the
reported ratio is the median over rounds of ours / DeepCTR in the same round (with the
lowest and highest round). The test AUC per task is the mean over rounds with its
standard deviation (the test log has about 800 clicks and 40 purchases, so one run's
purchase AUC moves by a few points from seed to seed).

DeepCTR needs legacy Keras 2 (``tf-keras``), so it runs in a separate interpreter as a
subprocess with ``TF_USE_LEGACY_KERAS=1``. Without ``--deepctr-python`` the script makes
that interpreter itself, once: a venv in ``benchmarks/.deepctr-venv`` that sees this
environment's TensorFlow (a ``.pth`` file) and gets ``deepctr==0.9.4 tf-keras==2.21.0``
from PyPI. DeepCTR receives label-encoded ids and standardised numbers prepared here;
mtrec_lib's estimator does its lookups and scaling inside the model.

Writes ``benchmarks/results/mmoe_throughput.json`` and prints markdown rows for
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LABELS = ("click", "purchase")
DROP = ("timestamp", "day")  # calendar position of the row; not a feature for a temporal split
COMMON = dict(learning_rate=3e-3, l2_embedding=1e-4)
SIZES = {
    "small": dict(num_experts=4, expert_units=16, tower_units=8, embedding_dim=8, batch_size=512, **COMMON),
    "large": dict(num_experts=8, expert_units=64, tower_units=32, embedding_dim=16, batch_size=1024, **COMMON),
}
DEEPCTR_VENV = HERE / ".deepctr-venv"
DEEPCTR_PINS = ("deepctr==0.9.4", "tf-keras==2.21.0")


# --------------------------------------------------------------------------- DeepCTR worker
def deepctr_worker(npz_path: str, epochs: int, seed: int, sizes: dict) -> None:
    """Runs inside the DeepCTR interpreter: train, time epochs, print one JSON line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf
    from deepctr.feature_column import DenseFeat, SparseFeat
    from deepctr.models.multitask import MMOE
    from sklearn.metrics import roc_auc_score

    if sizes.get("threads"):  # e.g. benchmarks/census.py runs both sides on one thread
        tf.config.threading.set_intra_op_parallelism_threads(int(sizes["threads"]))
        tf.config.threading.set_inter_op_parallelism_threads(int(sizes["threads"]))
    tf.keras.utils.set_random_seed(seed)
    d = np.load(npz_path, allow_pickle=False)
    labels = [str(t) for t in d["labels"]] if "labels" in d.files else list(LABELS)
    cat_cols = [str(c) for c in d["cat_cols"]]
    num_cols = [str(c) for c in d["num_cols"]]
    vocab = [int(v) for v in d["vocab"]]
    cols = [SparseFeat(c, vocabulary_size=v, embedding_dim=sizes["embedding_dim"]) for c, v in zip(cat_cols, vocab)] + [
        DenseFeat(c, 1) for c in num_cols
    ]

    def inputs(prefix):
        x = {c: d[f"{prefix}_cat"][:, i] for i, c in enumerate(cat_cols)}
        x.update({c: d[f"{prefix}_num"][:, i] for i, c in enumerate(num_cols)})
        return x

    model = MMOE(
        cols,
        num_experts=sizes["num_experts"],
        expert_dnn_hidden_units=(sizes["expert_units"],),
        tower_dnn_hidden_units=(sizes["tower_units"],),
        gate_dnn_hidden_units=(),
        l2_reg_embedding=sizes["l2_embedding"],
        task_types=["binary"] * len(labels),
        task_names=labels,
        seed=seed,
    )
    model.compile(tf.keras.optimizers.Adam(sizes["learning_rate"]), loss=["binary_crossentropy"] * len(labels))
    times: list[float] = []

    class Timer(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    y_train = [d["train_y"][:, k] for k in range(len(labels))]
    model.fit(
        inputs("train"),
        y_train,
        batch_size=sizes["batch_size"],
        epochs=epochs,
        shuffle=True,
        verbose=0,
        callbacks=[Timer()],
    )
    pred = model.predict(inputs("test"), batch_size=4096, verbose=0)
    auc = {
        f"{t}_auc": float(roc_auc_score(d["test_y"][:, k], np.asarray(pred[k]).ravel())) for k, t in enumerate(labels)
    }
    print(
        "DEEPCTR_RESULT " + json.dumps({"epoch_seconds": times, **auc, "params": int(model.count_params())}), flush=True
    )


# --------------------------------------------------------------------------- our side
def make_data(seed: int):
    import mtrec_lib as mt

    # 200k impressions of one simulated world: the first 80k (by time) train, the last 80k
    # test. A large test log keeps the purchase AUC (0.2% positives) from being mostly noise.
    shop = mt.data.simulate_shop(n_users=2000, n_items=500, n_impressions=200_000, seed=seed)
    log = shop.data.sort_values("timestamp", kind="stable").drop(columns=list(DROP))
    return log.iloc[:80_000], log.iloc[-80_000:]


def encode_for_deepctr(train, test, path: Path, labels=LABELS) -> None:
    """Label-encode categoricals (0 = unseen) and standardise numbers with train statistics.

    ``labels`` are the binary label columns (stored in the file, so the worker trains one
    task per label); every other column is a feature.
    """
    import numpy as np
    import pandas as pd

    labels = list(labels)
    feats = [c for c in train.columns if c not in labels]
    cat_cols = [c for c in feats if c.endswith("_id") or not pd.api.types.is_numeric_dtype(train[c])]
    num_cols = [c for c in feats if c not in cat_cols]
    vocab, tr_cat, te_cat = [], [], []
    for c in cat_cols:
        values = pd.Index(pd.unique(train[c].astype(str))).sort_values()
        tr_cat.append(values.get_indexer(train[c].astype(str)) + 1)
        te_cat.append(np.maximum(values.get_indexer(test[c].astype(str)) + 1, 0))
        vocab.append(len(values) + 1)
    mu, sd = train[num_cols].mean(), train[num_cols].std(ddof=0).replace(0, 1)
    np.savez(
        path,
        cat_cols=np.array(cat_cols),
        num_cols=np.array(num_cols),
        vocab=np.array(vocab),
        train_cat=np.stack(tr_cat, 1),
        test_cat=np.stack(te_cat, 1),
        train_num=((train[num_cols] - mu) / sd).to_numpy("float32"),
        test_num=((test[num_cols] - mu) / sd).to_numpy("float32"),
        train_y=train[labels].to_numpy("float32"),
        test_y=test[labels].to_numpy("float32"),
        labels=np.array(labels),
    )


def run_ours(train, test, epochs: int, seed: int, sizes: dict, tasks: tuple = LABELS) -> dict:
    """Train mtrec_lib's MMoE on ``tasks`` (binary), timing each epoch; AUC per task on ``test``."""
    import keras

    import mtrec_lib as mt

    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    # "threads" is for the DeepCTR worker; this process sets its own thread count.
    hp = {k: v for k, v in sizes.items() if k not in ("tower_units", "threads")}
    model = mt.MultiTaskLearning(
        tasks={t: "binary" for t in tasks}, architecture="mmoe", seed=seed, tower_units=(sizes["tower_units"],), **hp
    )
    model.fit(train, epochs=epochs, verbose=0, callbacks=[Timer()])
    res = model.evaluate(test)
    return {"epoch_seconds": times, **{f"{t}_auc": res[f"{t}_auc"] for t in tasks}, "params": model.count_params()}


def run_deepctr(python: str, npz: Path, epochs: int, seed: int, sizes: dict) -> dict:
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [
            python,
            str(Path(__file__).resolve()),
            "--deepctr-worker",
            str(npz),
            "--epochs",
            str(epochs),
            "--seed",
            str(seed),
            "--worker-sizes",
            json.dumps(sizes),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    for line in proc.stdout.splitlines():
        if line.startswith("DEEPCTR_RESULT "):
            return json.loads(line.split(" ", 1)[1])
    raise RuntimeError(f"DeepCTR worker failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def deepctr_versions(python: str) -> dict:
    code = (
        "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
        "('deepctr', 'tf-keras', 'tensorflow')}))"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def deepctr_python() -> str:
    """The interpreter of ``benchmarks/.deepctr-venv``, made on first use (needs PyPI)."""
    python = DEEPCTR_VENV / "bin" / "python"
    if not python.exists():
        import sysconfig
        import venv

        print(f"making {DEEPCTR_VENV.relative_to(ROOT)} with {' '.join(DEEPCTR_PINS)} ...", flush=True)
        venv.create(DEEPCTR_VENV, with_pip=True)
        # The new venv sees this environment's packages (TensorFlow 2.21, scikit-learn)
        # through a .pth file, so only DeepCTR and tf-keras are downloaded.
        purelib = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        Path(purelib, "_mtrec_main_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *DEEPCTR_PINS], check=True)
    return str(python)


def compare(name: str, sizes: dict, train, test, npz: Path, args) -> dict:
    """Alternate ``args.rounds`` rounds of ours and DeepCTR at one size; the figures."""
    ours, theirs = [], []
    for r in range(args.rounds):
        print(f"{name} round {r + 1}/{args.rounds}: mtrec_lib MMoE, then DeepCTR MMOE ...", flush=True)
        ours.append(run_ours(train, test, args.epochs, args.seed + r, sizes))
        theirs.append(run_deepctr(args.python, npz, args.epochs, args.seed + r, sizes))
    if ours[0]["params"] != theirs[0]["params"]:
        raise RuntimeError(
            f"{name}: parameter counts differ ({ours[0]['params']} vs {theirs[0]['params']}); "
            "the two models are not the same architecture."
        )

    def throughput(run):  # median epoch after the first (tracing) epoch
        return len(train) / statistics.median(run["epoch_seconds"][1:])

    ratios = [throughput(a) / throughput(b) for a, b in zip(ours, theirs)]

    def auc(runs, task):
        values = [r[f"{task}_auc"] for r in runs]
        return {
            "mean": round(statistics.fmean(values), 4),
            "sd": round(statistics.stdev(values), 4),
            "per_round": [round(v, 4) for v in values],
        }

    return {
        "sizes": sizes,
        "params": ours[0]["params"],
        "mtrec_examples_per_second": round(statistics.median(throughput(r) for r in ours)),
        "deepctr_examples_per_second": round(statistics.median(throughput(r) for r in theirs)),
        "throughput_ratio_median": round(statistics.median(ratios), 3),
        "throughput_ratio_min": round(min(ratios), 3),
        "throughput_ratio_max": round(max(ratios), 3),
        "throughput_ratio_per_round": [round(x, 3) for x in ratios],
        "mtrec_epoch_seconds": [[round(s, 3) for s in r["epoch_seconds"]] for r in ours],
        "deepctr_epoch_seconds": [[round(s, 3) for s in r["epoch_seconds"]] for r in theirs],
        **{
            f"{side}_{task}_auc": auc(runs, task)
            for side, runs in (("mtrec", ours), ("deepctr", theirs))
            for task in LABELS
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--deepctr-python",
        default=os.environ.get("MTREC_BENCH_PYTHON"),
        help="an interpreter with deepctr 0.9.4 and tf-keras (default: make benchmarks/.deepctr-venv)",
    )
    ap.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=list(SIZES))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--deepctr-worker", metavar="NPZ", help=argparse.SUPPRESS)
    ap.add_argument("--worker-sizes", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.deepctr_worker:
        deepctr_worker(args.deepctr_worker, args.epochs, args.seed, json.loads(args.worker_sizes))
        return
    if args.rounds < 2 or args.epochs < 2:
        ap.error("--rounds and --epochs must be at least 2 (the first epoch of each run is not timed)")
    args.python = args.deepctr_python or deepctr_python()

    sys.path.insert(0, str(HERE))
    import keras
    import tensorflow as tf
    from _common import write_results

    train, test = make_data(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "shop.npz"
        encode_for_deepctr(train, test, npz)
        results = {name: compare(name, SIZES[name], train, test, npz, args) for name in args.sizes}
    figures = {
        "train_rows": len(train),
        "test_rows": len(test),
        "epochs": args.epochs,
        "rounds": args.rounds,
        "results": results,
        "versions": {
            "mtrec": {"tensorflow": tf.__version__, "keras": keras.__version__},
            "deepctr_env": deepctr_versions(args.python),
        },
    }
    path = write_results("mmoe_throughput", figures)
    print(json.dumps(figures, indent=1))
    print(f"wrote {path.relative_to(ROOT)}")
    print(
        "\n| size | ours (examples/s) | DeepCTR 0.9.4 (examples/s) | ratio: median over rounds (min-max) "
        "| click AUC ours / DeepCTR | purchase AUC ours / DeepCTR |"
    )
    print("|---|---|---|---|---|---|")

    def auc(f, side, task):
        a = f[f"{side}_{task}_auc"]
        return f"{a['mean']:.3f} ± {a['sd']:.3f}"

    for name, f in results.items():
        print(
            f"| {name} ({f['params']:,} parameters) | {f['mtrec_examples_per_second']:,} "
            f"| {f['deepctr_examples_per_second']:,} | {f['throughput_ratio_median']:.2f} "
            f"({f['throughput_ratio_min']:.2f}-{f['throughput_ratio_max']:.2f}) "
            f"| {auc(f, 'mtrec', 'click')} / {auc(f, 'deepctr', 'click')} "
            f"| {auc(f, 'mtrec', 'purchase')} / {auc(f, 'deepctr', 'purchase')} |"
        )


if __name__ == "__main__":
    main()
