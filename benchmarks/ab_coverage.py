"""Do the A/B test's 95% intervals cover the simulator's true lift? Coverage, power, A/A false positives.

    .venv/bin/python benchmarks/ab_coverage.py                    # 500 experiments + 500 A/A tests
    .venv/bin/python benchmarks/ab_coverage.py --experiments 50   # a quick look

The world and the four policies are those of notebooks/ch05_project/05_online_experiment.ipynb:
``simulate_shop(n_users=1000, n_items=500, n_impressions=200_000, n_days=60, ctr=0.08,
cvr=0.12, seed=7)``, trained on days 0-29; policies ``popularity`` (control, most clicked
items), ``item_cf`` (``ItemTopN(k=100)`` on clicks), ``mtl`` (the chapter's
``RecommendationPipeline``: ItemTopN candidates, MMoE ranker, fused p_click x
p_purchase_30d, no re-ranking) and ``oracle`` (``ShopTruth.best_lists``, true p_purchase).

Each experiment is ``mt.experiment.simulate_ab_test`` on all 1,000 users (four buckets of
250), 14 days, a 14-day pre-period on the control, ``visit_rate=0.3``, seed = experiment
number; the lists are fixed, the seed redraws the assignment and all behaviour. For every
treatment and metric (purchases, clicks, GMV per user) it records whether the Welch 95%
interval covers the true lift (``ABTestResult.true_lift``: exact expectations over the same
1,000 users), with and without CUPED (covariate: the same metric in the pre-period; theta
pooled over the control and the treatment compared, as ``mt.experiment.ab_summary`` does), the
interval's width and whether p < 0.05 (the power, for a true lift that is not 0). The A/A
part runs ``popularity`` against itself (two buckets of 500) with seeds 10,000 + i and
records how often p < 0.05 (nominal 5%).

Writes benchmarks/results/ab_coverage.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results  # noqa: E402

import mtrec_lib as mt  # noqa: E402
from mtrec_lib import experiment as ex  # noqa: E402

METRICS = ("purchases", "clicks", "gmv")


def world() -> tuple:
    """The notebook's shop, truth and the four policies' lists."""
    from mtrec_lib import MultiTaskLearning
    from mtrec_lib.data.shipped import _purchase_within
    from mtrec_lib.pipeline import RecommendationPipeline, ShopTruth, interactions

    shop = mt.data.simulate_shop(
        n_users=1000, n_items=500, n_impressions=200_000, n_days=60, ctr=0.08, cvr=0.12, seed=7
    )
    train = shop.data[shop.data["day"] < 30].copy()
    train["purchase_30d"] = _purchase_within(train, 30)
    truth = ShopTruth(shop)
    users = np.sort(train["user_id"].unique())
    clicks = interactions(train)
    pipe = RecommendationPipeline(
        candidate_model=mt.cf.ItemTopN(k=100),
        ranker=MultiTaskLearning(
            tasks={"click": "binary", "purchase_30d": "binary"},
            architecture="mmoe",
            embedding_dim=16,
            expert_units=(32,),
            tower_units=(16,),
            epochs=8,
            seed=0,
        ),
        fusion={"click": 1.0, "purchase_30d": 1.0},
        reranker=None,
        n_candidates=100,
        n=10,
    ).fit(train)
    policies = {
        "popularity": mt.cf.Popularity().fit(clicks).recommend(users, n=10),
        "item_cf": mt.cf.ItemTopN(k=100).fit(clicks).recommend(users, n=10),
        "mtl": pipe.recommend(users),
        "oracle": truth.best_lists(users, n=10),
    }
    return shop, truth, users, policies


def binomial_se(p: float, n: int) -> float:
    return float(np.sqrt(p * (1 - p) / n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=500, help="A/B experiments and A/A tests (default 500)")
    args = ap.parse_args()
    n = args.experiments
    start = time.perf_counter()
    shop, truth, users, policies = world()
    setup_seconds = time.perf_counter() - start

    rows = []
    for seed in range(n):
        res = ex.simulate_ab_test(shop, policies, truth=truth, users=users, n_days=14, pre_days=14, seed=seed)
        for metric in METRICS:
            for label, cov in (("plain", None), ("cuped", f"pre_{metric}")):
                s = ex.ab_summary(res, metric, covariate=cov)
                for t, r in s.iterrows():
                    rows.append(
                        (
                            metric,
                            label,
                            t,
                            r["covers_truth"],
                            r["ci_high"] - r["ci_low"],
                            r["p_value"] < 0.05,
                            r["lift"],
                            r["true_lift"],
                            r["true_relative_lift"],
                            r.get("variance_reduction", 0.0),
                            r["se"],
                        )
                    )
    import pandas as pd

    df = pd.DataFrame(
        rows,
        columns=[
            "metric",
            "analysis",
            "treatment",
            "covers",
            "width",
            "significant",
            "lift",
            "true_lift",
            "true_relative_lift",
            "variance_reduction",
            "se",
        ],
    )
    z = stats.norm.ppf(0.975)
    figures: dict = {
        "experiments": n,
        "users": len(users),
        "buckets": len(policies),
        "n_days": 14,
        "pre_days": 14,
        "visit_rate": 0.3,
        "policies": list(policies),
        "control": "popularity",
        "ab": {},
    }
    for (metric, analysis, t), g in df.groupby(["metric", "analysis", "treatment"], sort=False):
        cov = float(g["covers"].mean())
        # Power a normal test has for this true lift at the average standard error.
        planned = float(stats.norm.cdf(abs(g["true_lift"].iloc[0]) / g["se"].mean() - z))
        figures["ab"].setdefault(metric, {}).setdefault(analysis, {})[t] = {
            "coverage": round(cov, 4),
            "coverage_se": round(binomial_se(cov, n), 4),
            "mean_ci_width": round(float(g["width"].mean()), 5),
            "power": round(float(g["significant"].mean()), 4),
            "planned_power": round(planned, 4),
            "mean_lift": round(float(g["lift"].mean()), 5),
            "true_lift": round(float(g["true_lift"].iloc[0]), 5),
            "true_relative_lift": round(float(g["true_relative_lift"].iloc[0]), 4),
            "mean_variance_reduction": round(float(g["variance_reduction"].mean()), 4),
        }
    all_cov = df.groupby(["metric", "analysis"])["covers"].mean()
    # The lowest coverage of any (metric, analysis, treatment) cell, the figure the notebook quotes.
    figures["coverage_min"] = round(float(df.groupby(["metric", "analysis", "treatment"])["covers"].mean().min()), 4)
    figures["coverage_by_metric"] = {f"{m}/{a}": round(float(v), 4) for (m, a), v in all_cov.items()}

    aa = []
    for i in range(n):
        res = ex.simulate_ab_test(
            shop,
            {"A": policies["popularity"], "A2": policies["popularity"]},
            truth=truth,
            users=users,
            n_days=14,
            pre_days=14,
            seed=10_000 + i,
        )
        for metric in METRICS:
            for label, cov in (("plain", None), ("cuped", f"pre_{metric}")):
                r = ex.ab_summary(res, metric, covariate=cov).loc["A2"]
                aa.append((metric, label, r["p_value"] < 0.05))
    aa_df = pd.DataFrame(aa, columns=["metric", "analysis", "reject"])
    figures["aa"] = {
        f"{m}/{a}": {
            "false_positive_rate": round(float(g["reject"].mean()), 4),
            "se": round(binomial_se(float(g["reject"].mean()), n), 4),
        }
        for (m, a), g in aa_df.groupby(["metric", "analysis"])
    }
    figures["setup_seconds"] = round(setup_seconds, 1)
    figures["seconds"] = round(time.perf_counter() - start, 1)
    path = write_results("ab_coverage", figures)
    print(f"wrote {path}")
    print("coverage:", figures["coverage_by_metric"])
    print("A/A false-positive rates:", {k: v["false_positive_rate"] for k, v in figures["aa"].items()})


if __name__ == "__main__":
    main()
