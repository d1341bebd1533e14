"""The book as one PDF: LaTeX settings for ``make pdf``, and the site's link to the PDF.

LaTeX (``scripts/build_pdf.py`` runs Jupyter Book's ``pdflatex`` builder with XeLaTeX):

- xeCJK with Debian's Noto CJK fonts, so the Chinese term given at the first use of each
  concept (协同过滤, 推荐系统) typesets instead of vanishing as a missing glyph;
- code and cell outputs wrap at the margin, even inside a long identifier, rather than
  running off the page.

The ``_config.yml`` ``sphinx.config`` section stays for the HTML site; these settings only
touch ``latex_elements``, which the HTML builder ignores.

HTML: the ``pdf-download`` directive shows "Download the book as PDF" only when the PDF
exists (``book/_build/pdf/multi-task-recommenders.pdf``, which ``make pdf`` writes) and
copies the file next to the site's ``index.html``, so the link never points at nothing. A
page that uses the directive is rebuilt whenever the PDF appears, changes or goes away.

Usage in MyST markdown::

    ```{pdf-download}
    ```
"""

from __future__ import annotations

import posixpath
import shutil
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive

PDF_NAME = "multi-task-recommenders.pdf"
LANDING_CSS = "landing.css"  # in html_static_path (book/_static)

# Fonts from Debian's fonts-noto-cjk. Simplified Chinese, the script of the book's terms.
_CJK_PREAMBLE = r"""
% Chinese terms in the English prose (book/_ext/pdf_book.py)
\usepackage{xeCJK}
\setCJKmainfont{Noto Serif CJK SC}
\setCJKsansfont{Noto Sans CJK SC}
\setCJKmonofont{Noto Sans Mono CJK SC}
% xeCJK sets curly quotes, dashes and the ellipsis as full-width CJK punctuation by default,
% which opens a gap after every apostrophe in the English text ("paper’ s").
\xeCJKDeclareCharClass{Default}{"00B7, "2013, "2014, "2018, "2019, "201C, "201D, "2026}
% unicode-math maps \setminus to U+29F5, which Latin Modern Math lacks.
\AtBeginDocument{\renewcommand{\setminus}{\mathbin{\backslash}}}
"""

# sphinx-jupyterbook-latex keeps its page structure (parts from the toc's captions, cells as
# input and output boxes) but its document class needs bbm.sty, which Debian ships only in the
# 500 MB texlive-fonts-extra, for blackboard-bold macros this book never uses. Sphinx's own
# ``manual`` class is used instead, with the two cell environments the class defined.
_CELL_PREAMBLE = r"""
\usepackage[strict]{changepage}
\definecolor{CodeBlockInputBorderColor}{RGB}{204,204,204}
\definecolor{CodeBlockInputColor}{RGB}{247,247,247}
\definecolor{CodeBlockOutputBorderColor}{RGB}{247,247,247}
\definecolor{CodeBlockOutputColor}{RGB}{252,252,252}
\newenvironment{sphinxVerbatimInput}
  {\colorlet{VerbatimBorderColor}{CodeBlockInputBorderColor}%
   \colorlet{VerbatimColor}{CodeBlockInputColor}%
   \begin{adjustwidth}{5pt}{}}
  {\end{adjustwidth}}
\newenvironment{sphinxVerbatimOutput}
  {\colorlet{VerbatimBorderColor}{CodeBlockOutputBorderColor}%
   \colorlet{VerbatimColor}{CodeBlockOutputColor}%
   \begin{adjustwidth}{20pt}{}}
  {\end{adjustwidth}}
"""

# The toc's parts (front matter, chapters, back matter) become LaTeX parts. The site numbers
# only the chapters and their pages (Background is chapter 1); the same here: the preface,
# course guide and glossary are unnumbered chapters, and headings inside a page get no number.
_NUMBERING_PREAMBLE = r"""
\newcounter{mtrpart}
\let\mtrOriginalPart\part
\renewcommand{\part}[1]{%
  \stepcounter{mtrpart}\setcounter{secnumdepth}{-2}%
  \mtrOriginalPart{#1}%
  \ifnum\value{mtrpart}=2 \setcounter{secnumdepth}{1}\fi}
"""

