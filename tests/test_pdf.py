"""The book as one PDF (``make pdf``) and the site's link to it.

The full build runs once per session after the site's (``built_site``, so these tests carry the
``book`` marker and belong to ``make test``); it reuses the site's jupyter-cache. The link's
logic is also tested on a two-page Sphinx project, which takes a second.
"""

from __future__ import annotations

import io
import posixpath
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import build_pdf  # noqa: E402  (scripts/ is on sys.path through conftest)
import pdf_book  # noqa: E402

CHAPTER_PAGES = sorted((ROOT / "book").glob("ch[01][0-9]_*.md"))


@dataclass
class PdfBuild:
    returncode: int
    output: str
    seconds: float
    pdf: Path
    log: str


@pytest.fixture(scope="module")
def pdf_build(built_site: Path) -> PdfBuild:
    """Run ``make pdf``'s script once, after the site is built (so it also re-links the site)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "scripts/build_pdf.py"], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    (ROOT / "book" / "_build" / "pdf_build.log").write_text(output)
    log_file = build_pdf.LATEX_DIR / build_pdf.PDF_NAME.replace(".pdf", ".log")
    log = log_file.read_text(errors="replace") if log_file.exists() else ""
    print(f"make pdf took {seconds:.0f} s")
    return PdfBuild(proc.returncode, output, seconds, build_pdf.PDF, log)


@pytest.fixture(scope="module")
def pdf_text(pdf_build: PdfBuild) -> str:
    if pdf_build.returncode != 0:
        tail = "\n".join(pdf_build.output.splitlines()[-30:])
        pytest.fail(f"make pdf failed (log in book/_build/pdf_build.log):\n{tail}")
    text = subprocess.run(["pdftotext", str(pdf_build.pdf), "-"], capture_output=True, text=True, check=True).stdout
    # One line per paragraph is not what a reader sees: compare with all whitespace as one space.
    return re.sub(r"\s+", " ", text)


def _page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def test_latex_problems_finds_errors_and_missing_glyphs():
    log = "(./x.tex)\n! Undefined control sequence.\nl.12 \\foo\nMissing character: There is no 协 in font FreeSerif\n"
    assert build_pdf.latex_problems(log) == [
        "! Undefined control sequence.",
        "Missing character: There is no 协 in font FreeSerif",
    ]
    assert build_pdf.latex_problems("Overfull \\hbox (1.2pt too wide)\nOutput written on x.pdf") == []


def test_pdf_command_is_the_sites_with_the_latex_builder():
    cmd = build_pdf.command()
    assert cmd[cmd.index("--builder") + 1] == "pdflatex"
    assert cmd[cmd.index("--path-output") + 1] == "book/_build/pdf"  # its own doctrees, not the site's
    assert cmd[cmd.index("--config") + 1] == "book/_config.yml"


def test_pdf_builds_without_latex_errors(pdf_build: PdfBuild):
    assert pdf_build.returncode == 0, pdf_build.output[-3000:]
    assert pdf_build.log, "LaTeX wrote no log"
    assert build_pdf.latex_problems(pdf_build.log) == []
    assert "Output written on" in pdf_build.log
    assert pdf_build.pdf.read_bytes()[:5] == b"%PDF-"


def test_pdf_has_a_plausible_length_and_the_executed_figures(pdf_build: PdfBuild, pdf_text: str):
    pages = _page_count(pdf_build.pdf)
    assert 200 <= pages <= 1000, f"{pages} pages"
    # Matplotlib output of the executed notebooks: the text alone has no image.
    listing = subprocess.run(["pdfimages", "-list", str(pdf_build.pdf)], capture_output=True, text=True, check=True)
    images = len(listing.stdout.splitlines()) - 2
    assert images >= 50, f"only {images} images: were the notebooks' outputs left out?"


@pytest.mark.parametrize("page", CHAPTER_PAGES, ids=lambda p: p.stem)
def test_pdf_contains_every_chapter_title(pdf_text: str, page: Path):
    title = page.read_text(encoding="utf-8").splitlines()[0].removeprefix("# ")
    assert title in pdf_text


def test_chinese_terms_survive_in_the_pdf(pdf_text: str):
    # Typeset with xeCJK and Noto CJK; without a CJK font XeLaTeX drops the glyphs.
    for term in ["协同过滤", "推荐系统", "多任务学习", "术语表"]:
        assert term in pdf_text, term
    # xeCJK would otherwise set the English apostrophe as full-width CJK punctuation.
    assert "paper’s" in pdf_text and "paper’ s" not in pdf_text


def test_preface_is_unnumbered_and_background_is_chapter_one(pdf_text: str):
    assert re.search(r"\b1 Background\b", pdf_text)
    assert not re.search(r"\b1 Preface\b", pdf_text)


def test_landing_cards_stay_on_the_site(pdf_text: str):
    assert "What you will build" in pdf_text
    assert "Start reading" not in pdf_text and "Chapter 1 · Background" not in pdf_text


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a" and dict(attrs).get("href"):
            self.hrefs.append(dict(attrs)["href"])


def _pdf_links(page: Path) -> list[str]:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return [h for h in parser.hrefs if h.endswith(".pdf")]


def test_site_links_the_pdf_and_the_link_resolves(pdf_build: PdfBuild, built_site: Path):
    assert pdf_build.returncode == 0
    index = built_site / "book" / "index.html"
    links = _pdf_links(index)
    assert links, "the landing page does not link the PDF"
    for href in links:
        target = (index.parent / href).resolve()
        assert target.is_file(), f"{href} points at nothing"
        assert target.read_bytes() == pdf_build.pdf.read_bytes()


# The link's logic, on a two-page project built with Sphinx directly.


def _sphinx_build(src: Path, out: Path, builder: str = "html") -> Path:
    from sphinx.application import Sphinx

    outdir = out / "_build" / builder
    # Several apps in one process re-register Sphinx's own nodes, with a warning each time.
    doctrees = str(out / "_build" / ".doctrees")
    app = Sphinx(str(src), str(src), str(outdir), doctrees, builder, status=None, warning=io.StringIO())
    app.build()
    return outdir


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "conf.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
        "extensions = ['pdf_book']\n"
        "latex_engine = 'xelatex'\n"
    )
    (src / "index.rst").write_text("Home\n====\n\n.. pdf-download::\n\n协同过滤\n\n.. toctree::\n\n   sub/page\n")
    (src / "sub" / "page.rst").write_text("Page\n====\n\n.. pdf-download::\n")
    return tmp_path


def test_link_appears_and_goes_with_the_pdf(tiny_project: Path):
    out = tiny_project / "out"
    pdf = out / "_build" / "pdf" / pdf_book.PDF_NAME

    html = _sphinx_build(tiny_project / "src", out)
    assert "Download the book as PDF" not in (html / "index.html").read_text()
    assert not (html / pdf_book.PDF_NAME).exists()

    pdf.parent.mkdir(parents=True)
    pdf.write_bytes(b"%PDF-1.5 a book")
    html = _sphinx_build(tiny_project / "src", out)  # the same environment: an incremental build
    for page, href in [("index.html", pdf_book.PDF_NAME), ("sub/page.html", "../" + pdf_book.PDF_NAME)]:
        links = _pdf_links(html / page)
        assert links == [href], page
        assert (html / posixpath.dirname(page) / href).read_bytes() == b"%PDF-1.5 a book"

    pdf.unlink()
    shutil.rmtree(pdf.parent)
    html = _sphinx_build(tiny_project / "src", out)
    assert _pdf_links(html / "index.html") == []


def test_latex_preamble_has_cjk_fonts_and_wrapping_code(tiny_project: Path):
    latex = _sphinx_build(tiny_project / "src", tiny_project / "out", "latex")
    tex = next(latex.glob("*.tex")).read_text(encoding="utf-8")
    assert r"\usepackage{xeCJK}" in tex and "Noto Serif CJK SC" in tex
    assert "verbatimforcewraps=true" in tex
    assert "Download the book as PDF" not in tex
