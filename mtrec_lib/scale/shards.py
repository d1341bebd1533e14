"""Data that does not fit in memory: Parquet shards and a streaming ``tf.data`` pipeline.

A DataFrame holds every row in memory at once; a production log does not fit. The
usual answer is to store the log as *shards* (分片): many files of a bounded number of
rows each, written once, read back piece by piece. This module writes any DataFrame, or
an iterable of DataFrames produced chunk by chunk, as Parquet shards with a
``manifest.json``, and reads them back

* all at once, as a DataFrame (:meth:`ShardSet.to_frame`), for data that fits, or
* as a streaming ``tf.data.Dataset`` (:meth:`ShardSet.dataset`): several files read in
  parallel and interleaved, row blocks shuffled, re-cut into batches, prefetched. Memory
  then depends on the block size and the number of files open, not on the row count.

While it writes, the writer keeps one-pass statistics of every column: the vocabulary
of id and string columns, the count, mean and variance of numeric ones. They are what a
model's lookups and scaling adapt on (:meth:`ShardSet.summary_frame`), so a model can be
built for billions of rows without a pass over them.

A shard that is missing, truncated, corrupt, or does not match the others raises a
:class:`ShardError` that names the file. Every page carries a CRC checksum that the
reader verifies, so a flipped byte is caught, not read as a wrong number.

TensorFlow and pyarrow are imported inside the functions that need them: importing
:mod:`mtrec_lib.scale.shards` stays cheap. This module is part of the optional ``scale``
extra (``pip install "mtrec_lib[scale]"`` brings pyarrow).

Examples
--------
>>> import tempfile
>>> import mtrec_lib as mt
>>> from mtrec_lib.scale import shards as sh
>>> shop = mt.data.simulate_shop(n_users=100, n_items=30, n_impressions=3_000, seed=0)
>>> folder = tempfile.mkdtemp()
>>> shards = sh.write_shards(shop.data, folder, rows_per_shard=1_000)
>>> len(shards.files), shards.n_rows
(3, 3000)
>>> shards = sh.open_shards(folder)        # later, or in another process
>>> ds = shards.dataset(batch_size=512, labels=["click", "purchase"])
>>> x, y = next(iter(ds))
>>> int(x["user_id"].shape[0]), sorted(y)
(512, ['click', 'purchase'])
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtrec_lib.data.validate import check_frame, check_positive_int

__all__ = [
    "ShardError",
    "MissingShardError",
    "ShardSet",
    "write_shards",
    "open_shards",
    "simulate_shards",
    "simulate_train_test_shards",
    "MANIFEST",
]

MANIFEST = "manifest.json"
_FORMAT = "mtrec_lib.shards/1"
_PREFIX = "part-"
_SUFFIX = ".parquet"
#: Vocabularies larger than this are not stored in the manifest (a hashed embedding, not a
#: lookup table, is the tool for such columns).
MAX_VOCABULARY = 1_000_000
_KINDS = ("int64", "float64", "bool", "string")


class ShardError(ValueError):
    """A shard is missing, unreadable, or does not match the others. The message names the file."""


class MissingShardError(ShardError, FileNotFoundError):
    """A shard (or the manifest) listed for reading does not exist."""


# --------------------------------------------------------------------------- statistics
def is_categorical(name: str, kind: str) -> bool:
    """The models' rule (see :mod:`mtrec_lib.models.features`): ids and strings are looked up."""
    return str(name).endswith("_id") or kind == "string"


def _kind(s: pd.Series, col: str, where: str) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "bool"
    if pd.api.types.is_integer_dtype(s):
        return "int64"
    if pd.api.types.is_float_dtype(s):
        return "float64"
    if pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
        return "string"
    raise ValueError(
        f"{where}: column {col!r} has dtype {s.dtype}, which shards do not store. Convert it to "
        "numbers (e.g. dates to days since an origin) or to strings first."
    )


