"""TensorFlow's C++ start-up lines (oneDNN, CUDA probing, CPU features) kept out of notebooks.

TensorFlow 2.21 writes them through absl to file descriptor 2 before ``TF_CPP_MIN_LOG_LEVEL``
applies, and JupyterLab copies that descriptor into the cell that first imports TensorFlow or
Keras. ``import mtrec_lib`` (every notebook's first cell) installs :class:`QuietImport`, so
the first import of TensorFlow is silent whatever imports it: ``mt.models``, ``import keras``
or ``import tensorflow``. Python errors still surface as exceptions; only descriptor 2 is
muted, and only during that import. ``MTREC_VERBOSE_TF=1`` keeps the lines.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def muted_stderr_fd() -> Iterator[None]:
    """Point file descriptor 2 at the null device for the block (C++ writes included)."""
    try:
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no usable stderr descriptor (some embedded interpreters)
        yield
        return
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _MutedLoader(importlib.abc.Loader):
    """Runs TensorFlow's own loader with descriptor 2 muted, then probes the devices (which prints too)."""

    def __init__(self, loader: importlib.abc.Loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        with muted_stderr_fd():
            self._loader.exec_module(module)
            with contextlib.suppress(Exception):  # a broken device probe must not break the import
                module.config.list_physical_devices()

    def __getattr__(self, name: str):  # resource readers and the like come from the real loader
        return getattr(self._loader, name)


class QuietImport(importlib.abc.MetaPathFinder):
    """A one-shot finder: wraps the loader of the first ``import tensorflow``, then leaves."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        uninstall()  # one shot: the real finders locate TensorFlow
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _MutedLoader(spec.loader)
        return spec


def install() -> None:
    """Silence TensorFlow's first import from now on (unless it is imported already)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the later, Python-level logs
    if "tensorflow" in sys.modules or os.environ.get("MTREC_VERBOSE_TF"):
        return
    if not any(isinstance(f, QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, QuietImport())


def uninstall() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, QuietImport)]
