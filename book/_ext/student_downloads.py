"""What a notebook page's download button gives: the student version, in the page's language.

Jupyter Book offers each notebook page's source as an ``.ipynb`` download
(``_sources/<page>.ipynb``). After the build this extension overwrites those copies:

* in the Chinese edition (``language=zh_CN``) with the notebook whose Markdown cells are the
  Chinese edition's text (``scripts/translations.py``: ``translate_notebook``; the code cells
  are the same), so a reader who downloads a Chinese page gets Chinese prose;
* for ``90_exercises`` pages, in either edition, with the student version that ``make release``
  hands out (``scripts/course.py``: ``student_notebook``), since the source holds every
  solution and the hidden tests. The page itself still shows the solutions behind toggles,
  for readers and instructors. A Chinese exercise notebook is translated first, then made a
  student version (which turns roles into plain text that no catalogue message matches).
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


def _scripts():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import translations

        import course
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return course, translations


def _write_downloads(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    course, translations = _scripts()
    chinese = (app.config.language or "").startswith("zh")
    written = {"student": 0, "chinese": 0}
    for docname in sorted(app.env.found_docs):
        source = ROOT / f"{docname}.ipynb"
        target = Path(app.outdir) / "_sources" / f"{docname}.ipynb"
        exercises = Path(docname).name == EXERCISES
        if not source.exists() or not target.exists() or not (exercises or chinese):
            continue
        nb = json.loads(source.read_text(encoding="utf-8"))
        if chinese:
            nb = translations.translate_notebook(nb, docname)
            written["chinese"] += 1
        if exercises:
            nb = course.student_notebook(nb)
            if chinese:
                nb = translations.chinese_student_words(nb)
            written["student"] += 1
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info(
        f"[student_downloads] {written['student']} exercise downloads are student versions, "
        f"{written['chinese']} notebooks have Chinese prose"
    )


def setup(app: Sphinx) -> dict:
    app.connect("build-finished", _write_downloads)
    return {"version": "1.1", "parallel_read_safe": True, "parallel_write_safe": True}
