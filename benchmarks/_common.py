"""What every benchmark records beside its figures: the machine, the date and the command."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """The processor's model name from /proc/cpuinfo, or what ``platform`` knows elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine() -> str:
    """A one-line description of the machine, e.g. ``Linux x86_64, 2 cores, 24 GiB, Python 3.11.7``."""
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        mem_s = f", {mem:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        mem_s = ""
    cpu = cpu_model()
    cpu_s = f", {cpu}" if cpu else ""
    return (
        f"{platform.system()} {platform.machine()}{cpu_s}, {os.cpu_count()} cores{mem_s}, "
        f"Python {platform.python_version()}"
    )


def machine_details() -> dict:
    """The machine as a dict (processor, cores, Python, NumPy, SciPy, platform)."""
    import numpy as np
    import scipy

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "platform": platform.platform(),
    }


def write_results(name: str, figures: dict) -> Path:
    """Write ``benchmarks/results/<name>.json`` atomically with machine, date and command."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        **figures,
        "machine": machine(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
        "command": " ".join(["python", *sys.argv]),
    }
    target = RESULTS / f"{name}.json"
    fd, tmp = tempfile.mkstemp(dir=RESULTS, prefix=f".{name}.", suffix=".json")
    os.fchmod(fd, 0o644)  # mkstemp makes the file private; results are for everyone to read
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh, indent=1, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, target)
    return target