# Sphinx's own switches: wrap long code lines, breaking anywhere when no space is left.
_SPHINXSETUP = "verbatimwrapslines=true, verbatimforcewraps=true, verbatimmaxunderfull=0"


def built_pdf(outdir: str | Path) -> Path | None:
    """The PDF that ``make pdf`` wrote for the site built into ``outdir``, if there is one.

    Parameters
    ----------
    outdir : str or Path
        The HTML builder's output folder (``book/_build/html``).

    Returns
    -------
    Path or None
        ``<outdir>/../pdf/multi-task-recommenders.pdf`` when that file exists.
    """
    pdf = Path(outdir).parent / "pdf" / PDF_NAME
    return pdf if pdf.is_file() else None


class pdf_download(nodes.General, nodes.Element):
    """Where the download link goes; written by the HTML builder only."""


class PdfDownloadDirective(Directive):
    has_content = False

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        if not hasattr(env, "pdf_book_docs"):
            env.pdf_book_docs = set()
        env.pdf_book_docs.add(env.docname)
        return [pdf_download()]


def _visit_html(self, node: pdf_download) -> None:
    pdf = built_pdf(self.builder.outdir)
    if pdf is not None:
        href = posixpath.relpath(PDF_NAME, posixpath.dirname(self.builder.current_docname) or ".")
        size_mb = pdf.stat().st_size / 1e6
        self.body.append(
            f'<p class="pdf-download"><a class="reference download" href="{href}" download>'
            f'Download the book as PDF</a> <span class="pdf-size">({size_mb:.1f} MB)</span></p>'
        )
    raise nodes.SkipNode


def _skip(self, node: pdf_download) -> None:
    raise nodes.SkipNode


def _pdf_state(app) -> tuple[bool, int]:
    pdf = built_pdf(app.outdir) if app.builder.format == "html" else None
    return (pdf is not None, pdf.stat().st_mtime_ns if pdf else 0)


def _outdated(app, env, added, changed, removed) -> list[str]:
    # Re-write the pages with a link when the PDF appeared, was rebuilt or went away.
    state = _pdf_state(app)
    if getattr(env, "pdf_book_state", None) == state:
        return []
    env.pdf_book_state = state
    return sorted(d for d in getattr(env, "pdf_book_docs", set()) if d in env.found_docs and d not in changed)


def _purge(app, env, docname) -> None:
    getattr(env, "pdf_book_docs", set()).discard(docname)


def _merge(app, env, docnames, other) -> None:
    env.pdf_book_docs = getattr(env, "pdf_book_docs", set()) | (getattr(other, "pdf_book_docs", set()) & docnames)


def _copy_pdf(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    pdf = built_pdf(app.outdir)
    if pdf is not None:
        shutil.copy2(pdf, Path(app.outdir) / PDF_NAME)


def _landing_css(app, pagename, templatename, context, doctree) -> None:
    if pagename == app.config.root_doc:
        app.add_css_file(LANDING_CSS)


def _latex_settings(app, config) -> None:
    elements = dict(config.latex_elements)
    elements["preamble"] = elements.get("preamble", "") + _CELL_PREAMBLE + _CJK_PREAMBLE + _NUMBERING_PREAMBLE
    setup = elements.get("sphinxsetup", "")
    elements["sphinxsetup"] = f"{setup}, {_SPHINXSETUP}" if setup else _SPHINXSETUP
    elements.setdefault("papersize", "a4paper")
    config.latex_elements = elements
    config.latex_theme = "manual"
    # The glossary's terms make index entries; makeindex comes with TeX Live's binaries,
    # xindy (Sphinx's default for XeLaTeX) would be one more Debian package.
    config.latex_use_xindy = False


def setup(app):
    app.add_node(
        pdf_download,
        html=(_visit_html, None),
        latex=(_skip, None),
        text=(_skip, None),
        man=(_skip, None),
        texinfo=(_skip, None),
    )
    app.add_directive("pdf-download", PdfDownloadDirective)
    # After sphinx-jupyterbook-latex's own config-inited handler (default priority 500).
    app.connect("config-inited", _latex_settings, priority=900)
    app.connect("env-get-outdated", _outdated)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("build-finished", _copy_pdf)
    app.connect("html-page-context", _landing_css)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