@dataclass
class _Moments:
    """Count, mean and sum of squared deviations, merged exactly chunk by chunk (Chan et al.)."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    lo: float = float("inf")
    hi: float = float("-inf")

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        nb = x.size
        if nb == 0:
            return
        mb = float(x.mean())
        m2b = float(((x - mb) ** 2).sum())
        n = self.n + nb
        delta = mb - self.mean
        self.mean += delta * nb / n
        self.m2 += m2b + delta * delta * self.n * nb / n
        self.n = n
        self.lo, self.hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))

    def to_dict(self) -> dict[str, float]:
        var = self.m2 / self.n if self.n else 0.0
        return {"count": self.n, "mean": self.mean, "std": float(np.sqrt(var)), "min": self.lo, "max": self.hi}


class _Stats:
    """One-pass statistics of every column: what lookups and scaling adapt on."""

    def __init__(self, schema: Mapping[str, str]) -> None:
        self.schema = dict(schema)
        self.moments = {c: _Moments() for c, k in schema.items() if not is_categorical(c, k)}
        self.vocab: dict[str, Any] = {c: set() for c, k in schema.items() if is_categorical(c, k)}

    def add(self, df: pd.DataFrame) -> None:
        for c, m in self.moments.items():
            m.add(df[c].to_numpy(dtype=np.float64))
        for c, v in self.vocab.items():
            if v is None:
                continue
            cast = str if self.schema[c] == "string" else int
            v.update(cast(x) for x in pd.unique(df[c]))
            if len(v) > MAX_VOCABULARY:
                self.vocab[c] = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for c in self.schema:
            if c in self.moments:
                out[c] = self.moments[c].to_dict()
            else:
                v = self.vocab[c]
                out[c] = {
                    "vocabulary": None if v is None else sorted(v),
                    "vocabulary_size": None if v is None else len(v),
                }
        return out


# --------------------------------------------------------------------------- the shard set
@dataclass(frozen=True)
class ShardSet:
    """A set of Parquet shards with their schema, row counts and column statistics.

    Get one from :func:`write_shards`, :func:`simulate_shards` or :func:`open_shards`.

    Attributes
    ----------
    directory : pathlib.Path
        Folder holding the shards and ``manifest.json``.
    files : tuple of pathlib.Path
        The shard files, in order.
    rows : tuple of int
        Rows in each file.
    schema : dict
        Column -> ``"int64"``, ``"float64"``, ``"bool"`` or ``"string"``, in column order.
    stats : dict
        Column -> statistics over all shards: ``{"vocabulary", "vocabulary_size"}`` for id and
        string columns, ``{"count", "mean", "std", "min", "max"}`` for the others. Subsets
        made by :meth:`subset` keep the statistics of the whole set.
    """

    directory: Path
    files: tuple[Path, ...]
    rows: tuple[int, ...]
    schema: dict[str, str]
    stats: dict[str, Any] = field(repr=False)

    @property
    def n_rows(self) -> int:
        """Rows over all files."""
        return int(sum(self.rows))

    @property
    def columns(self) -> list[str]:
        return list(self.schema)

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return (
            f"ShardSet({str(self.directory)!r}, files={len(self.files)}, rows={self.n_rows:,}, "
            f"columns={len(self.schema)})"
        )

    # ------------------------------------------------------------------ subsets
    def subset(self, which: slice | Sequence[int]) -> ShardSet:
        """The shards picked by a slice or a list of positions, e.g. ``shards.subset(slice(0, 8))``."""
        idx = range(len(self.files))[which] if isinstance(which, slice) else list(which)
        if not len(idx):
            raise ValueError(f"subset({which!r}) selects no shard of {len(self.files)}.")
        return replace(self, files=tuple(self.files[i] for i in idx), rows=tuple(self.rows[i] for i in idx))

    def shard(self, num_shards: int, index: int) -> ShardSet:
        """Files ``index, index + num_shards, ...``: one worker's share, file by file.

        Splitting by file (not by row) means no worker reads a byte another worker needs.
        """
        num_shards = check_positive_int(num_shards, "num_shards")
        if not 0 <= int(index) < num_shards:
            raise ValueError(f"index must be in [0, {num_shards}), got {index!r}.")
        if len(self.files) < num_shards:
            raise ValueError(
                f"{len(self.files)} shard file(s) cannot be split among {num_shards} workers: every "
                f"worker needs at least one file. Write the data with more, smaller shards "
                f"(rows_per_shard)."
            )
        return self.subset(slice(int(index), None, num_shards))

    # ------------------------------------------------------------------ in memory
    def to_frame(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Read every shard into one DataFrame: the in-memory path (memory grows with the rows)."""
        import pyarrow.parquet as pq

        cols = self._columns(columns)
        parts = []
        for path in self.files:
            try:
                table = pq.read_table(path, columns=cols, page_checksum_verification=True)
            except FileNotFoundError:
                raise MissingShardError(f"shard {str(path)!r} does not exist (any more); rewrite the shards.") from None
            except Exception as exc:  # noqa: BLE001  (pyarrow raises several types; name the file)
                raise ShardError(
                    f"shard {str(path)!r} cannot be read: {exc}. It is corrupt or truncated; rewrite it."
                ) from exc
            parts.append(_to_pandas(table))
        return pd.concat(parts, ignore_index=True)

    def _columns(self, columns: Sequence[str] | None) -> list[str]:
        if columns is None:
            return self.columns
        cols = [columns] if isinstance(columns, str) else list(columns)
        for c in cols:
            if c not in self.schema:
                raise KeyError(f"column {c!r} is not in the shards (columns: {self.columns}).")
        return cols

    # ------------------------------------------------------------------ statistics
    def summary_frame(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """A small frame with the *same vocabularies, means and variances* as all the rows.

        Lookup layers adapt on the set of values they see and ``Normalization`` on the
        mean and variance; both are in the manifest. This frame reproduces them exactly
        (every vocabulary value at least once; numbers ``mean +/- std`` in equal numbers),
        so a model adapted on it is the model adapted on every row, at no extra pass.
        """
        cols = self._columns(columns)
        sizes = [self.stats[c]["vocabulary_size"] for c in cols if "vocabulary" in self.stats[c]]
        for c in cols:
            if "vocabulary" in self.stats[c] and self.stats[c]["vocabulary"] is None:
                raise ValueError(
                    f"column {c!r} has more than {MAX_VOCABULARY:,} distinct values; the manifest "
                    "keeps no vocabulary for it. Hash it into buckets or drop it from features."
                )
        n = max([2, *sizes])
        n += n % 2  # even, so that +1/-1 in equal numbers give mean 0 and variance 1 exactly
        sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
        data: dict[str, Any] = {}
        for c in cols:
            s, kind = self.stats[c], self.schema[c]
            if "vocabulary" in s:
                vocab = np.resize(np.asarray(s["vocabulary"], dtype=object if kind == "string" else np.int64), n)
                data[c] = pd.array(vocab, dtype="str") if kind == "string" else vocab
            else:
                data[c] = s["mean"] + s["std"] * sign
        return pd.DataFrame(data)

    # ------------------------------------------------------------------ streaming
    def steps(self, batch_size: int, drop_remainder: bool = False) -> int:
        """Batches in one pass of :meth:`dataset` with this ``batch_size``."""
        batch_size = check_positive_int(batch_size, "batch_size")
        return self.n_rows // batch_size if drop_remainder else -(-self.n_rows // batch_size)

    def dataset(
        self,
        batch_size: int = 512,
        *,
        columns: Sequence[str] | None = None,
        labels: Sequence[str] | None = None,
        shuffle: bool = False,
        seed: int = 0,
        block_rows: int = 8192,
        cycle_length: int = 2,
        num_parallel_calls: int | None = None,
        drop_remainder: bool = False,
        repeat: bool = False,
        prefetch: int | None = None,
    ):
        """Stream the shards as a ``tf.data.Dataset`` of batches.

        The pipeline: the list of files (reshuffled each pass when ``shuffle``) ->
        ``interleave`` reads ``cycle_length`` files in parallel, each in blocks of
        ``block_rows`` rows (shuffled within the block when ``shuffle``), and hands out
        pieces of ``batch_size // cycle_length`` rows in turn, so one batch mixes rows of
        several files -> ``rebatch`` cuts pieces into batches of ``batch_size`` ->
        ``prefetch`` reads ahead while the model trains. Memory: about
        ``cycle_length x block_rows`` rows plus the prefetched batches, whatever the
        row count.

        Parameters
        ----------
        batch_size : int
            Rows per batch; the last batch of a pass may be smaller unless ``drop_remainder``.
        columns : list of str, optional
            Columns to read (default all). Labels are added when missing.
        labels : list of str, optional
            If given, elements are ``(features, labels)`` pairs of dicts (what ``keras.Model.fit``
            takes); otherwise one dict of columns.
        shuffle : bool
            Shuffle file order and rows within blocks, differently in each pass; the same
            sequence of passes for the same ``seed``.
        block_rows : int
            Rows read from a file at a time.
        cycle_length : int
            Files read at once (capped by the number of files).
        num_parallel_calls : int, optional
            Reader threads; default ``tf.data.AUTOTUNE``.
        repeat : bool
            Repeat forever (then give Keras ``steps_per_epoch``, e.g. :meth:`steps`).
        prefetch : int, optional
            Batches to read ahead; default ``tf.data.AUTOTUNE``.

        Returns
        -------
        tf.data.Dataset
            Elements: dicts of 1-D tensors (``int64``, ``float32``, ``bool`` or ``string``),
            or ``(features, labels)`` pairs with float32 labels.
        """
        import tensorflow as tf

        batch_size = check_positive_int(batch_size, "batch_size")
        block_rows = check_positive_int(block_rows, "block_rows")
        cycle_length = min(check_positive_int(cycle_length, "cycle_length"), len(self.files))
        label_cols = [] if labels is None else self._columns(labels)
        cols = self._columns(columns)
        cols += [c for c in label_cols if c not in cols]
        feature_cols = [c for c in cols if c not in label_cols]
        if labels is not None and not feature_cols:
            raise ValueError("dataset(): no feature column left after taking out the labels.")
        piece = max(1, batch_size // cycle_length)
        tf_types = {"int64": tf.int64, "float64": tf.float32, "bool": tf.bool, "string": tf.string}
        files = [str(p) for p in self.files]
        starts: dict[str, int] = {}  # passes started per file: a fresh in-block order each pass

        strings = [c for c in cols if self.schema[c] == "string"]
        # Strings travel as dictionary codes plus the block's small dictionary: no Python
        # object per row (4x faster), decoded by a gather in tf.data's C++ threads.
        block_spec = {c: tf.TensorSpec([None], tf.int32 if c in strings else tf_types[self.schema[c]]) for c in cols}
        dict_spec = {c: tf.TensorSpec([None], tf.string) for c in strings}

        def blocks(path_bytes):
            # Python only reads and decodes (pyarrow releases the GIL while decoding);
            # shuffling, string decoding and cutting happen in tf.data's C++ threads below.
            path = path_bytes.decode() if isinstance(path_bytes, bytes) else str(path_bytes)
            k = starts[path] = starts.get(path, -1) + 1
            rng = np.random.default_rng([seed, files.index(path), k])
            for block, dictionaries in _read_blocks(path, cols, block_rows, strings):
                n = len(block[cols[0]])
                yield block, dictionaries, (rng.permutation(n) if shuffle else np.arange(n))

        def decode(block, dictionaries, order):
            if shuffle:
                block = {c: tf.gather(v, order) for c, v in block.items()}
            return {c: tf.gather(dictionaries[c], v) if c in dictionaries else v for c, v in block.items()}

        def read_file(path):
            ds = tf.data.Dataset.from_generator(
                blocks, args=(path,), output_signature=(block_spec, dict_spec, tf.TensorSpec([None], tf.int64))
            )
            return ds.map(decode).rebatch(piece)

        paths = tf.data.Dataset.from_tensor_slices(files)
        if shuffle:
            paths = paths.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        ds = paths.interleave(
            read_file,
            cycle_length=cycle_length,
            block_length=1,
            num_parallel_calls=tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls,
            deterministic=True,
        )
        ds = ds.rebatch(batch_size, drop_remainder=drop_remainder)
        ds = ds.apply(tf.data.experimental.assert_cardinality(self.steps(batch_size, drop_remainder)))
        if labels is not None:

            def split(batch):
                return ({c: batch[c] for c in feature_cols}, {c: tf.cast(batch[c], tf.float32) for c in label_cols})

            ds = ds.map(split)
        if repeat:
            ds = ds.repeat()
        options = tf.data.Options()
        # Workers pick their files themselves (shard()); tf.distribute must not re-split them.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        ds = ds.with_options(options)
        return ds.prefetch(tf.data.AUTOTUNE if prefetch is None else prefetch)


def _to_pandas(table) -> pd.DataFrame:
    df = table.to_pandas()
    for c in df.columns:  # pandas 3: strings as the default str dtype, whatever pyarrow chose
        if pd.api.types.is_string_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]):
            df[c] = df[c].astype("str")
    return df


