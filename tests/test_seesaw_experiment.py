"""Chapter 3's seesaw experiment: the benchmark's pure functions, its record, the notebook's numbers.

The fast tests exercise ``benchmarks/seesaw.py``'s aggregation on hand-made runs (Pareto
front, seesaw rule, paired gains, PLE against MMoE) and build the synthetic setting's networks
to check their sizes, without training. ``test_seesaw_record_matches_runs`` recomputes every
aggregate of ``benchmarks/results/seesaw.json`` from ``seesaw_runs.jsonl``.
``test_seesaw_notebook`` reads the ``RESULT {json}`` line of the executed notebook from the
book build (tests/conftest.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import notebook_results

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import seesaw  # noqa: E402

NOTEBOOK = "notebooks/ch03_experiments/05_seesaw.ipynb"
RESULTS = ROOT / "benchmarks" / "results" / "seesaw.json"


# ---------------------------------------------------------------------------- pure functions
def test_pareto_front_hand_example():
    pts = {
        "a": (0.9, 0.5),
        "b": (0.5, 0.9),
        "c": (0.7, 0.7),
        "d": (0.6, 0.6),  # d below c
        "e": (0.9, 0.4),  # same task 1 as a, worse task 2: dominated by a
        "f": (0.7, 0.7),  # tie with c: both kept
        "g": (None, 1.0),
    }  # missing coordinate: ignored
    assert seesaw.pareto_front(pts, higher_is_better=True) == ["a", "b", "c", "f"]
    # lower is better (MSE): the mirror image
    assert seesaw.pareto_front({n: (-a, -b) for n, (a, b) in pts.items() if a is not None}, higher_is_better=False) == [
        "a",
        "b",
        "c",
        "f",
    ]
    assert seesaw.pareto_front({"only": (1.0, 1.0)}) == ["only"]
    assert seesaw.pareto_front({}) == []


def test_seesaw_rule():
    def g(mean, sd):
        return {"mean": mean, "sd": sd}

    assert seesaw.is_seesaw(g(0.3, 0.1), g(-0.3, 0.1))
    assert seesaw.is_seesaw(g(-0.3, 0.1), g(0.3, 0.1))
    assert not seesaw.is_seesaw(g(0.3, 0.1), g(-0.05, 0.1))  # the loss is within 1 sd
    assert not seesaw.is_seesaw(g(0.3, 0.1), g(0.3, 0.1))  # both better
    assert not seesaw.is_seesaw(g(-0.3, 0.1), g(-0.3, 0.1))  # both worse: negative transfer, no seesaw
    assert not seesaw.is_seesaw(g(0.3, None), g(-0.3, None))  # one seed: no sd, no verdict
    assert not seesaw.is_seesaw(g(0.1, 0.1), g(-0.3, 0.1))  # exactly 1 sd is not above it


def test_gain_orientation_and_point_names():
    assert seesaw.gain(0.90, 0.88, higher_is_better=True) == pytest.approx(0.02)
    assert seesaw.gain(0.50, 0.60, higher_is_better=False) == pytest.approx(0.10)  # lower MSE: positive
    assert seesaw.point_name("pcgrad", None) == "pcgrad" and seesaw.point_name("fixed", 0.25) == "w0.25"
    assert seesaw.method_kwargs("fixed", 0.1, ("a", "b")) == {"loss_weights": {"a": 0.2, "b": 1.8}}
    assert seesaw.method_kwargs("mgda", None, ("a", "b")) == {"gradient": "mgda"}
    assert seesaw.method_kwargs("dwa", None, ("a", "b")) == {"loss_weights": "dwa"}


def _run(setting, arch, method, seed, m1, m2, weight=None, cos=0.0):
    metric = seesaw.SETTINGS[setting]["metric"]
    t1, t2 = seesaw.SETTINGS[setting]["tasks"]
    return {
        "signature": "sig",
        "setting": setting,
        "arch": arch,
        "method": method,
        "weight": weight,
        "seed": seed,
        f"test_{metric}_{t1}": m1,
        f"test_{metric}_{t2}": m2,
        f"val_{metric}_{t1}": m1,
        f"val_{metric}_{t2}": m2,
        "params": 100,
        "epochs_run": 3,
        "fit_seconds": 1.0,
        "grad_cos_mean": cos,
        "grad_cos_first": cos + 0.1,
        "grad_cos_last": cos - 0.1,
        "learned_weights": None,
    }


def test_paired_gain_aggregation():
    """Census orientation (AUC, higher is better), three seeds, hand-computable numbers."""
    runs = []
    single = {0: (0.80, 0.90), 1: (0.82, 0.91), 2: (0.81, 0.92)}
    for s, (a, b) in single.items():
        runs.append(_run("census", "single_task", "sum", s, a, b))
        # MMoE sum: task 1 +0.02 on every seed, task 2 -0.01 +- tiny: the seesaw
        runs.append(_run("census", "mmoe", "sum", s, a + 0.02, b - 0.01 - 0.001 * s, cos=-0.2))
        # PLE sum: both +0.005: no seesaw, better than MMoE on task 2, worse on task 1
        runs.append(_run("census", "ple", "sum", s, a + 0.005, b + 0.005, cos=0.1))
        # a sweep point of MMoE that is worse everywhere
        runs.append(_run("census", "mmoe", "fixed", s, a - 0.05, b - 0.05, weight=0.1))
    runs.append({**_run("census", "mmoe", "pcgrad", 0, 0.9, 0.9), "signature": "other"})  # other signature
    agg = seesaw.aggregate_setting(runs, "census", "sig", seeds=[0, 1, 2], archs=("mmoe", "ple"))
    t1, t2 = agg["tasks"]
    assert agg["n_runs"] == 12 and set(agg["points"]) == {"mmoe/sum", "ple/sum", "mmoe/w0.1"}
    m = agg["points"]["mmoe/sum"]
    assert m["gain"][t1]["mean"] == pytest.approx(0.02) and m["gain"][t1]["sd"] == pytest.approx(0.0, abs=1e-9)
    assert m["gain"][t2]["per_seed"] == pytest.approx([-0.010, -0.011, -0.012])
    assert m["gain"][t2]["sd"] == pytest.approx(float(np.std([-0.010, -0.011, -0.012], ddof=1)))
    assert m["seesaw"] and not m["both_gains_positive"] and agg["seesaw_points"] == ["mmoe/sum"]
    assert m["grad_cos"]["mean"] == pytest.approx(-0.2) and m["grad_cos"]["first"] == pytest.approx(-0.1)
    p = agg["points"]["ple/sum"]
    assert not p["seesaw"] and p["both_gains_positive"] and agg["both_gains_positive_points"] == ["ple/sum"]
    # single-task means (0.81, 0.91): MMoE sum (0.83, 0.899) and PLE (0.815, 0.915) are on the front,
    # single-task is dominated by PLE, the sweep point by everything
    assert agg["pareto_front"]["overall"] == ["mmoe/sum", "ple/sum"]
    assert not agg["pareto_front"]["single_task_on_front"]
    assert agg["pareto_front"]["per_arch"] == {"mmoe": ["mmoe/sum"], "ple": ["ple/sum"]}
    assert m["pareto_overall"] and not agg["points"]["mmoe/w0.1"]["pareto_arch"]
    # PLE - MMoE: task 1 -0.015 each seed, task 2 +0.015 .. +0.017
    d = agg["ple_vs_mmoe"]["sum"]
    assert d["difference"][t1]["mean"] == pytest.approx(-0.015)
    assert d["difference"][t2]["mean"] == pytest.approx(0.016)
    assert not d["ple_better_on_both"] and not d["ple_worse_on_both"]
    assert d["ple_both_gains_positive"] and not d["mmoe_both_gains_positive"]
    assert d["mmoe_seesaw"] and not d["ple_seesaw"]
    assert set(agg["ple_vs_mmoe"]) == {"sum"}  # only points both architectures ran


def test_mse_orientation():
    """Synthetic orientation: lower MSE is better, gain = single - model."""
    runs = [_run("synthetic", "single_task", "sum", s, 0.6, 0.6) for s in (0, 1)]
    runs += [_run("synthetic", "shared_bottom", "sum", s, 0.5, 0.7 + 0.01 * s) for s in (0, 1)]
    agg = seesaw.aggregate_setting(runs, "synthetic", "sig", seeds=[0, 1], archs=("shared_bottom",))
    g = agg["points"]["shared_bottom/sum"]["gain"]
    assert g["y1"]["mean"] == pytest.approx(0.1) and g["y2"]["mean"] == pytest.approx(-0.105)
    assert agg["points"]["shared_bottom/sum"]["seesaw"]
    assert agg["pareto_front"]["overall"] == ["shared_bottom/sum", "single_task"]


def test_jobs_and_protocol():
    jobs = seesaw.make_jobs(["synthetic", "census"], seesaw.ARCHS, [0, 1, 2], seesaw.SWEEP_WEIGHTS)
    # per setting: 4 archs x (5 methods + 4 sweep weights) x 3 seeds + 3 single-task
    assert len(jobs) == 2 * (4 * 9 * 3 + 3)
    assert len({seesaw.run_key(j) for j in jobs}) == len(jobs)
    assert jobs[0]["seed"] == 0 and jobs[-1]["seed"] == 2  # seed-major
    syn = seesaw.protocol("synthetic")
    assert (syn["n_train"], syn["n_val"], syn["n_test"], syn["max_epochs"], syn["patience"]) == (
        20_000,
        5_000,
        5_000,
        30,
        4,
    )
    assert syn["common"]["batch_size"] == 256 and syn["task_correlation"] == 0.0 and syn["n_sin"] == 2
    assert set(syn["learning_rates"].values()) == {3e-3}  # one learning rate for every model
    cen = seesaw.protocol("census")
    assert (cen["train_rows"], cen["max_epochs"], cen["patience"], cen["common"]["batch_size"]) == (50_000, 20, 2, 1024)
    assert set(cen["learning_rates"].values()) == {3e-3} and cen["tasks"] == ["college", "never_married"]
    assert seesaw.protocol("census", quick=True)["train_rows"] == 2_000


def test_synthetic_sizes_within_5_percent_of_mmoe():
    """Equal sizes: every synthetic model within 5% of MMoE's parameter count (no training)."""
    import keras

    import mtrec_lib as mt
    from mtrec_lib.models.architectures import DEFAULT_HYPERPARAMETERS, build_network
    from mtrec_lib.models.features import FeatureSpec

    frame = mt.data.make_correlated_tasks(64, 0.0, n_features=100, seed=0)
    tasks = {"y1": "regression", "y2": "regression"}
    spec = FeatureSpec.infer(frame, None, exclude=list(tasks))
    arrays = spec.to_arrays(frame, "frame")
    proto = seesaw.protocol("synthetic")
    counts = {}
    for arch, sizes in proto["architectures"].items():
        hp = {**DEFAULT_HYPERPARAMETERS, **proto["common"], **sizes}
        hp = {k: (tuple(v) if isinstance(v, list) else v) for k, v in hp.items()}
        keras.utils.set_random_seed(0)
        net, _ = build_network(arch, tasks, spec, arrays, hp)
        counts[arch] = int(sum(np.prod(w.shape) for w in net.trainable_weights))
    assert counts["mmoe"] == 14_818
    for arch, n in counts.items():
        assert abs(n / counts["mmoe"] - 1) < 0.05, (arch, n)


