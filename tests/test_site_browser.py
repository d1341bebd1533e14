"""The built site in a real browser: every page of both editions, offline, math typeset,
diagrams drawn, search, the language switcher, Chinese text rendered with a CJK font.

Runs Debian's Chromium (``/usr/bin/chromium``; .ci/run installs it) through Playwright's
Python package. Playwright's own browser download cannot work here, so the executable is
passed explicitly. Screenshots of every page land in the test's temporary folder.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from conftest import toc_files

CHROMIUM = os.environ.get("MTREC_CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.browser


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output readable
        pass


@pytest.fixture(scope="module")
def site_url(built_site: Path):
    """Serve the built site on a free loopback port for the module's tests."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium); .ci/run does")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield b
        b.close()


def _pages() -> list[str]:
    """Site paths of every page in the table of contents, in both editions (中文 in zh/)."""
    return [f"{edition}{f}.html" for edition in ("", "zh/") for f in toc_files()]


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
CF_PAGE = "notebooks/ch03_cf/01_user_based_cf"
ARCHITECTURES_PAGE = "notebooks/ch03_mtl/01_mtl_architectures"


def _open(browser, url: str, base: str, viewport: dict = DESKTOP):
    """Open ``url``; return (page, console errors, foreign requests, failed requests)."""
    page = browser.new_page(viewport=viewport)
    errors, foreign, failed = [], [], []
    host = urlparse(base).netloc
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def on_request(req):
        u = urlparse(req.url)
        if u.scheme in ("http", "https", "ws", "wss") and u.netloc != host:
            foreign.append(req.url)

    page.on("request", on_request)
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("requestfailed", lambda r: failed.append(f"failed {r.url}"))
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, errors, foreign, failed


_OVERFLOWING_JS = """() => {
  const wide = (el) => el.scrollWidth > el.clientWidth + 1;
  const out = [];
  document.querySelectorAll('div.highlight pre').forEach((pre) => {
    // Printed output may be wide; a folded (hidden) block is measured when unfolded (the
    // static test in tests/test_pages_craft.py checks every line of every cell anyway).
    if (pre.closest('.cell_output, .output') || !pre.checkVisibility({ visibilityProperty: true })) return;
    if (!pre.innerText.trim() || !wide(pre)) return;
    const lines = pre.innerText.split('\\n');
    const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
    out.push(`code (${longest.length} characters): ${longest.trim().slice(0, 50)}`);
  });
  document.querySelectorAll('mjx-container[display="true"]').forEach((m) => {
    if (wide(m)) out.push(`equation ${m.scrollWidth} px in ${m.clientWidth} px`);
  });
  return out;
}"""


@pytest.mark.parametrize("path", _pages())
def test_page_renders_offline_with_math_typeset(browser, site_url, path, tmp_path_factory):
    page, errors, foreign, failed = _open(browser, f"{site_url}/{path}", site_url)
    try:
        assert page.title(), f"{path} has no title"
        # MathJax typesets asynchronously; wait for its promise before reading the text.
        has_math = page.evaluate("document.querySelectorAll('.math, mjx-container').length > 0")
        if has_math:
            page.wait_for_function("window.MathJax && window.MathJax.startup && window.MathJax.startup.promise")
            page.evaluate("window.MathJax.startup.promise")
            assert page.evaluate("document.querySelectorAll('mjx-container').length") > 0
        # At desktop width nothing the page wrote scrolls sideways: code (88-character lines)
        # and display equations fit the text column. Printed output may be wider.
        overflow = page.evaluate(_OVERFLOWING_JS)
        assert not overflow, f"{path}: wider than the text column at 1280 px: {overflow[:5]}"
        text = page.inner_text("main") if page.query_selector("main") else page.inner_text("body")
        assert "\\(" not in text and "\\[" not in text, f"{path}: raw TeX left in the page"
        if page.query_selector("pre.mermaid"):
            page.wait_for_selector("pre.mermaid svg", timeout=15_000)
        shots = tmp_path_factory.mktemp("screenshots")
        page.screenshot(path=str(shots / (path.replace("/", "_") + ".png")), full_page=False)
        # The page's language, and its twin in the other edition one click away.
        lang = page.evaluate("document.documentElement.lang")
        assert lang == ("zh-CN" if path.startswith("zh/") else "en"), f"{path}: <html lang={lang!r}>"
        twin = page.get_attribute("a.mtrec-language", "href")
        assert twin and page.is_visible("a.mtrec-language"), f"{path}: no visible language switcher"
        expected = path.removeprefix("zh/") if path.startswith("zh/") else "zh/" + path
        assert urljoin(page.url, twin) == f"{site_url}/{expected}", f"{path}: switcher goes to {twin}"
        assert not foreign, f"{path} requested other hosts: {foreign[:5]}"
        assert not failed, f"{path} had failed requests: {failed[:5]}"
        assert not errors, f"{path} logged console errors: {errors[:5]}"
    finally:
        page.close()


