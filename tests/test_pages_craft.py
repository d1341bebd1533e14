"""How the pages read: code that fits the column, numbers that come from the code, one
numbering scheme, plotting cells without hidden state, and figures that fit with real alt text.

The static checks read every notebook in the table of contents and every ``book/*.md`` page;
they need no build. The image checks read the built site (``built_site``), so they run in the
full suite only.
"""

from __future__ import annotations

import ast
import json
import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import ROOT, toc_files

# The text column of the site's theme is 752 CSS px wide; 88 characters of code fit it.
MAX_CODE_LINE = 88
MAX_IMAGE_WIDTH = 752

NOTEBOOKS = [f for f in toc_files() if (ROOT / f"{f}.ipynb").exists()]
PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "book").glob("*.md"))
SOURCES = [f"{f}.ipynb" for f in NOTEBOOKS] + PAGES

# Numbers quoted in prose from a published source: typed facts, not measurements of the page's
# code. One entry per (page, number as typed); say where it comes from.
PUBLISHED: dict[tuple[str, str], str] = {
    # ESMM paper (Ma et al., SIGIR 2018), table of results on the public Ali-CCP data: CVR AUC
    # of ESMM and of the best baseline, and the gain between them, in percentage points.
    ("notebooks/ch03_experiments/02_esmm_selection_bias.ipynb", "68.56"): "Ma et al. 2018",
    ("notebooks/ch03_experiments/02_esmm_selection_bias.ipynb", "66.00"): "Ma et al. 2018",
    ("notebooks/ch03_experiments/02_esmm_selection_bias.ipynb", "2.56"): "Ma et al. 2018",
    # Surprise's benchmark table for MovieLens 100K (Hug 2020, README of the surprise
    # package): RMSE of its k-NN model with mean squared difference similarity.
    ("notebooks/ch01_background/02_three_families.ipynb", "0.98"): "Surprise README",
}


# --------------------------------------------------------------------------------------------
# Reading the sources


def _cells(source: str) -> list[dict]:
    """The cells of a notebook, or a page as one markdown cell."""
    path = ROOT / source
    if source.endswith(".ipynb"):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return [{"type": c["cell_type"], "text": "".join(c["source"]), "meta": c.get("metadata", {})} for c in cells]
    return [{"type": "markdown", "text": path.read_text(encoding="utf-8"), "meta": {}}]


_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
# Directives whose body is code (checked for width, left out of the prose) or not prose at all.
_CODE_DIRECTIVES = {"code-cell", "code", "code-block", "sourcecode", "literalinclude"}
_NON_PROSE_DIRECTIVES = _CODE_DIRECTIVES | {"mermaid", "math", "raw", "bibliography", "glue:figure", "csv-table"}


