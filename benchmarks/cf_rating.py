"""Rating prediction on MovieLens 100K, 5-fold CV as Surprise runs it, against scikit-surprise.

Protocol: the 100,000 ratings of ``mt.data.load_movielens_100k()`` in their canonical
order, split by Surprise's ``KFold(n_splits=5, shuffle=True, random_state=0)`` (the
same index arithmetic; checked against Surprise's own KFold when it is installed).
Each model is fitted on the four training folds and scored on the fifth; RMSE and MAE
are averaged over the folds. Time is fit + predict of all five folds; the script runs
the whole CV ``--repeats`` times, alternating our model and Surprise's so both see the
same machine load, and reports medians. Our rating estimators use sparse products and
vectorised NumPy, which run on one core (no BLAS thread pool), as Surprise does.

Writes benchmarks/results/cf_rating.json.

Usage: .venv/bin/python benchmarks/cf_rating.py [--repeats 3]
       .venv/bin/python benchmarks/cf_rating.py --quick   # correctness only: no timing, writes nothing
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _common import machine_details as machine_info  # benchmarks/ is on sys.path

import mtrec_lib as mt

RESULTS = Path(__file__).resolve().parent / "results"
PUBLISHED = {  # Surprise's documented ML-100K benchmark (5-fold CV)
    "UserKNN msd k=40": {"rmse": 0.980, "mae": 0.774, "surprise": "KNNBasic"},
    "UserKNN msd k=40 centered": {"rmse": 0.951, "mae": 0.749, "surprise": "KNNWithMeans"},
    "BiasedMF (ALS)": {"rmse": 0.934, "mae": 0.737, "surprise": "SVD"},
}


def surprise_folds(n: int, n_splits: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Test indices of Surprise's KFold(shuffle=True, random_state=seed) on n ratings."""
    idx = np.arange(n)
    np.random.RandomState(seed).shuffle(idx)  # surprise.utils.get_rng(int) is a RandomState
    folds, stop = [], 0
    for f in range(n_splits):
        start = stop
        stop += n // n_splits + (1 if f < n % n_splits else 0)
        folds.append(idx[start:stop])
    return folds


def ours(name: str):
    return {
        "UserKNN msd k=40": lambda: mt.cf.UserKNN(k=40, similarity="msd"),
        "UserKNN msd k=40 centered": lambda: mt.cf.UserKNN(k=40, similarity="msd", centered=True),
        "BiasedMF (ALS)": lambda: mt.cf.BiasedMF(n_factors=10, n_epochs=10, reg=0.1, seed=0),
        "ItemKNN msd k=40": lambda: mt.cf.ItemKNN(k=40, similarity="msd"),
        "ItemKNN pearson_baseline k=40 centered": lambda: mt.cf.ItemKNN(
            k=40, similarity="pearson_baseline", centered=True
        ),
    }[name]()


def theirs(name: str, surprise):
    return {
        "UserKNN msd k=40": lambda: surprise.KNNBasic(k=40, verbose=False),
        "UserKNN msd k=40 centered": lambda: surprise.KNNWithMeans(k=40, verbose=False),
        "BiasedMF (ALS)": lambda: surprise.SVD(random_state=0),
        "ItemKNN msd k=40": lambda: surprise.KNNBasic(k=40, sim_options={"user_based": False}, verbose=False),
        "ItemKNN pearson_baseline k=40 centered": lambda: surprise.KNNWithMeans(
            k=40, sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False
        ),
    }[name]()


def run_ours(name, splits):
    preds, t0 = [], time.perf_counter()
    for train, test in splits:
        preds.append(ours(name).fit(train).predict(test))
    return time.perf_counter() - t0, preds


def quick_check(name, splits) -> dict:
    """Correctness only: RMSE / MAE over the folds, and (k-NN) the readable loop equal to the fast path."""
    _, preds = run_ours(name, splits)
    y = [test.rating.to_numpy(dtype=float) for _, test in splits]
    row = {
        "rmse": float(np.mean([mt.metrics.rmse(a, b) for a, b in zip(y, preds)])),
        "mae": float(np.mean([mt.metrics.mae(a, b) for a, b in zip(y, preds)])),
    }
    if "KNN" in name:
        train, test = splits[0]
        loop = ours(name).set_params(algorithm="loop").fit(train).predict(test)
        row["max_abs_loop_vs_fast_fold1"] = float(np.abs(loop - preds[0]).max())
    if name in PUBLISHED:
        row["meets_target"] = row["rmse"] <= PUBLISHED[name]["rmse"]
    return row