def test_concepts_diagram_is_drawn_as_svg(browser, site_url):
    page, errors, foreign, failed = _open(browser, f"{site_url}/book/ch02_concepts.html", site_url)
    try:
        page.wait_for_selector("pre.mermaid svg", timeout=15_000)
        labels = page.inner_text("pre.mermaid")
        assert "Multi-task learning" in labels and "Recommendation list" in labels
        n_nodes = page.evaluate("document.querySelectorAll('pre.mermaid svg g.node').length")
        assert n_nodes == 7, f"expected the article's 7 boxes, found {n_nodes}"
        assert not foreign and not failed and not errors
    finally:
        page.close()


@pytest.mark.parametrize("term, expected_page", [("MMoE", "ch03_algorithms"), ("协同过滤", "ch01_background")])
def test_search_finds_pages(browser, site_url, term, expected_page):
    page, errors, foreign, failed = _open(browser, f"{site_url}/search.html?q={term}", site_url)
    try:
        page.wait_for_selector("#search-results ul.search li", timeout=15_000)
        hits = page.eval_on_selector_all("#search-results ul.search li a", "els => els.map(e => e.href)")
        assert any(expected_page in h for h in hits), f"search for {term!r} found {hits[:10]}"
        assert not foreign and not errors
    finally:
        page.close()


def _visible(page, selector: str):
    """The elements matching ``selector`` that a reader can see (displayed, with an area)."""
    return [e for e in page.query_selector_all(selector) if e.is_visible() and (e.bounding_box() or {}).get("height")]


def test_phone_menu_button_opens_the_navigation_and_its_links_work(browser, site_url):
    page, errors, foreign, failed = _open(browser, f"{site_url}/{CF_PAGE}.html", site_url, PHONE)
    try:
        nav = page.locator("nav.bd-docs-nav")
        assert not nav.is_visible(), "the navigation should be folded away on a phone"
        buttons = _visible(page, ".primary-toggle")
        assert len(buttons) == 1, f"{len(buttons)} visible menu buttons"
        buttons[0].click()
        nav.wait_for(state="visible", timeout=5_000)
        # A reader can now go to another chapter.
        nav.get_by_role("link", name="Preface").click()
        page.wait_for_url("**/book/preface.html", timeout=10_000)
        assert not errors, errors[:5]
    finally:
        page.close()


def test_phone_contents_button_opens_the_page_contents(browser, site_url):
    page, errors, foreign, failed = _open(browser, f"{site_url}/{CF_PAGE}.html", site_url, PHONE)
    try:
        contents = page.locator("#pst-page-toc-nav")
        assert not contents.is_visible()
        buttons = _visible(page, ".secondary-toggle")
        assert len(buttons) == 1, f"{len(buttons)} visible contents buttons"
        buttons[0].click()
        contents.wait_for(state="visible", timeout=5_000)
        assert "Step 1" in contents.inner_text()
        assert not errors, errors[:5]
    finally:
        page.close()


def test_desktop_sidebar_toggle_hides_and_shows_the_navigation(browser, site_url):
    page, errors, foreign, failed = _open(browser, f"{site_url}/{CF_PAGE}.html", site_url, DESKTOP)
    try:
        sidebar = page.locator("#pst-primary-sidebar")
        assert sidebar.is_visible() and sidebar.bounding_box()["x"] >= 0
        buttons = _visible(page, ".primary-toggle")
        assert len(buttons) == 1, f"{len(buttons)} visible sidebar toggles"
        buttons[0].click()
        sidebar.wait_for(state="hidden", timeout=5_000)
        # Collapsed in place, not opened as a pop-up over the page.
        assert not page.evaluate("document.querySelector('#pst-primary-sidebar-modal').open")
        assert page.locator("main").bounding_box()["x"] < 100, "the article did not take the freed space"
        buttons[0].click()
        sidebar.wait_for(state="visible", timeout=5_000)
        page.wait_for_function("document.querySelector('#pst-primary-sidebar').getBoundingClientRect().x >= 0")
        assert not errors, errors[:5]
    finally:
        page.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_one_header_bar_and_one_search_box(browser, site_url, viewport):
    page, errors, foreign, failed = _open(browser, f"{site_url}/{CF_PAGE}.html", site_url, viewport)
    try:
        headers = _visible(page, ".bd-header, .bd-header-article")
        assert len(headers) == 1, f"{len(headers)} header bars: {[h.get_attribute('class') for h in headers]}"
        searches = _visible(page, ".search-button__button, input[type=search]")
        assert len(searches) == 1, f"{len(searches)} search boxes/buttons"
        searches[0].click()
        box = page.locator("#pst-search-dialog input[name=q]")
        box.wait_for(state="visible", timeout=5_000)
        box.fill("协同")
        box.press("Enter")
        page.wait_for_url("**/search.html?q=*", timeout=10_000)
        page.wait_for_selector("#search-results ul.search li", timeout=15_000)
    finally:
        page.close()


