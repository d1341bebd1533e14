"""Joint retrieval + rating on MovieLens 100K against the TFRS multi-task tutorial.

    python benchmarks/retrieval_rating.py                    # everything (about 10 min on 2 cores)
    python benchmarks/retrieval_rating.py --skip-selection   # reuse the recorded choice of settings

Protocol (TensorFlow Recommenders, "Multi-task recommenders"): all 100,000 ratings,
shuffled with seed 42, first 80% train and last 20% test; shared 32-dimensional user and
item embeddings; retrieval = dot product with in-batch softmax, scored by top-100
accuracy against the whole catalogue (1,682 movies, seen items not removed); rating =
MLP(256, 64, 1), scored by RMSE; Adagrad(0.1); loss weights rating-only (1, 0),
retrieval-only (0, 1), joint (1, 1). Our shuffle is ``mt.data.split(method="random",
test_size=0.2, seed=42)`` (numpy), so the rows differ from TF's shuffle.

Published: rating-only 0.060 / 1.113, retrieval-only 0.233 / 3.688, joint 0.235 / 1.110
(top-100 accuracy / RMSE). Goal: the joint model at least 0.235 and at most 1.110.

The script measures two settings, the same for all three variants in each:

1. ``tfrs_settings``: the tutorial's own (batch 8192, 3 epochs, no logQ correction).
2. the headline (top-level ``rating_only`` / ``retrieval_only`` / ``joint``): chosen on a
   validation split carved from the training 80% (10%, seed 42), never on test. The
   joint model is trained for 5 epochs at every batch size in ``BATCH_SIZES`` with and
   without the logQ correction, scored on validation after each epoch; among the
   (batch, logQ, epochs) points with validation RMSE <= 1.110, the highest validation
   top-100 wins, and points within 0.005 of it go to the cheapest (batch x epochs).
   The three variants are then trained on the full 80% with those settings, for
   seeds 0 (headline), 1 and 2 (spread).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import write_results  # noqa: E402

import mtrec_lib as mt  # noqa: E402
from mtrec_lib.models.retrieval import JointRetrievalRating  # noqa: E402

PUBLISHED = {
    "rating_only": {"top100": 0.060, "rmse": 1.113},
    "retrieval_only": {"top100": 0.233, "rmse": 3.688},
    "joint": {"top100": 0.235, "rmse": 1.110},
}
VARIANTS = {"rating_only": (1.0, 0.0), "retrieval_only": (0.0, 1.0), "joint": (1.0, 1.0)}
TFRS_SETTINGS = dict(embedding_dim=32, batch_size=8192, epochs=3, learning_rate=0.1, logq_correction=False)
BATCH_SIZES = (1024, 2048, 4096, 8192)
MAX_EPOCHS = 5
GOAL_RMSE = 1.110
TIE = 0.005
#: What the selection chose when last run (used by --skip-selection).
RECORDED_CHOICE = dict(embedding_dim=32, batch_size=1024, epochs=2, learning_rate=0.1, logq_correction=True)


def run_variants(train, test, items, settings: dict, seed: int = 0) -> dict:
    out = {}
    for name, (rw, tw) in VARIANTS.items():
        model = JointRetrievalRating(rating_weight=rw, retrieval_weight=tw, seed=seed, **settings)
        model.fit(train, items=items)
        ev = model.evaluate(test)
        out[name] = {
            "top100": round(ev["top100_accuracy"], 4),
            "rmse": round(ev["rmse"], 4),
            "fit_seconds": round(model.fit_seconds_, 1),
        }
        print(
            f"  seed {seed} {name:15s} top-100 {ev['top100_accuracy']:.4f}  RMSE {ev['rmse']:.4f}  "
            f"({model.fit_seconds_:.1f} s)",
            flush=True,
        )
    return out


def select(train, items) -> tuple[dict, list]:
    fit_part, val = mt.data.split(train, method="random", test_size=0.1, seed=42)
    grid = []
    for batch in BATCH_SIZES:
        for logq in (False, True):
            settings = dict(
                embedding_dim=32, batch_size=batch, epochs=MAX_EPOCHS, learning_rate=0.1, logq_correction=logq
            )
            model = JointRetrievalRating(**settings).fit(fit_part, items=items, eval_data=val)
            for e in range(MAX_EPOCHS):
                grid.append(
                    {
                        "batch_size": batch,
                        "logq_correction": logq,
                        "epochs": e + 1,
                        "val_top100": round(model.history_["top100_accuracy"][e], 4),
                        "val_rmse": round(model.history_["rmse"][e], 4),
                    }
                )
            print(
                f"  batch {batch:5d} logQ {logq!s:5s} val top-100 {[g['val_top100'] for g in grid[-MAX_EPOCHS:]]}"
                f" RMSE {[g['val_rmse'] for g in grid[-MAX_EPOCHS:]]}",
                flush=True,
            )
    ok = [g for g in grid if g["val_rmse"] <= GOAL_RMSE]
    best = max(g["val_top100"] for g in ok)
    near = [g for g in ok if g["val_top100"] >= best - TIE]
    pick = min(near, key=lambda g: (g["batch_size"] * g["epochs"], -g["val_top100"]))
    return dict(
        embedding_dim=32,
        batch_size=pick["batch_size"],
        epochs=pick["epochs"],
        learning_rate=0.1,
        logq_correction=pick["logq_correction"],
    ), grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-selection", action="store_true", help="use RECORDED_CHOICE instead of re-running the validation grid"
    )
    args = parser.parse_args()

    start = time.perf_counter()
    ml = mt.data.load_movielens_100k()
    items = ml.items["item_id"]
    train, test = mt.data.split(ml.ratings, method="random", test_size=0.2, seed=42)
    print(f"MovieLens 100K: {len(train)} train / {len(test)} test rows, {len(items)} movies", flush=True)

    figures: dict = {"published": PUBLISHED}
    print("TFRS settings:", TFRS_SETTINGS, flush=True)
    figures["tfrs_settings"] = {"settings": TFRS_SETTINGS, **run_variants(train, test, items, TFRS_SETTINGS)}

    if args.skip_selection:
        settings = RECORDED_CHOICE
    else:
        print("Selecting settings on a validation split of the training rows:", flush=True)
        settings, grid = select(train, items)
        figures["selection"] = {
            "rule": f"max val top-100 with val RMSE <= {GOAL_RMSE}; within {TIE} of the max, fewest batch x epochs",
            "grid": grid,
        }
        if settings != RECORDED_CHOICE:
            print(f"NOTE: selection differs from RECORDED_CHOICE {RECORDED_CHOICE}", flush=True)
    print("Chosen settings:", settings, flush=True)
    figures["settings"] = settings
    runs = [run_variants(train, test, items, settings, seed=s) for s in (0, 1, 2)]
    figures.update(runs[0])
    figures["seeds"] = {
        name: {
            metric: {
                "mean": round(float(np.mean([r[name][metric] for r in runs])), 4),
                "std": round(float(np.std([r[name][metric] for r in runs], ddof=1)), 4),
            }
            for metric in ("top100", "rmse")
        }
        for name in VARIANTS
    }
    joint = figures["joint"]
    figures["goal_met"] = bool(
        joint["top100"] >= PUBLISHED["joint"]["top100"] and joint["rmse"] <= PUBLISHED["joint"]["rmse"]
    )
    figures["total_seconds"] = round(time.perf_counter() - start, 1)
    path = write_results("retrieval_rating", figures)

    print(f"\n{'variant':15s} {'published':>17s} {'TFRS settings':>17s} {'ours (chosen)':>17s}")
    for name in VARIANTS:
        cells = [PUBLISHED[name], figures["tfrs_settings"][name], figures[name]]
        print(f"{name:15s} " + " ".join(f"{c['top100']:.3f} / {c['rmse']:.3f}".rjust(17) for c in cells))
    print(f"goal met: {figures['goal_met']}; wrote {path}")


if __name__ == "__main__":
    main()
