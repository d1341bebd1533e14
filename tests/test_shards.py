"""Parquet shards and the streaming tf.data pipeline (mtrec_lib.scale.shards)."""

from __future__ import annotations

import doctest
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import mtrec_lib as mt
from mtrec_lib.scale import shards as sh

LABELS = ["click", "purchase"]


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return mt.data.simulate_shop(n_users=300, n_items=80, n_impressions=10_000, seed=3).data


@pytest.fixture()
def shards(log, tmp_path) -> sh.ShardSet:
    return sh.write_shards(log, tmp_path / "s", rows_per_shard=1_500)


def _rows(frame: pd.DataFrame) -> list[tuple]:
    cols = ["user_id", "item_id", "timestamp", "position", "device", "item_category", "item_price"]
    return sorted(
        tuple(v.decode() if isinstance(v, bytes) else v for v in row) for row in frame[cols].to_numpy().tolist()
    )


def test_doctests():
    assert doctest.testmod(sh).failed == 0


def test_round_trip_keeps_rows_and_dtypes(log, shards, tmp_path):
    assert len(shards.files) == 7 and shards.rows == (1500,) * 6 + (1000,)
    assert shards.n_rows == len(log)
    pd.testing.assert_frame_equal(shards.to_frame(), log.reset_index(drop=True))
    again = sh.open_shards(tmp_path / "s")
    assert again.files == shards.files and again.schema == shards.schema
    assert again.schema["device"] == "string" and again.schema["item_price"] == "float64"


def test_chunked_writing_gives_the_statistics_of_the_whole(log, tmp_path):
    chunks = (log.iloc[i : i + 2_300] for i in range(0, len(log), 2_300))  # a generator: one chunk at a time
    s = sh.write_shards(chunks, tmp_path / "c")
    assert s.rows == (2300, 2300, 2300, 2300, 800)
    for col in ["user_age", "item_price", "position", "click"]:
        x = log[col].to_numpy(dtype=float)
        assert s.stats[col]["mean"] == pytest.approx(x.mean(), rel=1e-12)
        assert s.stats[col]["std"] == pytest.approx(x.std(), rel=1e-9)
        assert (s.stats[col]["min"], s.stats[col]["max"]) == (x.min(), x.max())
    assert s.stats["user_id"]["vocabulary"] == sorted(log["user_id"].unique().tolist())
    assert s.stats["device"]["vocabulary"] == sorted(log["device"].unique().tolist())


def test_summary_frame_reproduces_vocabularies_and_moments(log, shards):
    summ = shards.summary_frame()
    assert len(summ) % 2 == 0 and len(summ) < len(log)
    for col in ["user_id", "item_id", "device", "item_category"]:
        assert set(summ[col]) == set(log[col])
    assert pd.api.types.is_string_dtype(summ["device"]) and pd.api.types.is_integer_dtype(summ["user_id"])
    for col in ["user_age", "item_price", "item_popularity"]:
        assert summ[col].mean() == pytest.approx(log[col].mean(), rel=1e-9)
        assert summ[col].std(ddof=0) == pytest.approx(log[col].std(ddof=0), rel=1e-9)


