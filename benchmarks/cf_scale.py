"""Cost of the sparse item-item model as data grow: 100K, 1M and 10M interactions.

Data: a simple power-law generator (seeded): item popularity follows Zipf's law
(p_i ~ 1 / rank^0.9), user activity is log-normal, duplicates are dropped. Sizes:
100K interactions over 5,000 items, 1M over 20,000 items, 10M over 100,000 items
(a dense 100,000 x 100,000 float64 matrix would need 80 GB).

Measured: wall time and peak memory of ``mt.cf.topk_item_similarity`` (cosine, k=50,
row and similarity normalisation), each size in a fresh subprocess: after a warm-up on a
1% slice, one plain run for the wall time, then one run under tracemalloc for
the peak memory of the step (every NumPy / SciPy buffer it allocates, the input's copies
included). The process's peak resident set size (``ru_maxrss``, which also counts the
interpreter, the libraries and the generated data) is reported as well.

Writes benchmarks/results/cf_scale.json.

Usage: .venv/bin/python benchmarks/cf_scale.py [--sizes 100000 1000000 10000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from _common import machine_details as machine_info  # benchmarks/ is on sys.path

RESULTS = Path(__file__).resolve().parent / "results"
ITEMS_FOR = {100_000: 5_000, 1_000_000: 20_000, 10_000_000: 100_000}
K = 50


def power_law_interactions(n: int, n_items: int, seed: int = 0):
    """users x items CSR matrix of about n distinct interactions with power-law popularity."""
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    n_users = max(n // 20, 1)
    activity = rng.lognormal(mean=0.0, sigma=1.0, size=n_users)
    users = rng.choice(n_users, size=n, p=activity / activity.sum())
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.9
    items = rng.choice(n_items, size=n, p=pop / pop.sum())
    x = sp.csr_matrix((np.ones(n, dtype=np.float64), (users, items)), shape=(n_users, n_items))
    x.sum_duplicates()
    x.data[:] = 1.0
    return x


def child(n: int) -> None:
    """Run one size and print a JSON line (runs in its own process)."""
    import resource
    import time
    import tracemalloc

    import mtrec_lib as mt

    x = power_law_interactions(n, ITEMS_FOR.get(n, max(n // 100, 10)))
    # Warm-up on a slice (first calls pay for lazy imports and page faults), then one timed
    # run without tracing, then one run under tracemalloc for the peak of the step alone.
    mt.cf.topk_item_similarity(x[: max(x.shape[0] // 100, 1)], k=K)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    sim = mt.cf.topk_item_similarity(x, k=K, similarity="cosine")
    seconds = time.perf_counter() - t0
    del sim
    tracemalloc.start()
    sim = mt.cf.topk_item_similarity(x, k=K, similarity="cosine")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n_items = x.shape[1]
    print(
        json.dumps(
            {
                "interactions_nominal": n,
                "interactions": int(x.nnz),
                "users": int(x.shape[0]),
                "items": int(n_items),
                "k": K,
                "seconds": round(seconds, 3),
                "similarity_peak_mb_tracemalloc": round(peak / 2**20, 1),
                "process_peak_rss_mb": round(rss_after / 1024, 1),
                "process_peak_rss_mb_before_similarity": round(rss_before / 1024, 1),
                "model_nnz": int(sim.nnz),
                "model_mb": round((sim.data.nbytes + sim.indices.nbytes + sim.indptr.nbytes) / 2**20, 1),
                "dense_items_x_items_would_need_mb": round(n_items**2 * 8 / 2**20, 1),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=list(ITEMS_FOR))
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    rows = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {
        "what": "mt.cf.topk_item_similarity(cosine, k=50) on power-law interactions, one subprocess per size",
        "sizes": {str(r["interactions_nominal"]): r for r in rows},
        "machine": machine_info(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cf_scale.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