def _split_markdown(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """Lines of a markdown text as (prose, code): each a list of (line number, line).

    A fence with a language or ``{code-cell}`` holds code; a directive fence (``{note}``)
    holds prose, minus its ``:option:`` lines; ``{mermaid}`` and ``{math}`` are neither.
    """
    prose, code = [], []
    stack: list[tuple[str, str]] = []  # (fence, kind) with kind "code", "skip" or "prose"
    for n, line in enumerate(text.splitlines(), start=1):
        m = _FENCE.match(line)
        if m and stack and m.group("fence")[0] == stack[-1][0][0] and len(m.group("fence")) >= len(stack[-1][0]):
            if not m.group("info").strip():
                stack.pop()
                continue
        if m and (not stack or stack[-1][1] == "prose"):
            info = m.group("info").strip()
            directive = re.match(r"\{([\w:-]+)\}", info)
            if directive:
                name = directive.group(1)
                kind = "code" if name in _CODE_DIRECTIVES else "skip" if name in _NON_PROSE_DIRECTIVES else "prose"
            else:
                kind = "code"
            stack.append((m.group("fence"), kind))
            continue
        kind = stack[-1][1] if stack else "prose"
        if kind == "code":
            code.append((n, line))
        elif kind == "prose":
            if stack and re.match(r"^\s*:[\w-]+:", line):  # a directive's option, not prose
                continue
            prose.append((n, line))
    return prose, code


def _code_lines(cell: dict) -> list[tuple[int, str]]:
    if cell["type"] == "code":
        return list(enumerate(cell["text"].splitlines(), start=1))
    if cell["type"] == "markdown":
        return _split_markdown(cell["text"])[1]
    return []


# --------------------------------------------------------------------------------------------
# Code lines fit the text column


@pytest.mark.parametrize("source", SOURCES)
def test_code_lines_fit_the_column(source):
    long = []
    for i, cell in enumerate(_cells(source)):
        for n, line in _code_lines(cell):
            if len(line) > MAX_CODE_LINE:
                where = f"cell {i} line {n}" if source.endswith(".ipynb") else f"line {n}"
                long.append(f"{source} {where}: {len(line)} characters: {line.strip()[:60]}...")
    assert not long, (
        f"code lines longer than {MAX_CODE_LINE} characters scroll sideways on the page; break them "
        f"where a reader would (ruff format --line-length {MAX_CODE_LINE} is a start):\n" + "\n".join(long)
    )


# --------------------------------------------------------------------------------------------
# One numbering scheme: the book's own

_NUMBERED_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+\d+(?:\.\d+)+\.?\s")
_ARTICLE_REFERENCE = re.compile(r"(?:\bsections?|\bquestions?|§)\s*\d+(?:\.\d+)+", re.IGNORECASE)


@pytest.mark.parametrize("source", SOURCES)
def test_no_hand_typed_section_numbers(source):
    bad = []
    for i, cell in enumerate(_cells(source)):
        if cell["type"] != "markdown":
            continue
        where = f"cell {i} " if source.endswith(".ipynb") else ""
        for n, line in _split_markdown(cell["text"])[0]:
            if _NUMBERED_HEADING.match(line):
                bad.append(
                    f"{source} {where}line {n}: heading {line.strip()!r}: drop the number (Sphinx numbers pages)"
                )
            for m in _ARTICLE_REFERENCE.finditer(_strip_inline(line)):
                bad.append(
                    f"{source} {where}line {n}: {m.group()!r}: name the article's section in words "
                    "(e.g. 'the article's section on the walkthrough') or link the book's page with {doc}"
                )
    assert not bad, "the book's numbers and the article's collide:\n" + "\n".join(bad)


def test_numbering_patterns_tell_numbers_from_text():
    assert _NUMBERED_HEADING.match("## 5.2.1 Data") and _NUMBERED_HEADING.match("# 9.3. FAQ")
    assert not _NUMBERED_HEADING.match("## Data in 2.5 dimensions") and not _NUMBERED_HEADING.match("## 2017")
    assert _ARTICLE_REFERENCE.search("the answer to question 9.2 says") and _ARTICLE_REFERENCE.search("§5.1")
    assert _ARTICLE_REFERENCE.search("Sections 5.1 and 5.2")
    assert not _ARTICLE_REFERENCE.search("this section trains 5 models at rate 0.1")


# --------------------------------------------------------------------------------------------
# Measured numbers in prose are glued

_INLINE_SKIPS = [
    re.compile(r"(?s)<!--.*?-->"),  # comments
    re.compile(r"(?s)\$\$.*?\$\$"),  # display math
    re.compile(r"(?s)\\begin\{(\w+\*?)\}.*?\\end\{\1\}"),  # amsmath environments
    re.compile(r"\{[\w:.-]+\}`[^`]*`"),  # roles: {glue:text}, {cite:p}, {doc}, {term}, ...
    re.compile(r"(`+)(?s:.+?)\1"),  # code spans
    re.compile(r"(?<![\\$])\$(?!\s)[^$\n]+?(?<!\s)\$(?!\d)"),  # inline math
    re.compile(r"!?\[[^\]]*\]\([^)]*\)"),  # links and images, text and target
    re.compile(r"<[^>\n]+>"),  # html tags and autolinks
    re.compile(r"^\s*\([\w.-]+\)=\s*$", re.M),  # targets
    re.compile(r"\{\{[^}]*\}\}"),  # substitutions
]


def _strip_inline(text: str) -> str:
    for pattern in _INLINE_SKIPS:
        text = pattern.sub(" ", text)
    return text


# A decimal (0.74, .5), a percentage (12.7%, 13 per cent, 13 percent) or a ratio (11x, 11×).
_TYPED_NUMBER = re.compile(
    r"(?<![\w.,])(?P<num>\d+(?:\.\d+)?|\.\d+)"
    r"(?:(?P<pct>\s?%|\s?per\s?cent\b)|(?P<ratio>\s?[x×](?!\w)))?"
    r"(?!\w|[.,]\d)"
)
_VERSION_BEFORE = re.compile(
    r"(?:Python|TensorFlow|Keras|Jupyter Book|MyST-NB|Sphinx|pandas|NumPy|scikit-learn|PyTorch|Ray|"
    r"Spark|version|release|v)\s*$",
    re.IGNORECASE,
)
_CODE_NUMBER = re.compile(r"(?<![\w.])(?:\d+(?:_\d+)*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _typed_numbers(text: str):
    """Typed numbers in a prose line: (number as typed, value, kind)."""
    text = _strip_inline(text)
    for m in _TYPED_NUMBER.finditer(text):
        num = m.group("num")
        kind = "percentage" if m.group("pct") else "ratio" if m.group("ratio") else "decimal"
        if kind == "decimal" and "." not in num:
            continue
        if kind == "decimal" and _VERSION_BEFORE.search(text[: m.start()]):
            continue
        yield m.group().strip(), float(num), kind


def _code_values(cells: list[dict]) -> set[float]:
    """Every numeric literal in the notebook's code (and in a page's code blocks)."""
    values = set()
    for cell in cells:
        for _, line in _code_lines(cell):
            for lit in _CODE_NUMBER.findall(line):
                try:
                    values.add(round(float(lit.replace("_", "")), 12))
                except ValueError:
                    pass
    return values


def test_typed_number_pattern():
    found = [t for t, *_ in _typed_numbers("AUC 0.74, 12.7% and 13 per cent, 11x faster, 3 models, 2017, $0.5$")]
    assert found == ["0.74", "12.7%", "13 per cent", "11x"]
    found = [t for t, *_ in _typed_numbers("Python 3.10, {glue:text}`auc:.2f`, `lr=0.1`, [v](a/0.5.html), 1,000.5")]
    assert found == []
    assert [t for t, *_ in _typed_numbers("a 3x3 grid, 2.5x slower, 5.2.1, 0.5×")] == ["2.5x", "0.5×"]


# An exercise may give a made-up report to judge; the cell says so in a comment.
_INVENTED = "<!-- invented numbers:"
_DISPLAY_MATH = re.compile(r"(?s)\$\$.*?\$\$")


@pytest.mark.parametrize("source", SOURCES)
def test_measured_numbers_in_prose_are_glued(source):
    cells = _cells(source)
    settings = _code_values(cells)
    bad = []
    for i, cell in enumerate(cells):
        if cell["type"] != "markdown" or _INVENTED in cell["text"]:
            continue
        where = f"cell {i} " if source.endswith(".ipynb") else ""
        # A display equation over several lines is math, not prose (keep the line numbers).
        text = _DISPLAY_MATH.sub(lambda m: "\n" * m.group().count("\n"), cell["text"])
        for n, line in _split_markdown(text)[0]:
            for typed, value, kind in _typed_numbers(line):
                candidates = {round(value, 12)} | ({round(value / 100, 12)} if kind == "percentage" else set())
                if candidates & settings or (source, typed.rstrip("%x× ").split()[0]) in PUBLISHED:
                    continue
                bad.append(f"{source} {where}line {n}: {kind} {typed!r}")
    assert not bad, (
        "typed numbers in prose drift from what the code computes: glue them "
        "(glue('key', float(x), display=False), then {glue:text}`key:.2f`), or, for a number quoted "
        "from a paper, add it to PUBLISHED in tests/test_pages_craft.py with its source:\n" + "\n".join(bad)
    )


# --------------------------------------------------------------------------------------------
# Plotting cells define nothing later cells need

_DRAWS = re.compile(r"\bplt\.|\.plot\(|\bax\.|\bfig\.|\bsns\.")
_PLOT_NAMES = {"fig", "ax", "axes"}


def _parse_cell(text: str) -> ast.Module | None:
    lines = text.splitlines()
    if lines and lines[0].startswith("%%"):
        return None  # a cell magic: not Python
    # IPython line magics and shell escapes: keep the line count, drop the syntax.
    lines = [("pass  # " if re.match(r"^\s*[%!]", line) else "") + line for line in lines]
    lines = [re.sub(r"^(\s*)pass  # \s*", r"\1pass  # ", line) for line in lines]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


class _Names(ast.NodeVisitor):
    """Module-level names a cell stores, and names it reads before storing them."""

    def __init__(self):
        self.stored: set[str] = set()
        self.free: set[str] = set()
        self.local: list[set[str]] = []

    def _store(self, name: str):
        if self.local:
            self.local[-1].add(name)
        else:
            self.stored.add(name)

    def _load(self, name: str):
        if any(name in scope for scope in self.local) or name in self.stored:
            return
        self.free.add(name)

    def visit_Name(self, node):
        (self._store if isinstance(node.ctx, (ast.Store, ast.Del)) else self._load)(node.id)

    def visit_Import(self, node):
        for alias in node.names:
            self._store((alias.asname or alias.name).split(".")[0])

    visit_ImportFrom = visit_Import

    def _scoped(self, node, args: ast.arguments | None, body):
        names = set()
        if args is not None:
            for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if a is not None:
                    names.add(a.arg)
        # Names a function body assigns are its locals wherever they are assigned.
        for sub in ast.walk(ast.Module(body=body if isinstance(body, list) else [ast.Expr(body)], type_ignores=[])):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                names.add(sub.id)
        self.local.append(names)
        for part in body if isinstance(body, list) else [body]:
            self.visit(part)
        self.local.pop()

    def visit_FunctionDef(self, node):
        for d in node.decorator_list:
            self.visit(d)
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        self._store(node.name)
        self._scoped(node, node.args, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        self._scoped(node, node.args, node.body)

    def visit_ClassDef(self, node):
        for b in node.bases:
            self.visit(b)
        self._store(node.name)
        self._scoped(node, None, node.body)

    def _comprehension(self, node, parts):
        # The first iterable is read in the enclosing scope; targets are local to the comprehension.
        self.visit(node.generators[0].iter)
        self.local.append(set())
        for gen in node.generators:
            if gen is not node.generators[0]:
                self.visit(gen.iter)
            self.visit(gen.target)
            for cond in gen.ifs:
                self.visit(cond)
        for part in parts:
            self.visit(part)
        self.local.pop()

    def visit_ListComp(self, node):
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node):
        self._comprehension(node, [node.key, node.value])

    def visit_Assign(self, node):
        self.visit(node.value)  # the right-hand side is read before the targets are stored
        for target in node.targets:
            self.visit(target)

    def visit_AugAssign(self, node):
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self._load(node.target.id)
        self.visit(node.target)

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)

    def visit_NamedExpr(self, node):
        self.visit(node.value)
        self.stored.add(node.target.id)


def _draws(tree: ast.Module, text: str) -> bool:
    """Whether running the cell draws: a plotting call outside function and class bodies
    (a helper that draws onto the ``ax`` it is given draws only when a later cell calls it)."""
    lines = text.splitlines()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        segment = "\n".join(lines[stmt.lineno - 1 : stmt.end_lineno])
        if _DRAWS.search(re.sub(r"#.*", "", segment)):
            return True
    return False


def _names(tree: ast.Module) -> _Names:
    names = _Names()
    names.visit(tree)
    return names


def test_a_helper_that_draws_when_called_is_not_a_plotting_cell():
    text = "def plot_front(ax):\n    ax.plot([1], [2])\n\n\nfront = [1, 2]"
    assert not _draws(ast.parse(text), text)
    text = "fig, ax = plt.subplots()\nax.plot([1], [2])"
    assert _draws(ast.parse(text), text)


def test_names_of_a_cell():
    n = _names(ast.parse("import numpy as np\nx = np.ones(3) + y\nf = lambda t: t + z\nq = [i for i in x]"))
    assert n.stored == {"np", "x", "f", "q"} and n.free == {"y", "z"}
    n = _names(ast.parse("def g(a):\n    b = a + c\n    return b\ns = 0\ns += w"))
    assert n.stored == {"g", "s"} and n.free == {"c", "w"}


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_plotting_cells_define_nothing_later_cells_need(notebook):
    source = f"{notebook}.ipynb"
    defined_by: dict[str, int] = {}  # name -> the cell that last assigned it
    draws: set[int] = set()
    bad = []
    for i, cell in enumerate(_cells(source)):
        if cell["type"] != "code":
            continue
        tree = _parse_cell(cell["text"])
        if tree is None:
            continue
        names = _names(tree)
        for name in sorted(names.free):
            j = defined_by.get(name)
            if j is not None and j in draws and name not in _PLOT_NAMES:
                bad.append(
                    f"{source} cell {j} draws a figure and defines {name!r}, which cell {i} reads: "
                    f"compute {name!r} in a cell of its own before the plot"
                )
        if _draws(tree, cell["text"]):
            draws.add(i)
        for name in names.stored:
            defined_by[name] = i
    assert not bad, "skipping a plot cell must not break the cells after it:\n" + "\n".join(bad)


# --------------------------------------------------------------------------------------------
# Figures on the built pages: real alt text, at most the column's width


class _Images(HTMLParser):
    """The <img> tags inside a page's <main>."""

    def __init__(self):
        super().__init__()
        self.depth, self.images = 0, []

    def handle_starttag(self, tag, attrs):
        if tag == "main":
            self.depth += 1
        elif tag == "img" and self.depth:
            self.images.append(dict(attrs))

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "main":
            self.depth -= 1


_FILE_NAME = re.compile(r"^\S*\.(?:png|jpe?g|svg|gif|webp)$|^\S*/\S*$", re.IGNORECASE)


def _png_width(path: Path) -> int | None:
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">I", head[16:20])[0]


