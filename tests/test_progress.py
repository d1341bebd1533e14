"""Progress is shown to a person who waits (terminal, JupyterLab) and never in the book build."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mtrec_lib import progress


def test_explicit_choice_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(progress.ENV_VARIABLE, "0")
    assert progress.show_progress(True) is True
    monkeypatch.setenv(progress.ENV_VARIABLE, "1")
    assert progress.show_progress(False) is False


def test_environment_decides_when_the_caller_does_not(monkeypatch):
    monkeypatch.setenv(progress.ENV_VARIABLE, "1")
    assert progress.show_progress() is True
    monkeypatch.setenv(progress.ENV_VARIABLE, "0")
    monkeypatch.setattr(progress, "_in_jupyter_kernel", lambda: True)  # even inside a kernel
    assert progress.show_progress() is False


def test_a_jupyter_kernel_shows_progress_and_a_captured_stderr_does_not(monkeypatch):
    monkeypatch.delenv(progress.ENV_VARIABLE, raising=False)
    import ipykernel  # noqa: F401  (imported, as a test process may, but no kernel runs)

    assert not progress._in_jupyter_kernel()
    assert progress.show_progress() is False  # pytest captures stderr: not a terminal
    monkeypatch.setattr(progress, "_in_jupyter_kernel", lambda: True)
    assert progress.show_progress() is True


def test_a_typo_in_the_variable_is_an_error_naming_it(monkeypatch):
    monkeypatch.setenv(progress.ENV_VARIABLE, "off")
    with pytest.raises(ValueError, match="MTREC_PROGRESS='off'.*use 0"):
        progress.show_progress()


def test_track_draws_a_bar_only_when_shown(capsys):
    assert list(progress.track(range(3), desc="seeds", progress=False)) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    assert list(progress.track(range(3), desc="seeds", progress=True)) == [0, 1, 2]
    assert "seeds" in capsys.readouterr().err


def test_the_book_build_switches_progress_off():
    import build_book  # tests/conftest.py puts scripts/ on the path

    env = build_book.environment()
    code = "import mtrec_lib.progress as p; print(p.show_progress())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "first_cells",
    [
        "import mtrec_lib as mt\nimport keras\nkeras.ops.ones(2)",
        "import mtrec_lib as mt\nimport tensorflow as tf\ntf.constant(1.0) + 1",
        "import mtrec_lib as mt\nmt.models.MMoE",
    ],
)
def test_tensorflow_starts_silently_whatever_imports_it_after_the_setup_cell(first_cells, monkeypatch):
    # A student's cells after the setup cell (`import mtrec_lib as mt`): TensorFlow's C++
    # start-up lines (oneDNN, CUDA probing) would land in the cell's output in JupyterLab.
    monkeypatch.delenv("MTREC_VERBOSE_TF", raising=False)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    quiet = subprocess.run([sys.executable, "-c", first_cells], capture_output=True, text=True, check=True)
    assert quiet.stderr == ""
    # The lines exist (so the test can fail): without the library's finder they are printed.
    monkeypatch.setenv("MTREC_VERBOSE_TF", "1")
    loud = subprocess.run([sys.executable, "-c", first_cells], capture_output=True, text=True, check=True)
    assert "cuda" in loud.stderr.lower() or "onednn" in loud.stderr.lower()
