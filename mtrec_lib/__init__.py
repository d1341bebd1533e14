"""mtrec_lib: the helper library of the book *Multi-Task Recommenders*.

Submodules load on first use, so ``import mtrec_lib as mt; mt.data`` does not pay
for importing TensorFlow; ``mt.models`` and ``mt.MultiTaskLearning`` do. The scale
machinery (Parquet shards, multi-worker training) is the optional subpackage ``mt.scale``.

Examples
--------
>>> import importlib.metadata
>>> import mtrec_lib as mt
>>> mt.__version__ == importlib.metadata.version("mtrec_lib")   # the one place the version is written
True
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from mtrec_lib import _quiet_tensorflow

# TensorFlow's C++ start-up messages (CUDA probing on a CPU-only laptop) would otherwise be
# printed into every notebook page that trains a model. Set before TensorFlow is imported;
# a reader who wants them back sets TF_CPP_MIN_LOG_LEVEL=0 before importing mtrec_lib.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The lines TensorFlow prints before that setting applies: muted during its first import, whatever
# imports it (mt.models, `import keras`, `import tensorflow`), without importing it now.
_quiet_tensorflow.install()

# The one place the version is written: pyproject.toml reads it ([tool.setuptools.dynamic]).
__version__ = "0.1.0"

_SUBMODULES = (
    "data",
    "metrics",
    "cf",
    "models",
    "rerank",
    "pipeline",
    "calibration",
    "experiment",
    "explain",
    "progress",
    "scale",
)
__all__ = [*_SUBMODULES, "MultiTaskLearning", "__version__"]


def __getattr__(name: str) -> Any:
    # PEP 562 lazy loading: TensorFlow is imported only when a model is needed.
    if name in _SUBMODULES:
        return importlib.import_module(f"mtrec_lib.{name}")
    if name == "MultiTaskLearning":
        return importlib.import_module("mtrec_lib.models").MultiTaskLearning
    raise AttributeError(f"module 'mtrec_lib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
