"""Training throughput of mtrec_lib's MMoE against DeepCTR's MMOE, same data, same sizes.

    python benchmarks/mmoe_throughput.py                      # DeepCTR from /work/bench-venv
    python benchmarks/mmoe_throughput.py --deepctr-python /path/to/python --epochs 6 --rounds 2

Both models train on the same simulated shop log (``mt.data.simulate_shop(2000, 500,
200_000, seed=0)``: the first 80,000 impressions by time train, the last 80,000 test),
with the same architecture: 4 experts of 16
units, linear softmax gates without bias, towers of 8 units, embedding dimension 8, L2
1e-4 on the embeddings, Adam 3e-3, batch 512. Each side trains ``--epochs`` epochs, in
``--rounds`` alternating rounds so that load from other processes hits both; an epoch's
throughput is training rows / wall seconds of that epoch, and the figure is the median
over all epochs except each run's first (which pays for graph tracing). Round ``r`` seeds
both models with ``seed + r``; the test AUC per task is the mean over rounds (the test
log has about 800 clicks and 40 purchases, so one run's purchase AUC moves by a few
points from seed to seed even on this test log).

DeepCTR needs legacy Keras 2 (``tf-keras``), so it runs in a separate interpreter as a
subprocess with ``TF_USE_LEGACY_KERAS=1``: ``pip install deepctr==0.9.4 tf-keras==2.21.0``
into a venv that can also import TensorFlow 2.21. DeepCTR receives label-encoded ids and
standardised numbers prepared here; mtrec_lib's estimator does its lookups and scaling
inside the model (so it does strictly more work per batch).

Writes ``benchmarks/results/mmoe_throughput.json`` and prints a markdown row for
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
SIZES = dict(num_experts=4, expert_units=16, tower_units=8, embedding_dim=8, batch_size=512,
             learning_rate=3e-3, l2_embedding=1e-4)


# --------------------------------------------------------------------------- DeepCTR worker
def deepctr_worker(npz_path: str, epochs: int, seed: int) -> None:
    """Runs inside the DeepCTR interpreter: train, time epochs, print one JSON line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf
    from deepctr.feature_column import DenseFeat, SparseFeat
    from deepctr.models.multitask import MMOE
    from sklearn.metrics import roc_auc_score

    tf.keras.utils.set_random_seed(seed)
    d = np.load(npz_path, allow_pickle=False)
    cat_cols = [str(c) for c in d["cat_cols"]]
    num_cols = [str(c) for c in d["num_cols"]]
    vocab = [int(v) for v in d["vocab"]]
    cols = ([SparseFeat(c, vocabulary_size=v, embedding_dim=SIZES["embedding_dim"]) for c, v in zip(cat_cols, vocab)]
            + [DenseFeat(c, 1) for c in num_cols])

    def inputs(prefix):
        x = {c: d[f"{prefix}_cat"][:, i] for i, c in enumerate(cat_cols)}
        x.update({c: d[f"{prefix}_num"][:, i] for i, c in enumerate(num_cols)})
        return x

    model = MMOE(cols, num_experts=SIZES["num_experts"], expert_dnn_hidden_units=(SIZES["expert_units"],),
                 tower_dnn_hidden_units=(SIZES["tower_units"],), gate_dnn_hidden_units=(),
                 l2_reg_embedding=SIZES["l2_embedding"], task_types=["binary", "binary"],
                 task_names=list(LABELS), seed=seed)
    model.compile(tf.keras.optimizers.Adam(SIZES["learning_rate"]), loss=["binary_crossentropy"] * 2)
    times: list[float] = []

    class Timer(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    y_train = [d["train_y"][:, 0], d["train_y"][:, 1]]
    model.fit(inputs("train"), y_train, batch_size=SIZES["batch_size"], epochs=epochs, shuffle=True,
              verbose=0, callbacks=[Timer()])
    pred = model.predict(inputs("test"), batch_size=4096, verbose=0)
    auc = {f"{t}_auc": float(roc_auc_score(d["test_y"][:, k], np.asarray(pred[k]).ravel()))
           for k, t in enumerate(LABELS)}
    print("DEEPCTR_RESULT " + json.dumps({"epoch_seconds": times, **auc,
                                          "params": int(model.count_params())}), flush=True)


# --------------------------------------------------------------------------- our side
def make_data(seed: int):
    import mtrec_lib as mt

    # 200k impressions of one simulated world: the first 80k (by time) train, the last 80k
    # test. A large test log keeps the purchase AUC (0.2% positives) from being mostly noise.
    shop = mt.data.simulate_shop(n_users=2000, n_items=500, n_impressions=200_000, seed=seed)
    log = shop.data.sort_values("timestamp", kind="stable").drop(columns=list(DROP))
    return log.iloc[:80_000], log.iloc[-80_000:]


def encode_for_deepctr(train, test, path: Path) -> None:
    """Label-encode categoricals (0 = unseen) and standardise numbers with train statistics."""
    import numpy as np
    import pandas as pd

    feats = [c for c in train.columns if c not in LABELS]
    cat_cols = [c for c in feats if c.endswith("_id") or not pd.api.types.is_numeric_dtype(train[c])]
    num_cols = [c for c in feats if c not in cat_cols]
    vocab, tr_cat, te_cat = [], [], []
    for c in cat_cols:
        values = pd.Index(pd.unique(train[c].astype(str))).sort_values()
        tr_cat.append(values.get_indexer(train[c].astype(str)) + 1)
        te_cat.append(np.maximum(values.get_indexer(test[c].astype(str)) + 1, 0))
        vocab.append(len(values) + 1)
    mu, sd = train[num_cols].mean(), train[num_cols].std(ddof=0).replace(0, 1)
    np.savez(path, cat_cols=np.array(cat_cols), num_cols=np.array(num_cols), vocab=np.array(vocab),
             train_cat=np.stack(tr_cat, 1), test_cat=np.stack(te_cat, 1),
             train_num=((train[num_cols] - mu) / sd).to_numpy("float32"),
             test_num=((test[num_cols] - mu) / sd).to_numpy("float32"),
             train_y=train[list(LABELS)].to_numpy("float32"), test_y=test[list(LABELS)].to_numpy("float32"))


def run_ours(train, test, epochs: int, seed: int) -> dict:
    import keras

    import mtrec_lib as mt

    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    model = mt.MultiTaskLearning(tasks={t: "binary" for t in LABELS}, architecture="mmoe", seed=seed,
                                 tower_units=(SIZES["tower_units"],),
                                 **{k: v for k, v in SIZES.items() if k != "tower_units"})
    model.fit(train, epochs=epochs, verbose=0, callbacks=[Timer()])
    res = model.evaluate(test)
    return {"epoch_seconds": times, "click_auc": res["click_auc"], "purchase_auc": res["purchase_auc"],
            "params": model.count_params()}


def run_deepctr(python: str, npz: Path, epochs: int, seed: int) -> dict:
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([python, str(Path(__file__).resolve()), "--deepctr-worker", str(npz),
                           "--epochs", str(epochs), "--seed", str(seed)],
                          capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    for line in proc.stdout.splitlines():
        if line.startswith("DEEPCTR_RESULT "):
            return json.loads(line.split(" ", 1)[1])
    raise RuntimeError(f"DeepCTR worker failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def deepctr_versions(python: str) -> dict:
    code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "('deepctr', 'tf-keras', 'tensorflow')}))")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deepctr-python", default=os.environ.get("MTREC_BENCH_PYTHON", "/work/bench-venv/bin/python"))
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--deepctr-worker", metavar="NPZ", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.deepctr_worker:
        deepctr_worker(args.deepctr_worker, args.epochs, args.seed)
        return

    sys.path.insert(0, str(HERE))
    from _common import write_results

    import keras
    import tensorflow as tf

    train, test = make_data(args.seed)
    ours_runs, theirs_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "shop.npz"
        encode_for_deepctr(train, test, npz)
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}: mtrec_lib MMoE ...", flush=True)
            ours_runs.append(run_ours(train, test, args.epochs, args.seed + r))
            print(f"round {r + 1}/{args.rounds}: DeepCTR MMOE ...", flush=True)
            theirs_runs.append(run_deepctr(args.deepctr_python, npz, args.epochs, args.seed + r))

    def median_throughput(runs):
        secs = [s for run in runs for s in run["epoch_seconds"][1:]]
        return len(train) / statistics.median(secs)

    def best_throughput(runs):
        return len(train) / min(s for run in runs for s in run["epoch_seconds"][1:])

    ours_tp, theirs_tp = median_throughput(ours_runs), median_throughput(theirs_runs)

    def mean_auc(runs, task):
        return round(statistics.fmean(r[f"{task}_auc"] for r in runs), 4)
    figures = {
        "train_rows": len(train), "test_rows": len(test), "epochs": args.epochs, "rounds": args.rounds,
        "sizes": SIZES,
        "mtrec_examples_per_second": round(ours_tp),
        "deepctr_examples_per_second": round(theirs_tp),
        "throughput_ratio": round(ours_tp / theirs_tp, 3),
        # fastest epoch of each side: less sensitive to other processes on a shared machine
        "mtrec_best_epoch_examples_per_second": round(best_throughput(ours_runs)),
        "deepctr_best_epoch_examples_per_second": round(best_throughput(theirs_runs)),
        "best_epoch_ratio": round(best_throughput(ours_runs) / best_throughput(theirs_runs), 3),
        "mtrec_epoch_seconds": [[round(s, 3) for s in r["epoch_seconds"]] for r in ours_runs],
        "deepctr_epoch_seconds": [[round(s, 3) for s in r["epoch_seconds"]] for r in theirs_runs],
        "mtrec_click_auc": mean_auc(ours_runs, "click"), "deepctr_click_auc": mean_auc(theirs_runs, "click"),
        "mtrec_purchase_auc": mean_auc(ours_runs, "purchase"),
        "deepctr_purchase_auc": mean_auc(theirs_runs, "purchase"),
        "mtrec_auc_per_round": [[round(r["click_auc"], 4), round(r["purchase_auc"], 4)] for r in ours_runs],
        "deepctr_auc_per_round": [[round(r["click_auc"], 4), round(r["purchase_auc"], 4)] for r in theirs_runs],
        "mtrec_params": ours_runs[0]["params"], "deepctr_params": theirs_runs[0]["params"],
        "versions": {"mtrec": {"tensorflow": tf.__version__, "keras": keras.__version__},
                     "deepctr_env": deepctr_versions(args.deepctr_python)},
    }
    path = write_results("mmoe_throughput", figures)
    print(json.dumps(figures, indent=1))
    print(f"wrote {path.relative_to(ROOT)}")
    print("\n| benchmark | ours (examples/s, median epoch) | DeepCTR 0.9.4 (examples/s) | ratio (median / best epoch) "
          "| click AUC ours / DeepCTR | purchase AUC ours / DeepCTR |")
    print("|---|---|---|---|---|---|")
    print(f"| MMoE training throughput (shop, 80k training rows, 4x16 experts, batch 512, CPU) "
          f"| {figures['mtrec_examples_per_second']:,} | {figures['deepctr_examples_per_second']:,} "
          f"| {figures['throughput_ratio']:.2f} / {figures['best_epoch_ratio']:.2f} "
          f"| {figures['mtrec_click_auc']:.3f} / {figures['deepctr_click_auc']:.3f} "
          f"| {figures['mtrec_purchase_auc']:.3f} / {figures['deepctr_purchase_auc']:.3f} |")


if __name__ == "__main__":
    main()
