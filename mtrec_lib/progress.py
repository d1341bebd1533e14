"""Progress for long steps: shown to a person who waits, never written into a book page.

One rule decides, for downloads and for the notebooks' long loops alike
(:func:`show_progress`): an explicit ``progress=True``/``False`` wins; otherwise the
``MTREC_PROGRESS`` environment variable (``"0"`` or ``"1"``) wins; otherwise progress is
shown in a terminal and in an interactive Jupyter kernel. The book build sets
``MTREC_PROGRESS=0`` (``scripts/build_book.py``), so a page shows results, not bars.

Examples
--------
>>> from mtrec_lib.progress import show_progress, track
>>> show_progress(False), show_progress(True)
(False, True)
>>> [seed * 2 for seed in track(range(3), desc="seeds", progress=False)]
[0, 2, 4]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["ENV_VARIABLE", "show_progress", "track"]

#: The environment variable that switches progress off ("0") or on ("1") everywhere.
ENV_VARIABLE = "MTREC_PROGRESS"

T = TypeVar("T")


def _in_jupyter_kernel() -> bool:
    # A running kernel's shell, not merely an imported ipykernel (a test process may import it).
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def show_progress(progress: bool | None = None) -> bool:
    """Whether to draw progress: ``progress``, else ``$MTREC_PROGRESS``, else when a person watches.

    Parameters
    ----------
    progress : bool or None
        ``True``/``False`` decide. ``None`` asks the environment: ``MTREC_PROGRESS=0``
        (set by the book build) or ``1`` decides; without it, progress is shown when stderr
        is a terminal or the code runs in a Jupyter kernel (a student's JupyterLab).

    Examples
    --------
    >>> show_progress(True)
    True
    """
    if progress is not None:
        return bool(progress)
    setting = os.environ.get(ENV_VARIABLE, "").strip()
    if setting in {"0", "1"}:
        return setting == "1"
    if setting:
        raise ValueError(f"{ENV_VARIABLE}={setting!r}: use 0 (no progress) or 1 (always); unset it for the default")
    return sys.stderr.isatty() or _in_jupyter_kernel()


def track(iterable: Iterable[T], *, desc: str, total: int | None = None, progress: bool | None = None) -> Iterator[T]:
    """Iterate over ``iterable`` with a progress bar when :func:`show_progress` says so.

    Wrap the loop of a notebook cell that runs for more than a few seconds (seeds, trials,
    days) so that a student sees it move; the book's pages stay free of bars.

    Parameters
    ----------
    iterable : iterable
        What the loop runs over.
    desc : str
        A few words saying what is counted ("seeds", "trials").
    total : int, optional
        The number of items, when ``len(iterable)`` does not exist.
    progress : bool or None
        See :func:`show_progress`.

    Examples
    --------
    >>> list(track(["a", "b"], desc="letters", progress=False))
    ['a', 'b']
    """
    if not show_progress(progress):
        yield from iterable
        return
    from tqdm.auto import tqdm  # a widget in JupyterLab, text in a terminal

    yield from tqdm(iterable, desc=desc, total=total, leave=False)
