"""The README's commands and its one-screen example stay true."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")


def _one_screen_example() -> str:
    section = README.split("## The library in one screen", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_without_make_section_matches_the_makefile():
    fast = re.search(r'^FAST := (-m ".*")$', MAKEFILE, re.M).group(1)
    assert f"python -m pytest {fast}" in README
    for target in ("test-fast:", "lint:"):
        assert target in MAKEFILE
    for command in ("ruff check .", "ruff format --check ."):
        assert f"$(BIN)/{command}" in MAKEFILE and f".venv/bin/{command}" in README


def test_readme_points_at_the_project_documents():
    for name in ("LICENSE", "DESIGN.md", "CONTRIBUTING.md"):
        assert (ROOT / name).exists() and f"]({name})" in README, name
    assert "make test-fast" in README and "make lint" in README


def test_one_screen_example_evaluates_on_held_out_rows():
    code = _one_screen_example()
    assert "mt.data.split(" in code
    fit = re.search(r"model\.fit\((\w+)", code).group(1)
    evaluate = re.search(r"model\.evaluate\((\w+)", code).group(1)
    assert fit != evaluate, "the example must evaluate on rows it did not train on"


@pytest.mark.slow
def test_one_screen_example_runs():
    namespace: dict = {}
    exec(compile(_one_screen_example(), "README.md", "exec"), namespace)
    train, test = namespace["train"], namespace["test"]
    assert train["timestamp"].max() <= test["timestamp"].min()  # temporal: the test rows come later
    scores = namespace["model"].evaluate(test)
    assert {"click_auc", "purchase_auc"} <= set(scores)
    assert 0.55 < scores["click_auc"] < 1 and 0.55 < scores["purchase_auc"] < 1
