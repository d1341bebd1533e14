"""The download button of an exercises page gives the student version, not the instructor copy.

Jupyter Book offers each notebook page's source as an ``.ipynb`` download
(``_sources/<page>.ipynb``). For ``90_exercises`` pages that source holds every solution and
the hidden tests, so after the build this extension overwrites the downloadable copy with the
student version that ``make release`` hands out (``scripts/course.py``: ``student_notebook``).
The page itself still shows the solutions behind toggles, for readers and instructors.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
EXERCISES = "90_exercises"


def _write_student_versions(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import course
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    written = 0
    for docname in sorted(app.env.found_docs):
        source = ROOT / f"{docname}.ipynb"
        target = Path(app.outdir) / "_sources" / f"{docname}.ipynb"
        if Path(docname).name != EXERCISES or not source.exists() or not target.exists():
            continue
        student = course.student_notebook(json.loads(source.read_text(encoding="utf-8")))
        target.write_text(json.dumps(student, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written += 1
    logger.info(f"[student_downloads] {written} exercise downloads are student versions")


def setup(app: Sphinx) -> dict:
    app.connect("build-finished", _write_student_versions)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
