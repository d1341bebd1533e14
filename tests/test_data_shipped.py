"""Tests of the shipped data file data/user_behavior.csv, its generator and data_path."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

import mtrec_lib as mt
from mtrec_lib.data import shipped

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_CSV = ROOT / "data" / "user_behavior.csv"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_user_behavior", ROOT / "scripts" / "make_user_behavior.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_regenerates_the_file_bit_for_bit(tmp_path, capsys):
    out = tmp_path / "user_behavior.csv"
    assert _load_script().main(["--out", str(out)]) == 0
    assert out.read_bytes() == SHIPPED_CSV.read_bytes()
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert digest == shipped.USER_BEHAVIOR_SHA256
    assert digest in capsys.readouterr().out


def test_script_check_mode(tmp_path):
    script = _load_script()
    assert script.main(["--check"]) == 0
    stale = tmp_path / "stale.csv"
    stale.write_text("user_id\n1\n")
    assert script.main(["--check", "--out", str(stale)]) == 1


def test_readme_records_the_checksum():
    readme = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    assert shipped.USER_BEHAVIOR_SHA256 in readme
    assert "python scripts/make_user_behavior.py" in readme
    assert mt.data.movielens.RATINGS_SHA256 in readme


def test_the_articles_read_csv_works():
    data = pd.read_csv(mt.data.data_path("user_behavior.csv"))
    assert SHIPPED_CSV.stat().st_size < 1_000_000
    assert 2_000 <= len(data) <= 10_000
    assert {"user_id", "item_id", "timestamp", "day", "click", "purchase", "purchase_30d"} <= set(data.columns)
    assert (data["purchase"] <= data["click"]).all()
    assert (data["purchase"] <= data["purchase_30d"]).all()
    assert data["click"].sum() > 200 and data["purchase"].sum() > 30
    assert data["purchase_30d"].sum() > data["purchase"].sum()  # later purchases count too
    assert data["day"].between(0, 29).all()
    assert not data.isna().any().any()
    pd.testing.assert_frame_equal(data, mt.data.make_user_behavior(), check_dtype=False)


def test_purchase_within_horizon():
    d = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 1],
            "item_id": [5, 5, 5, 5, 6],
            "timestamp": [0, 86_400 * 10, 86_400 * 45, 86_400, 86_400],
            "purchase": [0, 0, 1, 0, 1],
        }
    )
    # row 0: buy at day 45 is outside 30 days; row 1: day 45 - day 10 = 35 days, outside too
    assert shipped._purchase_within(d, 30).tolist() == [0, 0, 1, 0, 1]
    assert shipped._purchase_within(d, 40).tolist() == [0, 1, 1, 0, 1]


def test_data_path_in_a_clone_returns_the_repo_file():
    assert mt.data.data_path("user_behavior.csv") == SHIPPED_CSV


def test_data_path_outside_a_clone_regenerates_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, "_repo_data_dir", lambda: None)
    path = mt.data.data_path("user_behavior.csv", cache=tmp_path)
    assert path == tmp_path / "data" / "user_behavior.csv"
    assert path.read_bytes() == SHIPPED_CSV.read_bytes()
    # a corrupt cached copy is replaced, not used
    path.write_bytes(b"user_id\n")
    assert mt.data.data_path("user_behavior.csv", cache=tmp_path).read_bytes() == SHIPPED_CSV.read_bytes()


@pytest.mark.parametrize("name", ["nope.csv", "../pyproject.toml", ""])
def test_data_path_rejects_unknown_names(name, monkeypatch, tmp_path):
    monkeypatch.setattr(shipped, "_repo_data_dir", lambda: None)
    with pytest.raises(ValueError, match="data_path"):
        mt.data.data_path(name, cache=tmp_path)
