"""The book: its table of contents, its notebooks' form, and a full build."""

from __future__ import annotations

import json
import re
import sqlite3
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, notebooks, toc_files

CHAPTERS = [f"book/ch{n:02d}_" for n in range(1, 11)]
CONFIG = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())


def test_toc_has_preface_and_all_ten_chapters_in_order():
    files = toc_files()
    assert "book/preface" in files
    chapters = [f for f in files if re.match(r"book/ch\d\d_", f)]
    assert [c[: len("book/chNN_")] for c in chapters] == CHAPTERS


def test_every_toc_entry_exists_and_every_notebook_is_in_the_toc():
    files = toc_files()
    for f in files:
        assert (ROOT / f"{f}.md").exists() or (ROOT / f"{f}.ipynb").exists(), f"toc names missing file {f}"
    listed = set(files)
    for nb in notebooks():
        rel = nb.relative_to(ROOT).with_suffix("").as_posix()
        assert rel in listed, f"{rel}.ipynb is not in book/_toc.yml, so the book never shows it"


@pytest.mark.parametrize("nb", notebooks(), ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(nb):
    data = json.loads(nb.read_text(encoding="utf-8"))
    for i, cell in enumerate(data["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{nb.name} cell {i} has outputs; clear them"
            assert cell.get("execution_count") is None, f"{nb.name} cell {i} has an execution count"


@pytest.mark.parametrize("nb", notebooks(), ids=lambda p: p.name)
def test_notebook_starts_with_title_and_the_setup_cell(nb):
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# ")
    setup = "".join(cells[1]["source"])
    assert cells[1]["cell_type"] == "code"
    assert "import mtrec_lib as mt" in setup and "except ImportError" in setup
    # Its exact text follows repository.url: tests/test_book_config.py checks it.


def test_config_executes_with_cache_and_fails_on_errors():
    ex = CONFIG["execute"]
    assert ex["execute_notebooks"] == "cache"
    assert ex["raise_on_error"] is True and ex["allow_errors"] is False
    assert CONFIG["launch_buttons"]["thebe"] is False  # Thebe would load code from a CDN


def test_book_builds_with_warnings_as_errors(built_site):
    index = built_site / "index.html"
    assert index.exists()
    for prefix in ["book/preface", *CHAPTERS]:
        pages = list(built_site.glob(f"{prefix}*.html"))
        assert pages, f"no page for {prefix} in the built site"
    for nb in notebooks():
        page = built_site / nb.relative_to(ROOT).with_suffix(".html")
        assert page.exists(), f"{nb.name} was not rendered"


def test_every_notebook_was_executed_and_its_time_recorded(built_site):
    """Read execution times from jupyter-cache and record them next to the build."""
    db = ROOT / "book" / "_build" / ".jupyter_cache" / "global.db"
    times = {}
    if notebooks():
        assert db.exists(), "jupyter-cache database missing: notebooks were not executed"
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT uri, data FROM nbcache").fetchall()
        by_uri = {uri: json.loads(data or "{}") for uri, data in rows}
        for nb in notebooks():
            rec = by_uri.get(str(nb))
            assert rec is not None, f"{nb.name} has no execution record in jupyter-cache"
            times[nb.relative_to(ROOT).as_posix()] = round(rec.get("execution_seconds", float("nan")), 1)
    out = ROOT / "book" / "_build" / "notebook_times.json"
    out.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")
    for name, seconds in sorted(times.items()):
        print(f"{seconds:7.1f} s  {name}")


def test_every_glued_value_renders_without_numpy_repr(built_site):
    """A glued ``np.float64`` is stored as ``np.float64(0.1)`` and myst-nb cannot format it.

    On a cold build that is a Sphinx warning (and -W fails the build); on a warm cache the page
    is not re-read and the warning never shows. Reading the cached outputs catches it either way.
    """
    import nbformat
    from jupyter_cache import get_cache

    cache = get_cache(ROOT / "book" / "_build" / ".jupyter_cache")
    bad = []
    for path in notebooks():
        _, nb = cache.merge_match_into_notebook(nbformat.read(path, as_version=4))
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                record = out.get("metadata", {}).get("scrapbook", {})
                text = out.get("data", {}).get(record.get("mime_prefix", "") + "text/plain", "")
                name = record.get("name")
                if name and re.match(r"^np\.\w+\(", text):
                    bad.append(f"{path.relative_to(ROOT)}: {name} = {text}")
    assert not bad, "glue plain Python numbers (float(...), int(...)):\n" + "\n".join(bad)


# A ``print("RESULT", json.dumps(...))`` line exists for the tests (conftest.notebook_results
# reads it from the book's jupyter-cache); the page should not show it. Its cell carries the tag
# ``remove-cell``: myst-nb leaves the cell out of the page, while the executed notebook in the
# cache keeps every output.
_PRINTS_RESULT = re.compile(r"^\s*print\(\s*f?[\"']RESULT\b", re.M)


def _result_cells():
    for path in notebooks():
        rel = path.relative_to(ROOT / "notebooks").as_posix()
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and _PRINTS_RESULT.search(source):
                yield rel, i, cell.get("metadata", {}).get("tags", [])


def test_every_result_cell_is_removed_from_the_page():
    cells = list(_result_cells())
    assert len({rel for rel, *_ in cells}) >= 30  # the pattern still finds the notebooks' RESULT cells
    # A RESULT print shares its cell with nothing else, so the tag hides only test output.
    untagged = [f"{rel} cell {i}" for rel, i, tags in cells if "remove-cell" not in tags]
    assert not untagged, "tag these cells remove-cell (they print RESULT for the tests):\n" + "\n".join(untagged)


def test_result_regex_tells_a_print_from_other_text():
    assert _PRINTS_RESULT.search('x = 1\nprint("RESULT", json.dumps(r))')
    assert _PRINTS_RESULT.search("print(\n    'RESULT', json.dumps(r))")
    assert not _PRINTS_RESULT.search('DEFAULT_RESULTS = root / "results"\nprint(RESULTS)')


class _ProseText(HTMLParser):
    """The text of a page's <main> outside code, outputs and typeset math."""

    SKIP_TAGS = {"script", "style", "pre", "code"}
    SKIP_CLASSES = {"math", "output", "cell_output", "highlight"}

    def __init__(self):
        super().__init__()
        self.stack, self.in_main, self.parts = [], 0, []

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "img", "hr", "input", "meta", "link", "wbr"):
            return
        classes = set((dict(attrs).get("class") or "").split())
        skip = tag in self.SKIP_TAGS or bool(classes & self.SKIP_CLASSES)
        self.stack.append((tag, skip))
        self.in_main += tag == "main"

    def handle_startendtag(self, tag, attrs):  # <img ... />: nothing to open or close
        pass

    def handle_endtag(self, tag):
        if tag not in (t for t, _ in self.stack):  # a stray or void end tag closes nothing
            return
        while self.stack:
            open_tag, _ = self.stack.pop()
            self.in_main -= open_tag == "main"
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self.in_main and not any(skip for _, skip in self.stack):
            self.parts.append(data)


def test_no_page_shows_raw_math_delimiters(built_site):
    # A dollar sign left in the prose is math that MyST did not parse (e.g. $$...$$ glued to the
    # lines around it inside a list item): the reader sees "$" around the formula's source. A
    # dollar before a digit is money ("$50,000").
    stray = re.compile(r".{0,40}\$(?!\d).{0,40}")
    bad = []
    for page in sorted(built_site.rglob("*.html")):
        if page.relative_to(built_site).parts[0] in ("_static", "_sources", "_images"):
            continue
        parser = _ProseText()
        parser.feed(page.read_text(encoding="utf-8"))
        found = stray.findall(" ".join(parser.parts))
        bad += [f"{page.relative_to(built_site)}: {m.strip()!r}" for m in found]
    assert not bad, "stray $ in the prose (unparsed math):\n" + "\n".join(bad)


def test_no_page_shows_the_builders_home_folder_or_a_progress_bar(built_site):
    # A cache path under the home folder, or a tqdm bar ("12.3MB/s]"), on a page is noise
    # from the machine that built it; the loaders keep both off the page by default.
    home = str(Path.home()).rstrip("/") + "/"
    bar = re.compile(r"\d+(?:\.\d+)?\s?[kMG]?(?:B|it)/s\]")
    bad = []
    for page in sorted(built_site.rglob("*.html")):
        rel = page.relative_to(built_site)
        if rel.parts[0] in ("_static", "_sources", "_images"):
            continue
        text = page.read_text(encoding="utf-8")
        if home in text:
            bad.append(f"{rel}: home folder {home}")
        if found := bar.search(text):
            bad.append(f"{rel}: progress bar {found.group()!r}")
    assert not bad, "\n".join(bad)


def test_no_page_shows_a_result_line_and_the_cache_keeps_them(built_site):
    from conftest import notebook_results

    shown, missing = [], []
    for rel in sorted({rel for rel, *_ in _result_cells()}):
        page = built_site / "notebooks" / rel.replace(".ipynb", ".html")
        if "RESULT {" in page.read_text(encoding="utf-8"):
            shown.append(rel)
        if not notebook_results(f"notebooks/{rel}"):  # the hidden cell's output is still in the cache
            missing.append(rel)
    assert not shown, f"pages showing a RESULT line: {shown}"
    assert not missing, f"no RESULT line in the jupyter-cache for: {missing}"


def _pages(built_site: Path) -> list[Path]:
    """Every page of both editions (not a root index.html, which only redirects to the book's)."""
    return [
        p
        for p in sorted(built_site.rglob("*.html"))
        if not {"_static", "_sources", "_images"} & set(p.relative_to(built_site).parts)
        and 'http-equiv="Refresh"' not in p.read_text(encoding="utf-8")[:200]
    ]


def test_launch_and_repository_buttons_follow_the_repository_setting(built_site):
    # The setting as the build read it (the environment may override the config).
    import sys

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import book_repository

    repo = book_repository.load_for_build()
    launch_markers = ("mybinder.org", "colab.research.google.com", CONFIG["launch_buttons"]["jupyterhub_url"])
    # sphinx-thebe's and Jupyter Book's default repositories.
    foreign = ("binder-examples", "executablebooks/jupyter-book")
    bad = []
    for page in _pages(built_site):
        rel = page.relative_to(built_site).as_posix()
        text = page.read_text(encoding="utf-8")
        bad += [f"{rel}: names {f}" for f in foreign if f in text and f not in repo.url]
        if not repo.is_set:
            bad += [f"{rel}: launch link {m}" for m in launch_markers if m in text]
            if "btn-source-repository-button" in text:
                bad.append(f"{rel}: repository button")
        elif rel.startswith("notebooks/"):
            nb_path = rel.replace(".html", ".ipynb")
            if f"{repo.url.split('github.com/')[-1]}/blob/{repo.branch}/{nb_path}" not in text:
                bad.append(f"{rel}: no Colab link to {nb_path} on {repo.branch}")
            if repo.url not in text:
                bad.append(f"{rel}: no repository button")
    assert not bad, "\n".join(bad)


def test_every_notebook_page_offers_its_ipynb_for_download(built_site):
    missing = []
    for nb in notebooks():
        rel = nb.relative_to(ROOT)
        page = built_site / rel.with_suffix(".html")
        href = "../" * (len(rel.parts) - 1) + f"_sources/{rel.as_posix()}"
        text = page.read_text(encoding="utf-8")
        if f'href="{href}"' not in text or "btn-download-source-button" not in text:
            missing.append(f"{rel}: no download link {href}")
        elif nb.stem == "90_exercises":  # the student version (test_exercise_downloads_...)
            import course

            expected = course.student_notebook(json.loads(nb.read_text(encoding="utf-8")))
            if json.loads((built_site / "_sources" / rel).read_text(encoding="utf-8")) != expected:
                missing.append(f"{rel}: the download is not the student version of the notebook")
        elif (built_site / "_sources" / rel).read_bytes() != nb.read_bytes():
            missing.append(f"{rel}: the downloadable copy differs from the notebook")
    assert not missing, "\n".join(missing)


def test_every_page_has_one_header_and_one_of_each_sidebar_toggle(built_site):
    # pydata-sphinx-theme's own navbar (a second header with another search box and duplicate
    # toggles that left the visible ones without a click handler) must stay off.
    bad = []
    for page in _pages(built_site):
        text = page.read_text(encoding="utf-8")
        rel = page.relative_to(built_site)
        if "bd-header__inner" in text:
            bad.append(f"{rel}: the theme's navbar is back")
        # Exactly one menu button; a contents button only where the page has contents.
        for toggle, allowed in (("primary-toggle", {1}), ("secondary-toggle", {0, 1})):
            n = len(re.findall(rf'<button class="[^"]*\b{toggle}\b', text))
            if n not in allowed:
                bad.append(f"{rel}: {n} {toggle} buttons")
    assert not bad, "\n".join(bad)


def _search_cjk():
    import sys

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import search_cjk

    return search_cjk


def test_search_language_indexes_chinese_runs_as_characters_and_bigrams():
    search_cjk = _search_cjk()
    lang = search_cjk.SearchEnglishCJK({})
    words = lang.split("Collaborative filtering (协同过滤) and MMoE多任务")
    assert words[:2] == ["Collaborative", "filtering"] and "MMoE" in words
    assert {"协同", "同过", "过滤", "协", "同", "过", "滤", "多任", "任务"} <= set(words)
    assert "协同过滤" not in words  # the run itself is not a term: its pieces are
    # The browser's query split (splitQuery) gives bigrams, or the character alone.
    assert search_cjk.cjk_query_terms("协同过滤") == ["协同", "同过", "过滤"]
    assert search_cjk.cjk_query_terms("协") == ["协"]
    assert search_cjk.query_key(lang, "Shared-bottom") == search_cjk.query_key(lang, "shared bottom")
    assert search_cjk.query_key(lang, "协同过滤") == "协同 同过 过滤"  # sorted by code point, as in the browser


def test_search_ranking_data_marks_titles_definitions_counts_and_exercise_pages():
    from collections import Counter

    from docutils.core import publish_doctree

    search_cjk = _search_cjk()
    lang = search_cjk.SearchEnglishCJK({})
    pages = {
        "a/01_intro": search_cjk.page_signals(
            lang, publish_doctree("Intro\n=====\n\n**MMoE** (multi-gate mixture of experts) shares experts.\n"), "Intro"
        ),
        "a/02_mmoe": search_cjk.page_signals(
            lang,
            publish_doctree("MMoE results\n============\n\n**MMoE against PLE.** MMoE MMoE MMoE.\n"),
            "MMoE results",
        ),
        "a/90_exercises": search_cjk.page_signals(lang, publish_doctree("Ex\n==\n\nMMoE once, 协同过滤.\n"), "Ex"),
    }
    assert pages["a/02_mmoe"]["counts"]["mmoe"] == 5  # four in the text, one in the title
    data = search_cjk.ranking_data(pages, ["*/90_exercises"])
    docs = data["docs"]
    assert [docs[i] for i in data["titled"]["mmoe"]] == ["a/02_mmoe"]
    # Bold text that is only the term defines it; a bold sentence that mentions it does not.
    assert [docs[i] for i in data["defined"]["mmoe"]] == ["a/01_intro"]
    assert data["counts"]["mmoe"] == [[docs.index("a/02_mmoe"), 5]]
    assert [docs[i] for i in data["demoted"]] == ["a/90_exercises"]
    assert "协同" not in data["counts"]  # on one page only: its count cannot change an order
    assert search_cjk.frequency_bonus(1) == 0 and search_cjk.frequency_bonus(4) == 4
    assert search_cjk.frequency_bonus(1000) == 8
    assert Counter(pages["a/90_exercises"]["counts"])["协同"] == 1


def test_exercise_downloads_are_student_versions(built_site, tmp_path):
    # The page's .ipynb download (_sources/...) must not hand students the solutions or the
    # hidden tests that the repository's notebook holds (book/_ext/student_downloads.py).
    import shutil

    import course

    downloads = sorted((built_site / "_sources" / "notebooks").glob("*/90_exercises.ipynb"))
    assert len(downloads) == len(list((ROOT / "notebooks").glob("*/90_exercises.ipynb")))
    for path in downloads:
        shutil.copy(path, tmp_path / f"{path.parent.name}.ipynb")
        nb = json.loads(path.read_text(encoding="utf-8"))
        text = "".join("".join(c["source"]) for c in nb["cells"])
        assert "raise NotImplementedError()" in text, f"{path}: no answer stub"
        assert "instructor copy" not in text, f"{path}: the instructors' box is left in"
    assert course.solution_leaks(tmp_path) == []
    # The repository's copy still has them (the test above would pass on an empty file).
    assert "BEGIN HIDDEN TESTS" in (ROOT / "notebooks" / "ch03_cf" / "90_exercises.ipynb").read_text()
