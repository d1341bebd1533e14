"""Data for the book: simulators, MovieLens 100K, splits and the shipped files.

This is the ground layer of :mod:`mtrec_lib`: it imports nothing of the library
above it, and :mod:`mtrec_lib.data.validate` is the one place that checks frames.

Public API
----------
- :func:`simulate_shop` (click -> purchase), :func:`simulate_social`
  (like, comment, share), :func:`simulate_media` (click, watch time): return a
  :class:`SimulatedLog` with ``.data`` (what is logged), ``.truth`` (the
  generating probabilities), ``.users``, ``.items`` and ``.world``, the
  :class:`SimulatedWorld` (``ShopWorld``, ``SocialWorld``, ``MediaWorld``) whose
  ``probabilities(users, items, position=..., device=...)`` is the model the log was drawn from.
- :func:`make_correlated_tasks`: the MMoE paper's two-task regression generator.
- :func:`load_movielens_100k`: MovieLens 100K as canonical, checksummed tables.
- :func:`load_census_income`: UCI Census-Income (KDD), the MMoE paper's real
  benchmark, as canonical, checksummed tables; :func:`census_tasks` builds the
  paper's two task groups (income / never married, college / never married).
- :func:`split`: random, stratified, leave-last-out and temporal splits.
- :func:`data_path`, :func:`make_user_behavior`: the shipped ``user_behavior.csv``.
- :mod:`~mtrec_lib.data.frames`: the column names (``user_id``, ``item_id``, ...) and the
  per-user ranking every module shares.

Data that does not fit in memory (Parquet shards, streaming ``tf.data``) is not here but in
:mod:`mtrec_lib.scale`, so that this layer never imports TensorFlow or pyarrow.

Examples
--------
>>> import mtrec_lib as mt
>>> shop = mt.data.simulate_shop(n_users=200, n_items=50, n_impressions=2_000, seed=0)
>>> train, test = mt.data.split(shop.data, method="temporal", test_size=0.25)
>>> len(train) + len(test)
2000
"""

from __future__ import annotations

from . import frames, validate
from .cache import cache_dir
from .census import CensusIncome, census_checksum, census_tasks, load_census_income
from .movielens import GENRES, DataIntegrityError, MovieLens100K, load_movielens_100k, ratings_checksum
from .shipped import data_path, make_user_behavior
from .simulate import (
    MediaWorld,
    ShopWorld,
    SimulatedLog,
    SimulatedWorld,
    SocialWorld,
    simulate_media,
    simulate_shop,
    simulate_social,
)
from .splits import split
from .synthetic import make_correlated_tasks, sinusoid_parameters

__all__ = [
    "validate",
    "frames",
    "SimulatedLog",
    "SimulatedWorld",
    "ShopWorld",
    "SocialWorld",
    "MediaWorld",
    "simulate_shop",
    "simulate_social",
    "simulate_media",
    "make_correlated_tasks",
    "sinusoid_parameters",
    "MovieLens100K",
    "load_movielens_100k",
    "ratings_checksum",
    "DataIntegrityError",
    "GENRES",
    "CensusIncome",
    "load_census_income",
    "census_tasks",
    "census_checksum",
    "split",
    "data_path",
    "make_user_behavior",
    "cache_dir",
]
