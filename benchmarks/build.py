"""Cold and cached build of the whole book, and the time each notebook takes.

    python benchmarks/build.py            # cold build (deletes book/_build), then a cached rebuild

Budgets (issue "Foundation"): cold build of the finished book under 10 minutes on 2 cores,
cached rebuild with nothing changed under 30 s, each notebook under 120 s. Results go to
benchmarks/results/build.json.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from _common import write_results

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "book" / "_build"
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402  (the one definition of the build command)


def timed_build() -> float:
    start = time.perf_counter()
    subprocess.run(build_book.command(), cwd=ROOT, env=build_book.environment(), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def notebook_seconds() -> dict[str, float]:
    with sqlite3.connect(BUILD / ".jupyter_cache" / "global.db") as con:
        rows = con.execute("SELECT uri, data FROM nbcache").fetchall()
    return {Path(uri).relative_to(ROOT).as_posix(): round(json.loads(d)["execution_seconds"], 1) for uri, d in rows}


def main() -> None:
    subprocess.run([sys.executable, "scripts/vendor_assets.py"], cwd=ROOT, check=True)
    shutil.rmtree(BUILD, ignore_errors=True)
    cold = timed_build()
    cached = timed_build()
    per_nb = notebook_seconds()
    figures = {
        "cold_build_seconds": round(cold, 1),
        "cached_build_seconds": round(cached, 1),
        "notebook_seconds": per_nb,
        "slowest_notebook_seconds": max(per_nb.values(), default=0.0),
        "n_notebooks": len(per_nb),
    }
    print(json.dumps(figures, indent=1))
    print("wrote", write_results("build", figures))


if __name__ == "__main__":
    main()