def _css_width(img: dict, page: Path) -> float | None:
    """The width the browser shows the image at, before CSS max-width shrinks it."""
    for value in (img.get("width"), *re.findall(r"(?:^|;)\s*width:\s*([\d.]+)px", img.get("style") or "")):
        if value and re.fullmatch(r"[\d.]+(?:px)?", value):
            return float(value.removesuffix("px"))
    src = img.get("src", "")
    if src.startswith("data:") or not src:
        return None
    file = (page.parent / src.split("?")[0]).resolve()
    if not file.exists():
        return None
    return _svg_width(file) if file.suffix == ".svg" else _png_width(file)


def _svg_width(path: Path) -> float | None:
    """An SVG's own width in CSS pixels (matplotlib writes it in points: 1 pt = 4/3 px)."""
    match = re.search(r'<svg\b[^>]*?\swidth="([\d.]+)(pt|px)?"', path.read_text(encoding="utf-8")[:2000])
    if not match:
        return None
    return float(match.group(1)) * (4 / 3 if match.group(2) == "pt" else 1)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_figures_have_alt_text_and_fit_the_column(built_site, notebook):
    page = built_site / f"{notebook}.html"
    assert page.exists(), f"{notebook}.ipynb has no page in the built site"
    parser = _Images()
    parser.feed(page.read_text(encoding="utf-8"))
    bad = []
    for k, img in enumerate(parser.images, start=1):
        alt = (img.get("alt") or "").strip()
        name = img.get("src", "?").rsplit("/", 1)[-1]
        if not alt or _FILE_NAME.match(alt):
            bad.append(
                f"{notebook}.ipynb figure {k} ({name}): alt text {alt!r} is not a description; give the "
                'cell metadata {"mystnb": {"image": {"alt": "<what the figure shows>"}}}'
            )
        width = _css_width(img, page)
        if width is None or width > MAX_IMAGE_WIDTH:
            bad.append(
                f"{notebook}.ipynb figure {k} ({name}): shown {width} px wide, more than the "
                f"{MAX_IMAGE_WIDTH} px column; use figsize width <= 7.2 inches"
            )
    assert not bad, "\n".join(bad)


