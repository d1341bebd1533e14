"""Record how long each cell runs while the book builds (scripts/build_book.py sets the file).

One JSON line per executed cell: the SHA-256 of its source and its wall seconds. The page
checks (tests/test_pages_craft.py) read the file to insist that a cell running longer than
20 seconds shows progress in JupyterLab. Without ``MTREC_CELL_TIMES`` nothing is recorded.
"""


def _record_cell_times() -> None:
    import hashlib
    import json
    import os
    import time

    path = os.environ.get("MTREC_CELL_TIMES")
    if not path:
        return
    shell = get_ipython()  # noqa: F821  (defined in IPython's start-up namespace)
    started: dict = {}

    def before(info) -> None:
        started["source"], started["t"] = info.raw_cell, time.perf_counter()

    def after(result) -> None:
        seconds = time.perf_counter() - started.pop("t", time.perf_counter())
        digest = hashlib.sha256(started.pop("source", "").encode("utf-8")).hexdigest()
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"sha256": digest, "seconds": round(seconds, 2)}) + "\n")

    shell.events.register("pre_run_cell", before)
    shell.events.register("post_run_cell", after)


_record_cell_times()
del _record_cell_times  # leave the notebook's namespace as it was