# ---------------------------------------------------------------------------- the record
def _record() -> dict:
    if not RESULTS.exists():
        pytest.skip("benchmarks/results/seesaw.json not written yet (python benchmarks/seesaw.py)")
    return json.loads(RESULTS.read_text())


def test_seesaw_record_matches_runs():
    rec = _record()
    proto = rec["protocol"]
    assert not proto["quick"] and proto["seeds"] == [0, 1, 2]
    runs_file = ROOT / proto["runs_file"]
    runs = seesaw.read_runs(runs_file)
    assert runs, f"{runs_file} is empty"
    settings = {
        name: {"signature": agg["signature"], "seeds": agg["seeds"], "archs": proto["archs"]}
        for name, agg in rec["results"].items()
    }
    # the record is what the runs give: every aggregate recomputed equal
    assert seesaw.aggregate(runs, settings) == rec["results"]
    for name, agg in rec["results"].items():
        assert agg["signature"] == seesaw.signature(proto["settings"][name])
        # the full grid: every arch x (methods + sweep weights), every seed, paired with single-task
        assert len(agg["points"]) == len(proto["archs"]) * (len(proto["methods"]) + len(proto["sweep_weights"]))
        assert agg["single_task"]["seeds"] == proto["seeds"]
        mmoe = agg["points"]["mmoe/sum"]["params"]
        for n, p in agg["points"].items():
            assert p["paired_seeds"] == proto["seeds"], (name, n)
            assert abs(p["params"] / mmoe - 1) < 0.05, (name, n, p["params"])  # equal sizes
            assert p["grad_cos"]["mean"] is not None and -1 <= p["grad_cos"]["mean"] <= 1, (name, n)
        assert abs(agg["single_task"]["params"] / mmoe - 1) < 0.05
    floors = rec["results"]["synthetic"]["floors"] if "synthetic" in rec["results"] else None
    if floors:  # the noise floor of the generator is 0.01 per task; least squares is far above it
        for t in ("y1", "y2"):
            assert 0.008 < floors[f"noise_mse_{t}"] < 0.012
            assert floors[f"linear_mse_{t}"] > 0.5  # two sinusoids: about 0.68
            # the networks learn what a straight line cannot
            assert rec["results"]["synthetic"]["single_task"]["metric"][t]["mean"] < 0.2 * floors[f"linear_mse_{t}"]