# --------------------------------------------------------------------------------------------
# A cell that runs long shows progress in JupyterLab

LONG_CELL_SECONDS = 20.0
# Keras' own bars (verbose=1) would print into the page: the library's track() draws only
# where a person watches (mtrec_lib/progress.py).
_SHOWS_PROGRESS = re.compile(r"\bprogress\.track\(")


def _cell_times() -> dict[str, float]:
    """Longest recorded wall seconds per cell source (SHA-256), from the book build's record."""
    import build_book

    times: dict[str, float] = {}
    if build_book.CELL_TIMES.exists():
        for line in build_book.CELL_TIMES.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            times[rec["sha256"]] = max(times.get(rec["sha256"], 0.0), float(rec["seconds"]))
    return times


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_cells_that_run_long_show_progress(built_site, notebook):
    # The build records every cell it executes (book/_ipython/.../startup/00_cell_times.py);
    # a cell answered from the cache was timed when it last ran.
    import hashlib

    times = _cell_times()
    slow = []
    for i, cell in enumerate(_cells(f"{notebook}.ipynb")):
        if cell["type"] != "code":
            continue
        seconds = times.get(hashlib.sha256(cell["text"].encode("utf-8")).hexdigest(), 0.0)
        if seconds > LONG_CELL_SECONDS and not _SHOWS_PROGRESS.search(cell["text"]):
            slow.append(f"{notebook}.ipynb cell {i}: {seconds:.0f} s without progress")
    assert not slow, (
        f"a student waits over {LONG_CELL_SECONDS:.0f} s with nothing moving; loop over "
        'mt.progress.track(items, desc="...") (a bar in JupyterLab, none on the page):\n' + "\n".join(slow)
    )


def test_progress_pattern():
    assert _SHOWS_PROGRESS.search('for s in mt.progress.track(SEEDS, desc="seeds"):')
    assert not _SHOWS_PROGRESS.search("for seed in SEEDS:")
