"""Cold and cached build of the whole book (both editions), and the time each notebook takes.

    python benchmarks/build.py            # cold build (deletes book/_build), then a cached rebuild

Budgets: cold build of both editions (English and 中文, the notebooks executed once) under
10 minutes on 2 cores, cached rebuild of both with nothing changed under 60 s, each notebook
under 120 s. Each edition's share is timed too (``scripts/build_book.py --edition``). Results go
to benchmarks/results/build.json.
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


def timed_build(*args: str) -> float:
    """Seconds of ``make book`` (both editions), or of one edition with ``"--edition", "zh"``."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "scripts/build_book.py", *args],
        cwd=ROOT,
        env=build_book.environment(),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def notebook_seconds() -> dict[str, float]:
    with sqlite3.connect(BUILD / ".jupyter_cache" / "global.db") as con:
        rows = con.execute("SELECT uri, data FROM nbcache").fetchall()
    return {Path(uri).relative_to(ROOT).as_posix(): round(json.loads(d)["execution_seconds"], 1) for uri, d in rows}


def main() -> None:
    subprocess.run([sys.executable, "scripts/vendor_assets.py"], cwd=ROOT, check=True)
    shutil.rmtree(BUILD, ignore_errors=True)
    cold = timed_build()
    # The Chinese edition's share of a cold build: its doctrees and pages from scratch, the
    # notebooks' outputs from the cache the English build just filled.
    shutil.rmtree(build_book.ZH_BUILD)
    cold_chinese = timed_build("--edition", "zh")
    cached = [timed_build() for _ in range(3)]
    per_nb = notebook_seconds()
    figures = {
        "editions": ["en", "zh_CN"],
        "cold_build_seconds": round(cold, 1),
        "cached_build_seconds": round(sorted(cached)[1], 1),
        "cached_build_seconds_runs": [round(c, 1) for c in cached],
        "chinese_edition_rebuilt_from_scratch_seconds": round(cold_chinese, 1),
        "notebook_seconds": per_nb,
        "slowest_notebook_seconds": max(per_nb.values(), default=0.0),
        "n_notebooks": len(per_nb),
    }
    print(json.dumps(figures, indent=1))
    print("wrote", write_results("build", figures))


if __name__ == "__main__":
    main()
