"""The scale subpackage stands apart: the ground layer never imports TensorFlow, the core never imports scale."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import mtrec_lib as mt


def _fresh(code: str) -> str:
    """Run ``code`` in a new interpreter (sys.modules of this test session are already full)."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


def test_ground_layer_imports_no_tensorflow():
    out = _fresh(
        "import sys, mtrec_lib.data, mtrec_lib.metrics\n"
        "mtrec_lib.data.simulate_shop(n_users=20, n_items=10, n_impressions=200, seed=0)\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'mtrec_lib.scale') if m in sys.modules))"
    )
    assert out == "[]"


def test_ground_layer_source_uses_no_tensorflow_even_lazily():
    # A function-level "import tensorflow" would pass the test above until someone calls it.
    root = Path(mt.__file__).parent
    files = [*sorted((root / "data").glob("*.py")), root / "metrics.py"]
    found = [
        f"{f.relative_to(root)}:{n}"
        for f in files
        for n, line in enumerate(f.read_text().splitlines(), 1)
        if re.match(r"\s*(import|from)\s+(tensorflow|keras|pyarrow|mtrec_lib\.scale)\b", line)
    ]
    assert found == []


def test_core_never_imports_the_scale_package():
    core = ["data", "metrics", "cf", "models", "rerank", "pipeline", "calibration", "experiment", "explain"]
    out = _fresh(
        "import importlib, sys\n"
        f"for name in {core!r}: importlib.import_module('mtrec_lib.' + name)\n"
        "print('mtrec_lib.scale' in sys.modules, 'tensorflow' in sys.modules)"
    )
    assert out == "False True"  # the models did load TensorFlow: the check above is not vacuous


def test_the_launcher_module_imports_no_tensorflow():
    # A launcher process must not start TensorFlow (a worker imports it only after TF_CONFIG is set).
    out = _fresh(
        "import sys\n"
        "from mtrec_lib.scale import distributed as dist, shards as sh\n"
        "print('tensorflow' in sys.modules, callable(dist.launch_workers), sh.MANIFEST)"
    )
    assert out == "False True manifest.json"


def test_scale_is_a_lazy_submodule_and_the_old_names_are_gone():
    assert "scale" in dir(mt) and mt.scale.shards.open_shards.__module__ == "mtrec_lib.scale.shards"
    assert mt.scale.distributed.launch_workers.__module__ == "mtrec_lib.scale.distributed"
    assert mt.scale.distributed.fit_dataset.__module__ == "mtrec_lib.models.streaming"
    with pytest.raises(AttributeError, match="distributed"):
        mt.distributed  # noqa: B018
    with pytest.raises(AttributeError, match="shards"):
        mt.data.shards  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mt.scale.nope  # noqa: B018