def _search(browser, site_url: str, term: str) -> list[str]:
    """The result pages, best first, once the search has finished."""
    page, errors, foreign, failed = _open(browser, f"{site_url}/search.html?q={term}", site_url)
    try:
        page.wait_for_function(
            "(document.querySelector('#search-results .search-summary') || {}).innerText?.includes('finished')",
            timeout=20_000,
        )
        hrefs = page.eval_on_selector_all("#search-results ul.search li a", "els => els.map(e => e.href)")
        assert not foreign and not errors, (foreign, errors)
        return [urlparse(h).path.lstrip("/").removesuffix(".html") for h in hrefs]
    finally:
        page.close()


@pytest.mark.parametrize("term", ["协同", "过滤", "协同过滤"])
def test_search_finds_chinese_terms_of_two_characters(browser, site_url, term):
    hits = _search(browser, site_url, term)
    assert CF_PAGE in hits, f"{term!r}: the collaborative-filtering page is not among {hits}"


def test_search_ranks_the_page_about_mmoe_above_pages_that_mention_it(browser, site_url):
    hits = _search(browser, site_url, "MMoE")
    assert len(hits) >= 10, hits  # many pages mention MMoE
    assert ARCHITECTURES_PAGE in hits[:3], f"architectures page ranked {hits.index(ARCHITECTURES_PAGE) + 1}: {hits}"
    exercises = [i for i, h in enumerate(hits) if h.endswith("90_exercises")]
    assert exercises and min(exercises) > hits.index(ARCHITECTURES_PAGE), hits


# ---------------------------------------------------------------------------
# The Chinese edition (中文版)
# ---------------------------------------------------------------------------
def test_chinese_diagram_has_chinese_labels(browser, site_url):
    page, errors, foreign, failed = _open(browser, f"{site_url}/zh/book/ch02_concepts.html", site_url)
    try:
        page.wait_for_selector("pre.mermaid svg", timeout=15_000)
        labels = page.inner_text("pre.mermaid")
        assert "多任务学习" in labels and "推荐列表" in labels, labels
        assert "Multi-task learning" not in labels and "Recommendation list" not in labels, labels
        assert page.evaluate("document.querySelectorAll('pre.mermaid svg g.node').length") == 7
        assert not foreign and not failed and not errors
    finally:
        page.close()


@pytest.mark.parametrize(
    "term, expected_page",
    [
        ("多任务学习", "zh/book/ch02_concepts"),  # its title names the concept (source article, 2.2)
        ("协同过滤", "zh/notebooks/ch03_cf/01_user_based_cf"),
        ("跷跷板现象", "zh/notebooks/ch03_experiments/05_seesaw"),
    ],
)
def test_chinese_search_finds_the_page(browser, site_url, term, expected_page):
    page, errors, foreign, failed = _open(browser, f"{site_url}/zh/search.html?q={term}", site_url)
    try:
        page.wait_for_function(
            "(document.querySelector('#search-results .search-summary') || {}).innerText?.length > 0",
            timeout=20_000,
        )
        page.wait_for_selector("#search-results ul.search li", timeout=15_000)
        hrefs = page.eval_on_selector_all("#search-results ul.search li a", "els => els.map(e => e.href)")
        hits = [urlparse(h).path.lstrip("/").removesuffix(".html") for h in hrefs]
        assert expected_page in hits[:5], f"{term!r}: {expected_page} not in the first five of {hits}"
        assert all(h.startswith("zh/") for h in hits), "the Chinese search left its edition"
        assert not foreign and not errors
    finally:
        page.close()


def test_chinese_text_is_drawn_with_a_cjk_font(browser, site_url, tmp_path):
    """Without a CJK font every character is the same empty box: two different words would
    give the same picture. With one, they differ (and the screenshot shows readable text)."""
    page, errors, foreign, failed = _open(browser, f"{site_url}/zh/index.html", site_url)
    try:
        shots = []
        for word in ("多任务学习", "协同过滤器"):
            page.set_content(f'<p style="font-size:40px;margin:0" id="w">{word}</p>')
            shots.append(page.locator("#w").screenshot(path=str(tmp_path / f"{word}.png")))
        assert shots[0] != shots[1], "Chinese characters render as identical boxes: install fonts-noto-cjk"
    finally:
        page.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_language_switcher_leads_to_the_same_page_and_back(browser, site_url, viewport):
    page, errors, foreign, failed = _open(browser, f"{site_url}/{CF_PAGE}.html", site_url, viewport)
    try:
        page.click("a.mtrec-language")
        page.wait_for_load_state("load")
        assert page.url == f"{site_url}/zh/{CF_PAGE}.html"
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        assert "协同过滤" in page.inner_text("main h1")
        page.click("a.mtrec-language")
        page.wait_for_load_state("load")
        assert page.url == f"{site_url}/{CF_PAGE}.html"
        assert not foreign and not failed and not errors
    finally:
        page.close()
