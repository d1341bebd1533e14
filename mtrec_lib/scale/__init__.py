"""Scale machinery: data that does not fit in memory, and training on several workers.

Most of the book runs on DataFrames that fit in memory; this subpackage is for when they
do not. It stands apart from the core library (the optional extra ``scale``:
``pip install "mtrec_lib[scale]"`` brings pyarrow), and no core module imports it: the
estimator itself accepts a ``tf.data.Dataset``, which is all the scale code hands it.

* :mod:`mtrec_lib.scale.shards`: Parquet shards with a manifest and one-pass column
  statistics, read back as a DataFrame or as a streaming ``tf.data.Dataset``.
* :mod:`mtrec_lib.scale.distributed`: training from shards, ``tf.distribute`` strategies
  and a launcher for ``TF_CONFIG`` worker processes.

Both submodules load on first use, like the subpackages of :mod:`mtrec_lib`.

Examples
--------
>>> import mtrec_lib as mt
>>> mt.scale.shards.MANIFEST
'manifest.json'
>>> sorted(mt.scale.__all__)
['distributed', 'shards']
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["shards", "distributed"]


def __getattr__(name: str) -> Any:
    # PEP 562 lazy loading: ``distributed`` imports TensorFlow (through the estimator's
    # streaming code); ``shards`` imports pyarrow only when it reads or writes.
    if name in __all__:
        return importlib.import_module(f"mtrec_lib.scale.{name}")
    raise AttributeError(f"module 'mtrec_lib.scale' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