# ---------------------------------------------------------------------------- the notebook
@pytest.mark.slow
def test_seesaw_notebook(built_site):
    r = notebook_results(NOTEBOOK)
    rec = _record()
    assert r["results_file"] == "benchmarks/results/seesaw.json"  # the book shows the full record
    assert r["seeds"] == rec["protocol"]["seeds"]
    for name, agg in rec["results"].items():
        # the table and the plots show the record's numbers unchanged
        for n, p in agg["points"].items():
            for t in agg["tasks"]:
                assert r["gain"][name][n][t] == [p["gain"][t]["mean"], p["gain"][t]["sd"]], (name, n, t)
        assert r["pareto_front"][name] == agg["pareto_front"]["overall"]
        assert r["seesaw_points"][name] == agg["seesaw_points"]
        assert r["ple_vs_mmoe"][name] == {
            m: [d["difference"][t]["mean"] for t in agg["tasks"]] for m, d in agg["ple_vs_mmoe"].items()
        }
        assert r["grad_cos_sum"][name] == {a: v["mean"] for a, v in agg["grad_cos_summary"]["sum_by_arch"].items()}
    # the live demonstration: one shared-bottom fit with each of sum and PCGrad, cosines logged
    demo = r["demo"]
    assert set(demo) == {"sum", "pcgrad"}
    for d in demo.values():
        assert d["epochs"] >= 1 and -1 <= d["grad_cos_mean"] <= 1 and d["test_mse_y1"] > 0
    assert r["cpu_seconds"] < 60
