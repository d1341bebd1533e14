"""Figures whose words the Chinese edition translates: titles, axis labels, legends.

The notebooks execute once for both editions, so a figure cannot be drawn again in Chinese.
It does not need to be: the build's kernels save every figure as SVG with its words as
``<text>`` elements (book/_ipython/profile_default: ``svg.fonttype = "none"``), and this
extension treats those words like the page's paragraphs:

* the gettext builder adds each one to the page's catalogue (``translations.py update``);
* the Chinese build writes a copy of each figure with the translated words
  (``<hash>.zh_CN.svg``) and points the page at it.

Words that only mathtext draws (``$\\rho$``: one ``<tspan>`` per glyph) and numbers are left
alone. Text printed by a cell (tables, logs) is output of the shared code too; it is not a
message, so the catalogues never hold a number that changes with a run.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: A ``<text>`` element with plain content (no ``<tspan>``: mathtext).
TEXT = re.compile(r"(<text\b[^>]*>)([^<]*)(</text>)")
#: Something a reader reads: two letters in a row (not "0.25", "1e-3" or "−0.4").
WORDS = re.compile(r"[A-Za-z]{2}")


def svg_words(svg: str) -> list[str]:
    """The words of a figure, in order, each once.

    >>> svg_words('<text x="1">AUC gain</text><text>0.25</text><text>AUC gain</text>')
    ['AUC gain']
    """
    found = [html.unescape(m.group(2)).strip() for m in TEXT.finditer(svg)]
    return list(dict.fromkeys(w for w in found if WORDS.search(w)))


def translate_svg(svg: str, translate) -> tuple[str, int]:
    """``svg`` with each word run replaced by ``translate(run)``; and how many changed.

    >>> translate_svg('<text x="1">AUC gain</text><text>2</text>', {"AUC gain": "AUC 提升"}.get)
    ('<text x="1">AUC 提升</text><text>2</text>', 1)
    """
    changed = 0

    def swap(match: re.Match) -> str:
        nonlocal changed
        words = html.unescape(match.group(2)).strip()
        new = translate(words) if WORDS.search(words) else None
        if not new or new == words:
            return match.group(0)
        changed += 1
        return _with_cjk_fonts(match.group(1)) + html.escape(new, quote=False) + match.group(3)

    return TEXT.sub(swap, svg), changed


#: Sans-serif CJK faces for translated words: matplotlib names only Latin fonts, and a browser
#: left to choose may fall back to a serif (Song/Ming) face next to the figure's sans-serif.
CJK_FONTS = "'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei'"


def _with_cjk_fonts(tag: str) -> str:
    """A ``<text>`` tag whose font list names sans-serif CJK faces before the generic family.

    >>> tag = _with_cjk_fonts('<text style="font-size: 10px; font-family: DejaVu Sans, sans-serif">')
    >>> tag.startswith('<text style="font-size: 10px; font-family: DejaVu Sans, ')
    True
    >>> tag.endswith("'Microsoft YaHei', sans-serif" + chr(34) + ">")
    True
    """

    def extend(m: re.Match) -> str:
        fonts = [f.strip() for f in m.group(1).split(",") if f.strip() != "sans-serif"]
        return "font-family: " + ", ".join([*fonts, CJK_FONTS, "sans-serif"])

    return re.sub(r"font-family: ([^;\"]*)", extend, tag)


def _figures(app: Sphinx, doctree: nodes.document):
    """(image node, SVG file) of every SVG a notebook cell drew on this page."""
    for image in doctree.findall(nodes.image):
        uri = image.get("uri", "")
        if not uri.endswith(".svg") or not uri.startswith("/"):
            continue
        path = Path(app.srcdir) / uri.lstrip("/")
        if path.exists():
            yield image, path


def _figure_words(app: Sphinx, doctree: nodes.document) -> None:
    if app.builder.name == "gettext":
        from sphinx.builders.gettext import MsgOrigin, docname_to_domain

        catalog = app.builder.catalogs[docname_to_domain(app.env.docname, app.config.gettext_compact)]
        source = app.env.doc2path(app.env.docname)
        # A figure's alt text too: MyST-NB keeps all of an output's formats until a
        # post-transform picks the builder's, and for the gettext builder it picks none, so
        # the builder itself never sees the image (Sphinx translates the alt text as usual).
        for image in doctree.findall(nodes.image):
            if image.get("alt"):
                catalog.add(image["alt"], MsgOrigin(image.source or source, image.line or 0))
        for image, path in _figures(app, doctree):
            for words in svg_words(path.read_text(encoding="utf-8")):
                catalog.add(words, MsgOrigin(image.source or source, image.line or 0))
        return
    from editions import page_catalogue

    catalog = page_catalogue(app, app.env.docname)
    if catalog is None:
        return

    def translate(words: str) -> str | None:
        new = catalog.gettext(words)
        return new if new != words else None

    for image, path in _figures(app, doctree):
        svg, changed = translate_svg(path.read_text(encoding="utf-8"), translate)
        if not changed:
            continue
        translated = path.with_name(f"{path.stem}.{app.config.language}.svg")
        if not translated.exists() or translated.read_text(encoding="utf-8") != svg:
            translated.write_text(svg, encoding="utf-8")
        image["uri"] = image["uri"].removesuffix(".svg") + f".{app.config.language}.svg"
        image["candidates"] = {"*": image["uri"]}


class UntranslatableOutputs(SphinxTransform):
    """What a cell printed is not a message (it changes with the code and the data)."""

    default_priority = 15  # before Sphinx's translation (20) and the gettext builder

    def apply(self, **kwargs) -> None:
        for output in self.document.findall(nodes.container):
            if "cell_output" not in output.get("classes", []):
                continue
            for node in output.findall(nodes.TextElement):
                node["translatable"] = False


def setup(app: Sphinx) -> dict:
    app.add_transform(UntranslatableOutputs)
    # Before Sphinx's image collector (priority 500) records which file the page shows.
    app.connect("doctree-read", _figure_words, priority=400)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