def run_theirs(name, surprise, ssplits):
    preds, t0 = [], time.perf_counter()
    for trainset, testset in ssplits:
        algo = theirs(name, surprise).fit(trainset)
        preds.append(np.array([p.est for p in algo.test(testset)]))
    return time.perf_counter() - t0, preds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--models", nargs="*", default=list(PUBLISHED) + ["ItemKNN msd k=40", "ItemKNN pearson_baseline k=40 centered"]
    )
    ap.add_argument("--quick", action="store_true", help="correctness only (no Surprise, no timing, no file)")
    args = ap.parse_args()
    # Test folds hold a few items unseen in training: one warning per fit, the same every time.
    warnings.filterwarnings("ignore", message=".*not seen in fit", category=UserWarning)

    ratings = mt.data.load_movielens_100k(progress=False).ratings
    folds = surprise_folds(len(ratings))
    splits = []
    for f, test_idx in enumerate(folds):
        train_idx = np.concatenate([folds[g] for g in range(5) if g != f])
        splits.append((ratings.iloc[train_idx], ratings.iloc[test_idx]))
    if args.quick:
        for name in args.models:
            print(name, json.dumps(quick_check(name, splits)), flush=True)
        return

    try:
        import surprise

        data = surprise.Dataset.load_from_df(
            ratings[["user_id", "item_id", "rating"]], surprise.Reader(rating_scale=(1, 5))
        )
        # Same folds as Surprise's own KFold, and the same training-row order.
        kf = surprise.model_selection.KFold(n_splits=5, shuffle=True, random_state=0)
        for (_, testset), (_, test) in zip(kf.split(data), splits):
            assert [(u, i) for u, i, _ in testset] == list(zip(test.user_id, test.item_id))
        ssplits = []
        for f, test_idx in enumerate(folds):
            train_idx = np.concatenate([folds[g] for g in range(5) if g != f])
            ssplits.append(
                (
                    data.construct_trainset([data.raw_ratings[i] for i in train_idx]),
                    data.construct_testset([data.raw_ratings[i] for i in test_idx]),
                )
            )
        surprise_info = {"version": surprise.__version__}
    except ImportError as err:
        surprise, ssplits = None, None
        surprise_info = {"error": f"scikit-surprise not importable: {err}"}

    result = {
        "protocol": "ML-100K, Surprise KFold(n_splits=5, shuffle=True, random_state=0), mean over folds",
        "published_surprise": PUBLISHED,
        "surprise": surprise_info,
        "models": {},
    }
    for name in args.models:
        ours_t, theirs_t = [], []
        for _ in range(args.repeats):
            t, preds = run_ours(name, splits)
            ours_t.append(t)
            if surprise is not None:
                ts, spreds = run_theirs(name, surprise, ssplits)
                theirs_t.append(ts)
        y = [test.rating.to_numpy(dtype=float) for _, test in splits]
        row = {
            "rmse": float(np.mean([mt.metrics.rmse(a, b) for a, b in zip(y, preds)])),
            "mae": float(np.mean([mt.metrics.mae(a, b) for a, b in zip(y, preds)])),
            "rmse_per_fold": [round(mt.metrics.rmse(a, b), 5) for a, b in zip(y, preds)],
            "seconds_5_folds_median": float(np.median(ours_t)),
            "seconds_all_repeats": [round(t, 3) for t in ours_t],
        }
        if surprise is not None:
            row["surprise"] = {
                "rmse": float(np.mean([mt.metrics.rmse(a, b) for a, b in zip(y, spreds)])),
                "mae": float(np.mean([mt.metrics.mae(a, b) for a, b in zip(y, spreds)])),
                "seconds_5_folds_median": float(np.median(theirs_t)),
                "seconds_all_repeats": [round(t, 3) for t in theirs_t],
            }
            if "KNN" in name:  # same definitions: predictions must agree to rounding error
                row["max_abs_prediction_difference_vs_surprise"] = float(
                    max(np.abs(a - b).max() for a, b in zip(preds, spreds))
                )
            row["speedup_vs_surprise"] = row["surprise"]["seconds_5_folds_median"] / row["seconds_5_folds_median"]
        if name in PUBLISHED:
            row["target_rmse"] = PUBLISHED[name]["rmse"]
            row["meets_target"] = row["rmse"] <= PUBLISHED[name]["rmse"]
        result["models"][name] = row
        print(name, json.dumps({k: v for k, v in row.items() if not isinstance(v, (list, dict))}), flush=True)

    result.update(
        machine=machine_info(),
        date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        command=" ".join([Path(sys.executable).name, *sys.argv]),
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cf_rating.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
