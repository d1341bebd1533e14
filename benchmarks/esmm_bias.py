"""Sample-selection bias: a clicked-only conversion model against ESMM, over the entire impression space.

    .venv/bin/python benchmarks/esmm_bias.py                       # full sweep (about 5 CPU minutes)
    .venv/bin/python benchmarks/esmm_bias.py --seeds 2 --selectivities 0 3

Protocol (the book's notebook notebooks/ch03_experiments/02_esmm_selection_bias.ipynb runs
a small version of it):

* data: ``mt.data.simulate_shop(n_users=2000, n_items=500, n_impressions=100_000, seed=s,
  click_selectivity=k)``, other knobs at their defaults (task_relatedness 0.7, CTR 4%,
  CVR after a click 5%: the simulator calibrates both rates, so every world has about
  2,800 training clicks and 140 training purchases and only *which* impressions get clicked
  changes with k). Split by time: 70% train, 10% validation, 20% test. Features: every
  observable column except the label columns, ``timestamp`` and ``day``.
* counterfactual conversion labels: for every impression, ``Bernoulli(truth.p_purchase_given_click)``
  drawn with ``np.random.default_rng(LABEL_SEED)``: "had the user clicked, would they have
  bought". Only a simulator has them.
* naive model: ``architecture="single_task"`` with the one task ``purchase``, trained on the
  clicked training impressions (validated on clicked validation impressions; up to 40
  epochs, batch 256, early stopping with patience 3). The ESMM paper's BASE model.
* ESMM: ``architecture="esmm"`` with tasks click and purchase on all training impressions
  (validated on all validation impressions; up to 8 epochs, batch 512, early stopping with
  patience 2 on the validation loss of the conversion output ``val_purchase_loss``); its
  pCVR is the ``purchase_given_click`` column of ``predict``.
* metrics on the test impressions: pCVR AUC against the counterfactual labels over all
  impressions (the entire space), over the unclicked ones only, and against the observed
  purchases on the clicked ones (the ESMM paper's protocol, where it reports +2.56 points on
  Ali-CCP); calibration as mean pCVR / mean true ``p_purchase_given_click`` over all
  impressions (1 = calibrated), and the same ratio for the true CVR of clicked vs all
  impressions (how strong the selection is).

Writes benchmarks/results/esmm_bias.json and prints a markdown row for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import keras  # noqa: E402
from _common import write_results  # noqa: E402

import mtrec_lib as mt  # noqa: E402
import mtrec_lib.models  # noqa: E402,F401  (imports TensorFlow quietly before keras)

LABEL_SEED = 2018
NAIVE = {"epochs": 40, "batch_size": 256, "patience": 3}
ESMM = {"epochs": 8, "batch_size": 512, "patience": 0}  # early stopping below, on the conversion loss
ESMM_PATIENCE = 2
PAPER_GAIN_POINTS = 2.56  # Ma et al., SIGIR 2018, Table 2: CVR AUC 68.56 vs 66.00 (BASE) on Ali-CCP


def run_one(selectivity: float, seed: int, n_impressions: int) -> dict:
    shop = mt.data.simulate_shop(
        n_users=2000, n_items=500, n_impressions=n_impressions, seed=seed, click_selectivity=selectivity
    )
    data, truth = shop.data, shop.truth
    would_buy = pd.Series(
        (np.random.default_rng(LABEL_SEED).random(len(data)) < truth["p_purchase_given_click"].to_numpy()).astype(int),
        index=data.index,
    )
    rest, test = mt.data.split(data, method="temporal", test_size=0.2)
    train, val = mt.data.split(rest, method="temporal", test_size=0.125)
    features = [c for c in data.columns if c not in ("click", "purchase", "timestamp", "day")]

    cpu = time.process_time()
    naive = mt.MultiTaskLearning(
        tasks={"purchase": "binary"}, architecture="single_task", features=features, seed=seed, **NAIVE
    )
    naive.fit(train[train.click == 1], validation_data=val[val.click == 1], verbose=0)
    cpu_naive = time.process_time() - cpu
    cpu = time.process_time()
    esmm = mt.MultiTaskLearning(
        tasks={"click": "binary", "purchase": "binary"}, architecture="esmm", features=features, seed=seed, **ESMM
    )
    # Stop on the validation loss of the conversion output (pCTCVR), as the naive model stops on
    # its own conversion loss; the estimator's default monitor, the summed val_loss, is dominated
    # by the 20x more frequent clicks and stops ESMM before its CVR tower has learned much.
    stop = keras.callbacks.EarlyStopping(
        monitor="val_purchase_loss", mode="min", patience=ESMM_PATIENCE, restore_best_weights=True
    )
    esmm.fit(train, validation_data=val, verbose=0, callbacks=[stop])
    cpu_esmm = time.process_time() - cpu

    p_true = truth.loc[test.index, "p_purchase_given_click"].to_numpy()
    y_cf = would_buy.loc[test.index].to_numpy()
    clicked = test["click"].to_numpy() == 1
    preds = {
        "naive": naive.predict(test)["purchase"].to_numpy(),
        "esmm": esmm.predict(test)["purchase_given_click"].to_numpy(),
        "truth": p_true,
    }
    row = {
        "selectivity": selectivity,
        "seed": seed,
        "train_clicks": int(train.click.sum()),
        "train_purchases": int(train.purchase.sum()),
        "test_clicks": int(clicked.sum()),
        "selection_ratio": float(
            truth.loc[data.click == 1, "p_purchase_given_click"].mean() / truth["p_purchase_given_click"].mean()
        ),
        "naive_epochs": len(naive.history_["loss"]),
        "esmm_epochs": len(esmm.history_["loss"]),
        "naive_params": naive.count_params(),
        "esmm_params": esmm.count_params(),
        "cpu_naive": cpu_naive,
        "cpu_esmm": cpu_esmm,
    }
    for name, p in preds.items():
        row[f"auc_entire_{name}"] = float(roc_auc_score(y_cf, p))
        row[f"auc_unclicked_{name}"] = float(roc_auc_score(y_cf[~clicked], p[~clicked]))
        row[f"auc_clicked_{name}"] = float(roc_auc_score(test["purchase"].to_numpy()[clicked], p[clicked]))
        if name != "truth":
            row[f"calibration_{name}"] = float(p.mean() / p_true.mean())
    # ESMM's directly trained output, pCTCVR, against the true P(click and purchase).
    row["calibration_esmm_ctcvr"] = float(
        esmm.predict(test)["purchase"].mean() / truth.loc[test.index, "p_purchase"].mean()
    )
    return row


def _mean_se(x: pd.Series) -> tuple[float, float]:
    return float(x.mean()), (float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0)


def summarise(runs: pd.DataFrame) -> dict:
    out = {}
    for k, g in runs.groupby("selectivity"):
        row = {}
        for col in [c for c in runs.columns if c.startswith(("auc_", "calibration_", "selection_ratio"))]:
            m, se = _mean_se(g[col])
            row[col] = round(m, 4)
            row[f"{col}_se"] = round(se, 4)
        for space in ("entire", "unclicked", "clicked"):
            m, se = _mean_se(100 * (g[f"auc_{space}_esmm"] - g[f"auc_{space}_naive"]))
            row[f"gap_points_{space}"] = round(m, 2)
            row[f"gap_points_{space}_se"] = round(se, 2)
        row["esmm_wins_entire"] = int((g.auc_entire_esmm > g.auc_entire_naive).sum())
        row["runs"] = len(g)
        out[f"{k:g}"] = row
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--selectivities", type=float, nargs="+", default=[0.0, 0.75, 1.5, 3.0, 4.5])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--n-impressions", type=int, default=100_000)
    args = ap.parse_args(argv)

    start_cpu, start_wall = time.process_time(), time.perf_counter()
    runs = []
    for k in args.selectivities:
        for seed in range(args.seeds):
            r = run_one(k, seed, args.n_impressions)
            runs.append(r)
            print(json.dumps({c: (round(v, 4) if isinstance(v, float) else v) for c, v in r.items()}), flush=True)
    frame = pd.DataFrame(runs)
    # Slope of the entire-space gap over selectivity (points per unit), pooled over runs.
    gap = 100 * (frame.auc_entire_esmm - frame.auc_entire_naive)
    ok = gap.notna()
    slope = (
        float(np.polyfit(frame.selectivity[ok], gap[ok], 1)[0]) if frame.selectivity[ok].nunique() > 1 else float("nan")
    )
    figures = {
        "protocol": {
            "n_impressions": args.n_impressions,
            "n_users": 2000,
            "n_items": 500,
            "task_relatedness": 0.7,
            "ctr": 0.04,
            "cvr": 0.05,
            "split": "temporal 70/10/20",
            "label_seed": LABEL_SEED,
            "seeds": list(range(args.seeds)),
            "naive": NAIVE,
            "esmm": {**ESMM, "early_stopping": {"monitor": "val_purchase_loss", "patience": ESMM_PATIENCE}},
        },
        "paper_gain_points": PAPER_GAIN_POINTS,
        "by_selectivity": summarise(frame),
        "gap_points_entire_slope_per_selectivity": round(slope, 3),
        "params": {"naive": int(frame.naive_params.iloc[0]), "esmm": int(frame.esmm_params.iloc[0])},
        "cpu_seconds_per_run": round(float((frame.cpu_naive + frame.cpu_esmm).mean()), 2),
        "cpu_seconds_total": round(time.process_time() - start_cpu, 1),
        "wall_seconds_total": round(time.perf_counter() - start_wall, 1),
        "runs": [{c: (round(v, 5) if isinstance(v, float) else v) for c, v in r.items()} for r in runs],
    }
    path = write_results("esmm_bias", figures)
    print(f"wrote {path}")
    by = figures["by_selectivity"]
    cells = "; ".join(
        f"k={k}: {v['gap_points_entire']:+.1f} ({v['gap_points_clicked']:+.1f} clicked), "
        f"calibration {v['calibration_naive']:.2f} vs {v['calibration_esmm']:.2f}"
        for k, v in by.items()
    )
    print("\nMarkdown row for benchmarks/README.md:")
    print(
        f"| esmm_bias.py | simulated shop {args.n_impressions:,} impressions, {args.seeds} seeds: "
        "ESMM minus clicked-only pCVR AUC, "
        f"entire space (clicked only), points; mean pCVR / true CVR naive vs ESMM | {cells} | "
        f"+{PAPER_GAIN_POINTS} points on Ali-CCP clicked samples (Ma et al. 2018) |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
