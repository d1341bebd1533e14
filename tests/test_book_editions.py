"""The two editions of the built site: every page has its Chinese twin, in Chinese, linked both ways.

The browser test (tests/test_site_browser.py) opens every page of both editions; this one reads
the built files: the language of each page, the switcher's link, how much of a Chinese page's
prose is Chinese, the Chinese downloads and the diagram.
"""

from __future__ import annotations

import html
import json
import posixpath
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from conftest import toc_files

pytestmark = pytest.mark.book

CJK = re.compile("[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _prose(soup: BeautifulSoup) -> str:
    """The article's prose: no code, outputs, math, citations or navigation."""
    article = soup.select_one("article") or soup
    for junk in article.select(
        "div.cell_input, div.cell_output, div.highlight, pre, code, .math, script, style, "
        "span.xref, a.reference.external, .bibliography, .citation, .footnote"
    ):
        junk.decompose()
    return article.get_text(" ")


@pytest.mark.parametrize("docname", toc_files())
def test_every_page_has_its_chinese_twin_in_chinese(built_site, docname):
    english, chinese = built_site / f"{docname}.html", built_site / "zh" / f"{docname}.html"
    assert english.exists() and chinese.exists(), docname
    en, zh = _soup(english), _soup(chinese)
    assert en.html["lang"] == "en" and zh.html["lang"] == "zh-CN"
    for soup, page, there in ((en, english, chinese), (zh, chinese, english)):
        link = soup.select_one("a.mtrec-language")
        assert link is not None, f"{page}: no language switcher"
        target = posixpath.normpath(
            posixpath.join(posixpath.dirname(page.relative_to(built_site).as_posix()), link["href"])
        )
        assert built_site / target == there, f"{page}: switcher leads to {target}"
    prose = _prose(zh)
    # Most of what a Chinese reader reads is Chinese: names (MMoE, AUC) and library calls
    # stay Latin, so count Chinese characters against Latin words.
    n_cjk, n_latin = len(CJK.findall(prose)), len(LATIN_WORD.findall(prose))
    assert n_cjk > 2 * n_latin, f"{docname}: {n_cjk} Chinese characters against {n_latin} Latin words"
    assert zh.title and "多任务推荐系统" in zh.title.get_text()


def test_chinese_downloads_have_chinese_prose_and_student_exercises(built_site):
    sources = sorted((built_site / "zh" / "_sources").rglob("*.ipynb"))
    assert len(sources) == len([f for f in toc_files() if f.startswith("notebooks/")])
    for path in sources:
        nb = json.loads(path.read_text(encoding="utf-8"))
        markdown = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        assert len(CJK.findall(markdown)) > 300, f"{path}: the download's prose is not Chinese"
        if path.stem == "90_exercises":
            assert "{solution" not in markdown, f"{path}: the download holds solutions"
            assert "### 练习 1" in markdown and "### Exercise" not in markdown, f"{path}: headings not in Chinese"
            english = json.loads((built_site / path.relative_to(built_site / "zh")).read_text(encoding="utf-8"))
            code = lambda n: [c["source"] for c in n["cells"] if c["cell_type"] == "code"]  # noqa: E731
            assert code(nb) == code(english), f"{path}: the code differs from the English download"


def test_chinese_diagram_labels_and_english_ones(built_site):
    zh = (built_site / "zh" / "book" / "ch02_concepts.html").read_text(encoding="utf-8")
    en = (built_site / "book" / "ch02_concepts.html").read_text(encoding="utf-8")
    zh_diagram = html.unescape(re.search(r'<pre class="mermaid"[^>]*>(.*?)</pre>', zh, re.S).group(1))
    en_diagram = html.unescape(re.search(r'<pre class="mermaid"[^>]*>(.*?)</pre>', en, re.S).group(1))
    assert "用户行为数据" in zh_diagram and "User behaviour data" not in zh_diagram
    assert "User behaviour data" in en_diagram
    # The same boxes and arrows: only the labels differ.
    strip = lambda d: re.sub(r'"[^"]*"', '""', d)  # noqa: E731
    assert strip(zh_diagram) == strip(en_diagram)


def test_chinese_search_index_holds_chinese_words(built_site):
    text = (built_site / "zh" / "searchindex.js").read_text(encoding="utf-8")
    index = json.loads(text[text.index("(") + 1 : text.rindex(")")])
    docs = index["docnames"]
    for bigram, page in [
        ("多任", "book/ch02_concepts"),
        ("协同", "notebooks/ch03_cf/01_user_based_cf"),
        ("跷跷", "notebooks/ch03_experiments/05_seesaw"),
    ]:
        found = []
        for kind in ("terms", "titleterms"):  # Sphinx indexes words of titles apart
            hits = index[kind].get(bigram, [])
            found += [hits] if isinstance(hits, int) else hits
        assert docs.index(page) in found, f"{bigram}: not indexed on {page}"


def test_chinese_sidebar_names_its_parts_in_chinese(built_site):
    captions = [c.get_text() for c in _soup(built_site / "zh" / "book" / "index.html").select(".caption-text")]
    assert captions and all(CJK.search(c) for c in captions), captions
    english = [c.get_text() for c in _soup(built_site / "book" / "index.html").select(".caption-text")]
    assert english == ["Front matter", "Chapters", "Back matter"]


def test_chinese_figures_draw_chinese_words(built_site):
    """Figures are SVG with their words as text; the Chinese pages show translated copies."""
    translated = 0
    for docname in toc_files():
        if not docname.startswith("notebooks/"):
            continue
        page = built_site / "zh" / f"{docname}.html"
        for img in _soup(page).select("article img"):
            src = img.get("src", "")
            if not src.endswith(".zh_CN.svg"):
                continue
            svg = (page.parent / src).resolve().read_text(encoding="utf-8")
            english = (page.parent / src.replace(".zh_CN.svg", ".svg")).resolve()
            assert CJK.search(svg), f"{docname}: {src} has no Chinese words"
            assert "<text" in svg and "<path" in svg
            # The same drawing: only the words differ.
            strip = lambda s: re.sub(r"<text\b[^>]*>[^<]*</text>", "", s)  # noqa: E731
            if english.exists():
                assert strip(svg) == strip(english.read_text(encoding="utf-8"))
            assert CJK.search(img.get("alt", "")), f"{docname}: alt text of {src} is not Chinese"
            translated += 1
    assert translated >= 40, f"only {translated} figures in Chinese"