def _read_blocks(path: str, columns: list[str], block_rows: int, strings: list[str]):
    """Yield ``({column: numpy array}, {string column: dictionary})`` blocks of a shard.

    String columns come as int32 dictionary codes, with the block's dictionary apart.
    Any failure raises a :class:`ShardError` that names the file.
    """
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(path, page_checksum_verification=True, read_dictionary=strings or None)
        for batch in reader.iter_batches(batch_size=block_rows, columns=columns, use_threads=False):
            out, dictionaries = {}, {}
            for c, arr in zip(batch.schema.names, batch.columns):
                if c in strings:
                    out[c] = arr.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
                    dictionaries[c] = arr.dictionary.to_numpy(zero_copy_only=False)
                else:
                    values = arr.to_numpy(zero_copy_only=False)
                    out[c] = values.astype(np.float32) if values.dtype == np.float64 else values
            yield out, dictionaries
    except FileNotFoundError:
        raise MissingShardError(f"shard {path!r} does not exist (any more); rewrite the shards.") from None
    except Exception as exc:  # noqa: BLE001  (pyarrow raises several types; name the file)
        raise ShardError(f"shard {path!r} cannot be read: {exc}. It is corrupt or truncated; rewrite it.") from exc


# --------------------------------------------------------------------------- writing
def _arrow_schema(schema: Mapping[str, str]):
    import pyarrow as pa

    types = {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(), "string": pa.string()}
    return pa.schema([(c, types[k]) for c, k in schema.items()])


