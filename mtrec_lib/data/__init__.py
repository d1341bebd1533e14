"""Data for the book: simulators, MovieLens 100K, splits and the shipped files.

This is the ground layer of :mod:`mtrec_lib`: it imports nothing of the library
above it, and :mod:`mtrec_lib.data.validate` is the one place that checks frames.

Examples
--------
>>> import mtrec_lib as mt
>>> shop = mt.data.simulate_shop(n_users=200, n_items=50, n_impressions=2_000, seed=0)
>>> train, test = mt.data.split(shop.data, method="temporal", test_size=0.25)
>>> len(train) + len(test)
2000
"""
from __future__ import annotations

from . import validate
from .simulate import SimulatedLog, simulate_media, simulate_shop, simulate_social
from .synthetic import make_correlated_tasks

__all__ = [
    "validate",
    "SimulatedLog",
    "simulate_shop",
    "simulate_social",
    "simulate_media",
    "make_correlated_tasks",
]

# The loader, splits and shipped files land in their own modules; import what exists.
try:
    from .movielens import MovieLens100K, load_movielens_100k  # noqa: F401
    __all__ += ["MovieLens100K", "load_movielens_100k"]
except ImportError:  # pragma: no cover - only while the module is being written
    pass
try:
    from .split import split  # noqa: F401
    __all__ += ["split"]
except ImportError:  # pragma: no cover
    pass
try:
    from .shipped import data_path, make_user_behavior  # noqa: F401
    __all__ += ["data_path", "make_user_behavior"]
except ImportError:  # pragma: no cover
    pass
