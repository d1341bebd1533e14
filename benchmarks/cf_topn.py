"""Top-N recommendation on MovieLens 100K against Microsoft Recommenders' published table.

Protocol (theirs): every rating is an implicit interaction and every test rating is
relevant; per-user stratified 75/25 split with seed 42 (``mt.data.split(...,
method="stratified")``); 10 items per user from those the user has not rated in train;
precision@10, recall@10, nDCG@10 (binary gain, log2 discount) and MAP with their
``map`` denominator (number of relevant items), averaged over the test users.

Hyper-parameters are tuned honestly: on a validation split carved out of the training
set (again stratified 75/25, seed 0), never on the test set; the best setting by
nDCG@10 is refitted on the full training set and scored once on test.

Writes benchmarks/results/topn.json ({model: {p@10, ndcg@10, map, recall@10}, machine,
date, command}) and benchmarks/results/cf_topn.json (the same plus tuning grids,
timings, coverage and the published rows).

Usage: .venv/bin/python benchmarks/cf_topn.py
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

from _common import machine_details as machine_info  # benchmarks/ is on sys.path

import mtrec_lib as mt

RESULTS = Path(__file__).resolve().parent / "results"
# Microsoft Recommenders README, "Algorithm comparison", MovieLens 100K, k=10.
PUBLISHED = {
    "SAR": {"map": 0.110591, "ndcg@10": 0.382461, "p@10": 0.330753, "recall@10": 0.176385},
    "BiVAE": {"map": 0.146126, "ndcg@10": 0.475077, "p@10": 0.411771, "recall@10": 0.219145},
    "BPR": {"map": 0.132478, "ndcg@10": 0.441997, "p@10": 0.388229, "recall@10": 0.212522},
    "LightGCN": {"map": 0.088526, "ndcg@10": 0.419846, "p@10": 0.379626, "recall@10": 0.144336},
    "NCF": {"map": 0.107720, "ndcg@10": 0.396118, "p@10": 0.347296, "recall@10": 0.180775},
}

# name -> (factory, grid of keyword arguments to tune on validation)
MODELS = {
    "Popularity": (mt.cf.Popularity, [{}]),
    "ItemTopN cosine (Deshpande-Karypis)": (
        mt.cf.ItemTopN,
        [{"k": k, "similarity": "cosine"} for k in (10, 20, 50, 100, 200)],
    ),
    "ItemTopN conditional probability (Deshpande-Karypis)": (
        mt.cf.ItemTopN,
        [{"k": k, "similarity": "conditional_probability", "alpha": a} for k in (20, 50, 100) for a in (0.3, 0.5, 0.6)],
    ),
    "ItemKNN.recommend (cosine, k=40)": (mt.cf.ItemKNN, [{"k": 40}]),
    "ItemKNN.recommend with rating similarity (msd)": (mt.cf.ItemKNN, [{"k": 40, "topn_similarity": "rating"}]),
    "UserKNN.recommend (cosine)": (mt.cf.UserKNN, [{"k": k} for k in (20, 50, 100, 200)]),
    "BiasedMF ranked by predicted rating": (mt.cf.BiasedMF, [{}]),
    "EASE": (mt.cf.EASE, [{"lam": lam} for lam in (100, 250, 500, 1000, 2000)]),
}


def evaluate(model, train, test) -> tuple[dict, float, object]:
    t0 = time.perf_counter()
    recs = model.fit(train).recommend(test["user_id"].unique(), n=10, exclude_seen=True)
    seconds = time.perf_counter() - t0
    rep = mt.metrics.ranking_report(recs, test, k=10)
    return rep, seconds, recs


def main() -> None:
    ratings = mt.data.load_movielens_100k(progress=False).ratings
    train, test = mt.data.split(ratings, method="stratified", test_size=0.25, seed=42)
    fit_tr, val = mt.data.split(train, method="stratified", test_size=0.25, seed=0)
    items = mt.data.load_movielens_100k(progress=False).items
    genre_cols = [c for c in items.columns if c in mt.data.GENRES]
    genres = items.set_index("item_id")[genre_cols]

    topn, detail = {}, {}
    for name, (factory, grid) in MODELS.items():
        tuning = []
        for params in grid:
            rep, _, _ = evaluate(factory(**params), fit_tr, val)
            tuning.append({"params": params, "val_ndcg@10": round(rep["ndcg@10"], 5)})
        best = max(tuning, key=lambda t: t["val_ndcg@10"])["params"]
        rep, seconds, recs = evaluate(factory(**best), train, test)
        row = {"p@10": rep["p@10"], "ndcg@10": rep["ndcg@10"], "map": rep["map"], "recall@10": rep["recall@10"]}
        topn[name] = row
        detail[name] = {
            **row,
            "map@10 (min(n_rel, k) denominator)": rep["map@10"],
            "hit@10": rep["hit@10"],
            "params": best,
            "tuning_on_validation": tuning if len(grid) > 1 else None,
            "seconds_fit_and_recommend": round(seconds, 3),
            "catalog_coverage": mt.metrics.catalog_coverage(recs, train),
            "intra_list_diversity_genres": mt.metrics.intra_list_diversity(recs, item_features=genres),
            "novelty_bits": mt.metrics.novelty(recs, train),
            **{
                f"beats_{ref}": row["p@10"] >= PUBLISHED[ref]["p@10"] and row["ndcg@10"] >= PUBLISHED[ref]["ndcg@10"]
                for ref in ("SAR", "BiVAE")
            },
        }
        scores = " ".join(f"{k} {v:.4f}" for k, v in row.items())
        print(f"{name:55s} {scores}  {best}  {seconds:.2f}s", flush=True)

    stamp = {
        "machine": machine_info(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "topn.json").write_text(json.dumps({**topn, **stamp}, indent=2) + "\n")
    protocol = (
        "ML-100K, mt.data.split(stratified, test_size=0.25, seed=42), all ratings relevant, k=10, "
        "seen removed, MAP denominator = number of relevant items; tuned on a validation split of train"
    )
    (RESULTS / "cf_topn.json").write_text(
        json.dumps({"protocol": protocol, "models": detail, "published_ms_recommenders": PUBLISHED, **stamp}, indent=2)
        + "\n"
    )


if __name__ == "__main__":
    main()