def write_shards(
    data: pd.DataFrame | Iterable[pd.DataFrame],
    directory: str | os.PathLike,
    *,
    rows_per_shard: int | None = None,
    row_group_size: int = 65_536,
    compression: str = "zstd",
    overwrite: bool = False,
) -> ShardSet:
    """Write a DataFrame, or DataFrames produced one chunk at a time, as Parquet shards.

    Only one chunk is in memory at a time: pass a generator to write more rows than fit.
    Every shard is written to a temporary name and renamed when complete, and the manifest
    is written last, so an interrupted run never leaves a set that looks whole.

    Parameters
    ----------
    data : DataFrame or iterable of DataFrames
        Rows to write; all chunks need the same columns and column kinds.
    directory : path
        Created if absent. ``part-00000.parquet, ...`` and ``manifest.json`` go there.
    rows_per_shard : int, optional
        Cut chunks into files of at most this many rows (default: one file per chunk).
    row_group_size : int
        Rows per Parquet row group (the unit a reader decodes at once).
    compression : str
        Parquet codec: ``"zstd"`` (default), ``"snappy"``, ``"gzip"`` or ``"none"``.
    overwrite : bool
        Replace shards already in ``directory``; otherwise refuse to mix two data sets.

    Returns
    -------
    ShardSet
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory = Path(directory)
    if rows_per_shard is not None:
        rows_per_shard = check_positive_int(rows_per_shard, "rows_per_shard")
    row_group_size = check_positive_int(row_group_size, "row_group_size")
    old = sorted(directory.glob(f"{_PREFIX}*{_SUFFIX}")) + (
        [directory / MANIFEST] if (directory / MANIFEST).exists() else []
    )
    if old and not overwrite:
        raise FileExistsError(
            f"{str(directory)!r} already holds shards ({old[0].name}, ...); pass overwrite=True "
            "to replace them or choose an empty folder."
        )
    directory.mkdir(parents=True, exist_ok=True)
    for p in old:
        p.unlink()
    chunks = [data] if isinstance(data, pd.DataFrame) else data
    schema: dict[str, str] | None = None
    stats: _Stats | None = None
    names: list[str] = []
    rows: list[int] = []
    sizes: list[int] = []
    for k, chunk in enumerate(chunks):
        where = f"write_shards(chunk {k})"
        if not isinstance(chunk, pd.DataFrame):
            raise TypeError(f"{where}: expected a pandas DataFrame, got {type(chunk).__name__}.")
        # No NaN: a model cannot read them, and one would poison the running means.
        check_frame(chunk, where, required=list(map(str, chunk.columns)))
        kinds = {str(c): _kind(chunk[c], c, where) for c in chunk.columns}
        if schema is None:
            schema, stats = kinds, _Stats(kinds)
        elif kinds != schema:
            diff = [c for c in set(schema) | set(kinds) if schema.get(c) != kinds.get(c)]
            raise ValueError(
                f"{where}: column {sorted(diff)[0]!r} differs from the first chunk "
                f"({schema.get(sorted(diff)[0], 'absent')} vs {kinds.get(sorted(diff)[0], 'absent')}); "
                "every chunk needs the same columns and kinds."
            )
        chunk = chunk[list(schema)]
        stats.add(chunk)
        step = rows_per_shard or len(chunk)
        for lo in range(0, len(chunk), step):
            part = chunk.iloc[lo : lo + step]
            table = pa.Table.from_pandas(part, schema=_arrow_schema(schema), preserve_index=False)
            name = f"{_PREFIX}{len(names):05d}{_SUFFIX}"
            tmp = directory / f".{name}.tmp"
            pq.write_table(table, tmp, row_group_size=row_group_size, compression=compression, write_page_checksum=True)
            os.replace(tmp, directory / name)
            names.append(name)
            rows.append(len(part))
            sizes.append((directory / name).stat().st_size)
    if schema is None:
        raise ValueError("write_shards(data): no rows to write (the iterable was empty).")
    manifest = {
        "format": _FORMAT,
        "files": [{"name": n, "rows": r, "bytes": b} for n, r, b in zip(names, rows, sizes)],
        "schema": schema,
        "stats": stats.to_dict(),
    }
    tmp = directory / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest))
    os.replace(tmp, directory / MANIFEST)
    return ShardSet(directory, tuple(directory / n for n in names), tuple(rows), dict(schema), manifest["stats"])


def open_shards(directory: str | os.PathLike, *, verify: bool = True) -> ShardSet:
    """Open the shards written by :func:`write_shards` in ``directory``.

    With ``verify`` (default) every file listed in the manifest is checked before any
    row is read: it exists, has the size the manifest recorded, and its Parquet footer
    reads back with the manifest's row count and columns. Any mismatch raises
    :class:`ShardError` naming the file, rather than failing mid-epoch.
    """
    import pyarrow.parquet as pq

    directory = Path(directory)
    mpath = directory / MANIFEST
    if not mpath.exists():
        raise MissingShardError(
            f"{str(mpath)!r} does not exist: {str(directory)!r} holds no shards written by "
            "mtrec_lib.scale.shards.write_shards."
        )
    try:
        manifest = json.loads(mpath.read_text())
        if manifest.get("format") != _FORMAT:
            raise ValueError(f"format {manifest.get('format')!r}, expected {_FORMAT!r}")
        files = [(directory / f["name"], int(f["rows"]), int(f["bytes"])) for f in manifest["files"]]
        schema, stats = dict(manifest["schema"]), dict(manifest["stats"])
    except Exception as exc:  # noqa: BLE001
        raise ShardError(f"{str(mpath)!r} is not a valid shard manifest ({exc!r}); rewrite the shards.") from None
    if verify:
        for path, n, size in files:
            if not path.exists():
                raise MissingShardError(
                    f"shard {str(path)!r} is listed in the manifest but does not exist; "
                    "restore it or rewrite the shards."
                )
            if path.stat().st_size != size:
                raise ShardError(
                    f"shard {str(path)!r} has {path.stat().st_size:,} bytes but the manifest recorded "
                    f"{size:,}: it was truncated or replaced. Rewrite the shards."
                )
            try:
                meta = pq.read_metadata(path)
            except Exception as exc:  # noqa: BLE001
                raise ShardError(f"shard {str(path)!r} is not a readable Parquet file ({exc}); rewrite it.") from None
            if meta.num_rows != n or list(meta.schema.names) != list(schema):
                raise ShardError(
                    f"shard {str(path)!r} holds {meta.num_rows} rows and columns {meta.schema.names}, "
                    f"the manifest says {n} rows and {list(schema)}. Rewrite the shards."
                )
    return ShardSet(directory, tuple(p for p, _, _ in files), tuple(n for _, n, _ in files), schema, stats)


def simulate_shards(
    directory: str | os.PathLike,
    n_rows: int,
    *,
    simulator: str = "shop",
    rows_per_shard: int = 1_000_000,
    seed: int = 0,
    overwrite: bool = False,
    **kwargs: Any,
) -> ShardSet:
    """Simulate a log of ``n_rows`` impressions straight into shards, one shard in memory at a time.

    Shard ``k`` is ``simulate_<simulator>(n_impressions=rows, seed=seed + k, **kwargs).data``
    (the ``.truth`` columns are not written). Each shard is therefore its own simulated
    world: the same ids stand for users with different tastes in different shards. That is
    right for measuring a pipeline (the bytes and the columns are realistic) and wrong for
    studying what a model learns across shards; for that, simulate once and cut the frame
    with :func:`write_shards`.

    Parameters
    ----------
    simulator : {"shop", "social", "media"}
    n_rows, rows_per_shard : int
    seed : int
        Seed of the first shard.
    **kwargs
        Passed to the simulator (e.g. ``n_users``, ``n_items``).
    """
    from mtrec_lib.data import simulate as _sim

    fns = {"shop": _sim.simulate_shop, "social": _sim.simulate_social, "media": _sim.simulate_media}
    if simulator not in fns:
        raise ValueError(f"simulator must be one of {sorted(fns)}, got {simulator!r}.")
    n_rows = check_positive_int(n_rows, "n_rows")
    rows_per_shard = check_positive_int(rows_per_shard, "rows_per_shard")
    seed = check_positive_int(seed, "seed", minimum=0)

    def chunks():
        for k, lo in enumerate(range(0, n_rows, rows_per_shard)):
            yield fns[simulator](n_impressions=min(rows_per_shard, n_rows - lo), seed=seed + k, **kwargs).data

    return write_shards(chunks(), directory, overwrite=overwrite)


def simulate_train_test_shards(
    directory: str | os.PathLike,
    n_rows: int,
    *,
    simulator: str = "shop",
    n_train_shards: int = 8,
    test_size: float = 0.2,
    seed: int = 0,
    overwrite: bool = False,
    **kwargs: Any,
) -> tuple[ShardSet, ShardSet]:
    """One simulated log, split in time, written as ``<directory>/train`` and ``<directory>/test`` shards.

    Unlike :func:`simulate_shards`, all rows come from one simulated world (one call of
    the simulator, so ``n_rows`` must fit in memory), which is what a comparison of model
    quality needs. The last ``test_size`` of the log by time is the test set (one file);
    the rest is cut into ``n_train_shards`` files of equal size, so that it splits
    evenly among 1, 2, 4 or 8 workers.

    Returns
    -------
    (train, test) : tuple of ShardSet
    """
    from mtrec_lib.data import simulate as _sim
    from mtrec_lib.data.splits import split

    fns = {"shop": _sim.simulate_shop, "social": _sim.simulate_social, "media": _sim.simulate_media}
    if simulator not in fns:
        raise ValueError(f"simulator must be one of {sorted(fns)}, got {simulator!r}.")
    n_train_shards = check_positive_int(n_train_shards, "n_train_shards")
    log = fns[simulator](n_impressions=check_positive_int(n_rows, "n_rows"), seed=seed, **kwargs).data
    train, test = split(log, method="temporal", test_size=test_size)
    directory = Path(directory)
    per_shard = -(-len(train) // n_train_shards)
    return (
        write_shards(train.reset_index(drop=True), directory / "train", rows_per_shard=per_shard, overwrite=overwrite),
        write_shards(test.reset_index(drop=True), directory / "test", overwrite=overwrite),
    )
