"""Build the whole book as one PDF: what ``make pdf`` runs.

    python scripts/build_pdf.py          # book/_build/pdf/multi-task-recommenders.pdf
    python scripts/build_pdf.py --print  # show the jupyter-book command instead

Jupyter Book's ``pdflatex`` builder writes LaTeX and runs latexmk with XeLaTeX (the engine is
set in book/_config.yml, the preamble in book/_ext/pdf_book.py). Notebooks execute through the
same jupyter-cache as the site (book/_build/.jupyter_cache), so after ``make book`` their
outputs are reused, not recomputed. The LaTeX build keeps its own doctrees
(book/_build/pdf/_build), so the site and the PDF never re-read each other's.

The build fails when LaTeX reports an error or a glyph that no font has (a Chinese term that
would vanish from the page). When the site has been built, it is rebuilt afterwards: only the
pages that link the PDF are rewritten, and the PDF is copied beside the site's index.html.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402  (the site's build command and environment)

PDF_NAME = "multi-task-recommenders.pdf"
OUTPUT = ROOT / "book" / "_build" / "pdf"  # jupyter-book --path-output
LATEX_DIR = OUTPUT / "_build" / "latex"
PDF = OUTPUT / PDF_NAME  # the finished book; book/_ext/pdf_book.py links it from the site
SITE = ROOT / "book" / "_build" / "html"


def command() -> list[str]:
    """The jupyter-book command that writes the LaTeX sources and runs latexmk."""
    site = build_book.command()
    jupyter_book, options = site[0], site[2:]
    at = options.index("--path-output")
    options[at + 1] = str(OUTPUT.relative_to(ROOT))
    return [jupyter_book, "build", *options, "--builder", "pdflatex"]


def environment() -> dict[str, str]:
    env = build_book.environment()
    # latexmk passes LATEXOPTS to xelatex (Sphinx's latexmkrc): stop at the first error instead
    # of waiting for an answer on the terminal.
    env["LATEXOPTS"] = "-interaction=nonstopmode -halt-on-error"
    return env


def latex_problems(log: str) -> list[str]:
    """Errors and missing glyphs in a XeLaTeX log.

    Parameters
    ----------
    log : str
        The text of the ``.log`` file LaTeX wrote.

    Returns
    -------
    list of str
        Lines starting with ``!`` (errors) and ``Missing character`` lines (a character that
        no loaded font has, silently left out of the PDF).

    Examples
    --------
    >>> latex_problems("ok\\n! Undefined control sequence.\\nMissing character: There is no x")
    ['! Undefined control sequence.', 'Missing character: There is no x']
    """
    return [line for line in log.splitlines() if line.startswith("!") or re.match(r"Missing character", line)]


def main(argv: list[str]) -> int:
    if "--print" in argv:
        print(" ".join(command()))
        return 0
    proc = subprocess.run(command(), cwd=ROOT, env=environment())
    log_file = LATEX_DIR / PDF_NAME.replace(".pdf", ".log")
    problems = latex_problems(log_file.read_text(errors="replace")) if log_file.exists() else []
    if proc.returncode != 0 or problems:
        print("\n".join(problems[:20]), file=sys.stderr)
        print(f"The PDF build failed; LaTeX's log is {log_file.relative_to(ROOT)}.", file=sys.stderr)
        PDF.unlink(missing_ok=True)  # the site must not link a stale book
        return proc.returncode or 1
    shutil.copy2(LATEX_DIR / PDF_NAME, PDF)
    print(f"The book is in {PDF.relative_to(ROOT)}.")
    if (SITE / "index.html").exists():
        print("Rebuilding the site so that it links the PDF.")
        return build_book.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