def test_stream_reads_every_row_once_in_batches(log, shards):
    ds = shards.dataset(batch_size=512, shuffle=True, seed=1)
    batches = [{k: v.numpy() for k, v in b.items()} for b in ds]
    sizes = [len(b["user_id"]) for b in batches]
    assert sizes[:-1] == [512] * (len(sizes) - 1) and sum(sizes) == len(log)
    assert len(batches) == shards.steps(512) == int(ds.cardinality())
    got = pd.DataFrame({k: np.concatenate([b[k] for b in batches]) for k in batches[0]})
    assert _rows(got.assign(item_price=got["item_price"].astype(np.float32))) == _rows(
        log.assign(item_price=log["item_price"].astype(np.float32))
    )
    assert batches[0]["device"].dtype == object and batches[0]["item_price"].dtype == np.float32
    # One batch mixes rows of several files (interleave), not one file's consecutive rows.
    assert np.unique(np.searchsorted(log["timestamp"].to_numpy(), batches[0]["timestamp"]) // 1500).size >= 2


def test_shuffle_is_seeded_and_changes_every_pass(shards):
    def first_pass(ds):
        return np.concatenate([b["timestamp"].numpy() for b in ds])

    a = shards.dataset(256, shuffle=True, seed=7, columns=["timestamp"])
    b = shards.dataset(256, shuffle=True, seed=7, columns=["timestamp"])
    pass1, pass2 = first_pass(a), first_pass(a)
    assert np.array_equal(pass1, first_pass(b))  # same seed, same order
    assert not np.array_equal(pass1, pass2)  # a new order each epoch
    assert np.array_equal(np.sort(pass1), np.sort(pass2))


def test_labels_and_columns(shards):
    x, y = next(iter(shards.dataset(128, columns=["user_id", "device"], labels=LABELS)))
    assert sorted(x) == ["device", "user_id"] and sorted(y) == LABELS
    assert y["click"].dtype.name == "float32" and x["user_id"].dtype.name == "int64"
    with pytest.raises(KeyError, match="'nope'"):
        shards.dataset(128, columns=["nope"])


def test_repeat_and_drop_remainder(shards):
    ds = shards.dataset(1000, drop_remainder=True, repeat=True)
    sizes = [len(b["click"]) for b in ds.take(25)]  # 25 > 10 batches in one pass: it repeats
    assert set(sizes) == {1000}


def test_shard_splits_files_among_workers(shards):
    parts = [shards.shard(3, i) for i in range(3)]
    assert sorted(f for p in parts for f in p.files) == sorted(shards.files)
    assert parts[1].files == shards.files[1::3]
    assert parts[0].stats is shards.stats  # statistics of the whole set
    with pytest.raises(ValueError, match="cannot be split among 8 workers"):
        shards.shard(8, 0)
    with pytest.raises(ValueError, match="index"):
        shards.shard(2, 2)


# ----------------------------------------------------------------------------- bad input, faults
def test_missing_shard_is_named(shards, tmp_path):
    victim = shards.files[3]
    victim.unlink()
    with pytest.raises(sh.MissingShardError, match=victim.name) as info:
        sh.open_shards(tmp_path / "s")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    with pytest.raises(sh.MissingShardError, match=victim.name):
        shards.to_frame()
    with pytest.raises(Exception, match=victim.name):  # mid-stream: the file vanished after opening
        list(shards.dataset(512))


def test_missing_manifest(tmp_path):
    with pytest.raises(sh.MissingShardError, match="manifest.json"):
        sh.open_shards(tmp_path)


def test_truncated_shard_is_named(shards, tmp_path):
    victim = shards.files[2]
    victim.write_bytes(victim.read_bytes()[:-100])
    with pytest.raises(sh.ShardError, match=f"{victim.name}.*truncated"):
        sh.open_shards(tmp_path / "s")


def test_flipped_byte_is_caught_and_named(shards, tmp_path):
    victim = shards.files[4]
    data = bytearray(victim.read_bytes())
    data[len(data) // 3] ^= 0xFF  # same size, footer intact: only the page CRC knows
    victim.write_bytes(bytes(data))
    reopened = sh.open_shards(tmp_path / "s")
    with pytest.raises(sh.ShardError, match=f"{victim.name}.*(CRC|corrupt)"):
        reopened.to_frame()
    with pytest.raises(Exception, match=victim.name):
        list(reopened.dataset(512))


def test_corrupt_manifest(shards, tmp_path):
    (tmp_path / "s" / sh.MANIFEST).write_text("{not json")
    with pytest.raises(sh.ShardError, match="manifest"):
        sh.open_shards(tmp_path / "s")


def test_write_refuses_to_mix_and_checks_chunks(log, shards, tmp_path):
    with pytest.raises(FileExistsError, match="overwrite=True"):
        sh.write_shards(log, tmp_path / "s")
    again = sh.write_shards(log.iloc[:100], tmp_path / "s", overwrite=True)
    assert len(list((tmp_path / "s").glob("*.parquet"))) == 1 and again.n_rows == 100
    bad = log.iloc[:50].drop(columns=["device"])
    with pytest.raises(ValueError, match="chunk 1.*'device'"):
        sh.write_shards(iter([log.iloc[:50], bad]), tmp_path / "d")
    when = log.iloc[:10].assign(when=pd.Timestamp("2024-01-01"))
    with pytest.raises(ValueError, match="'when'"):
        sh.write_shards(when, tmp_path / "e")
    with pytest.raises(ValueError, match="no rows"):
        sh.write_shards(iter([]), tmp_path / "f")
    with pytest.raises(ValueError, match="NaN|missing"):
        sh.write_shards(log.iloc[:10].assign(item_price=np.nan), tmp_path / "g")


def test_simulate_shards_chunk_by_chunk(tmp_path):
    s = sh.simulate_shards(tmp_path / "sim", 25_000, rows_per_shard=10_000, seed=5, n_users=100, n_items=40)
    assert s.rows == (10_000, 10_000, 5_000)
    first = mt.data.simulate_shop(n_users=100, n_items=40, n_impressions=10_000, seed=5).data
    pd.testing.assert_frame_equal(s.subset([0]).to_frame(), first)
    with pytest.raises(ValueError, match="simulator"):
        sh.simulate_shards(tmp_path / "x", 10, simulator="zoo")


def test_simulate_train_test_shards(tmp_path):
    train, test = sh.simulate_train_test_shards(tmp_path, 10_000, n_train_shards=4, n_users=100, n_items=40)
    assert train.rows == (2_000,) * 4 and test.n_rows == 2_000
    assert train.to_frame()["timestamp"].max() <= test.to_frame()["timestamp"].min()


@pytest.mark.slow
def test_streaming_memory_does_not_grow_with_rows(tmp_path):
    """Peak RSS of a process that streams 60k rows vs 600k rows: the same within 60 MB.

    Holding the 600k rows would add about 250 MB (numbers plus Python strings).
    """
    sh.simulate_shards(tmp_path / "big", 600_000, rows_per_shard=60_000, n_users=500, n_items=100)
    code = textwrap.dedent("""
        import sys
        from mtrec_lib.scale import shards as sh
        s = sh.open_shards(sys.argv[1]).subset(slice(0, int(sys.argv[2])))
        n = 0
        for b in s.dataset(1024, shuffle=True):
            n += int(b["click"].shape[0])
        assert n == s.n_rows, n
    """)
    peaks = {}
    for files in (1, 10):
        wrapper = (
            "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        out = subprocess.run(
            [sys.executable, "-c", wrapper, sys.executable, "-c", code, str(tmp_path / "big"), str(files)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        rc, kb = out.stdout.split()[-2:]
        assert rc == "0", out.stderr[-2000:]
        peaks[files] = int(kb) / 1024
    assert abs(peaks[10] - peaks[1]) < 60, peaks
