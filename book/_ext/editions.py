"""The book's two editions (English, 中文) and the language switcher of every page.

Both editions are built from the same sources (scripts/build_book.py): the English one into
the site's root, the Chinese one, with ``language=zh_CN`` and the gettext catalogues of
book/locales, into the site's ``zh/`` folder. Every page of one edition therefore has its twin
at the same path in the other, and the switcher in the page header is one relative link:
``notebooks/ch03_cf/03_evaluation.html`` ⇄ ``zh/notebooks/ch03_cf/03_evaluation.html``.
Each page also names its twin in ``<link rel="alternate" hreflang>``, for search engines.

The Chinese edition gets its own title and search box text here; Sphinx itself sets
``<html lang="zh-CN">`` from ``language`` and translates the theme's own words.
"""

from __future__ import annotations

import html
import posixpath
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.transforms import SphinxTransform

#: Sphinx language of each edition → the folder of the site it is published in.
EDITIONS = {"en": "", "zh_CN": "zh"}
#: What the switcher says to leave for that edition, and the edition's HTML language tag.
LABELS = {"en": "English", "zh_CN": "中文"}
HTML_LANG = {"en": "en", "zh_CN": "zh-CN"}
#: The Chinese edition's own words for what _config.yml says in English.
ZH_TITLE = "多任务推荐系统"
ZH_SEARCH_TEXT = "搜索本书……"


def edition(language: str | None) -> str:
    """The edition a build's ``language`` belongs to (English unless it is Chinese).

    >>> edition("zh_CN"), edition("en"), edition(None)
    ('zh_CN', 'en', 'en')
    """
    return "zh_CN" if (language or "").startswith("zh") else "en"


def twin_href(pagename: str, source: str, target: str) -> str:
    """The relative link from a page of edition ``source`` to the same page of ``target``.

    >>> twin_href("notebooks/ch03_cf/03_evaluation", "en", "zh_CN")
    '../../zh/notebooks/ch03_cf/03_evaluation.html'
    >>> twin_href("index", "zh_CN", "en")
    '../index.html'
    """
    site_root = "../" * pagename.count("/") + ("../" if EDITIONS[source] else "")
    folder = EDITIONS[target]
    return posixpath.join(site_root, folder, pagename + ".html") if folder else site_root + pagename + ".html"


#: The switcher's template, found wherever the book's extensions are used from.
TEMPLATES = Path(__file__).resolve().parents[1] / "_templates"


def _configure(app: Sphinx, config: Config) -> None:
    if not any(Path(app.confdir, p).resolve() == TEMPLATES for p in config.templates_path):
        config.templates_path = [*config.templates_path, str(TEMPLATES)]
    options = dict(config.mtrec_theme_options or {})
    # The switcher sits in the article header, before the download and full-screen buttons,
    # so it is on every page at every width (the header is never collapsed).
    options.setdefault("article_header_end", ["language-switcher.html", "article-header-buttons.html"])
    if edition(config.language) == "zh_CN":
        config.html_title = ZH_TITLE
        options["search_bar_text"] = ZH_SEARCH_TEXT
    config.mtrec_theme_options = options


def _switcher(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    here = edition(app.config.language)
    there = "en" if here == "zh_CN" else "zh_CN"
    href = twin_href(pagename, here, there)
    context["mtrec_edition"] = {"href": href, "label": LABELS[there], "lang": HTML_LANG[there]}
    context["metatags"] = context.get("metatags", "") + (
        f'\n<link rel="alternate" hreflang="{HTML_LANG[there]}" href="{html.escape(href)}" />'
    )


def glue_in_translations() -> None:
    """Let a translated paragraph paste its notebook's glued numbers.

    Sphinx parses each translation as a small document of its own (its source ends with
    ``<translated>``); MyST-NB's glue roles look for the notebook's data on the document being
    parsed and find none there. In such a document a role's key is therefore turned into a
    reference to the page's own notebook (``/notebooks/x.ipynb::key``, MyST-NB's syntax for
    gluing from another document), which MyST-NB resolves after the page is read, from the
    glue data it stored for that notebook. The English edition never parses a translation.
    """
    from myst_nb.ext.glue import roles

    def wrap(role_class, needs_format: bool) -> None:
        original = role_class.run
        if getattr(original, "mtrec_wrapped", False):
            return

        def run(self):
            if self.document.current_source.endswith("<translated>") and "::" not in self.text:
                env = self.document.settings.env
                text = self.text if (":" in self.text or not needs_format) else self.text + ":s"
                self.text = f"/{env.doc2path(env.docname, False)}::{text}"
            return original(self)

        run.mtrec_wrapped = True
        role_class.run = run

    wrap(roles.PasteRoleAny, needs_format=False)
    wrap(roles.PasteTextRole, needs_format=True)


def translatable_exercise_titles() -> None:
    """Make an exercise's own title (``:::{exercise} Gate weights``) a message to translate.

    sphinx-exercise builds that title (a ``subtitle`` node) from the directive's argument but
    gives it no source, and Sphinx only translates text whose source it knows; the title is
    neither extracted nor translated. Here the node gets the argument as its raw text and the
    directive's source and line, like any paragraph. ("Exercise" itself is sphinx-exercise's
    own word, translated by its own catalogue.)
    """
    from sphinx_exercise import directive, nodes

    original = directive.ExerciseDirective.run
    if getattr(original, "mtrec_wrapped", False):
        return

    def run(self):
        result = original(self)
        if self.arguments:
            source, line = self.get_source_info()
            for node in result:
                for title in node.findall(nodes.exercise_subtitle):
                    title.rawsource, title.source, title.line = self.arguments[0], source, line
        return result

    run.mtrec_wrapped = True
    directive.ExerciseDirective.run = run


def _extract_exercise_titles(app: Sphinx, doctree) -> None:
    # sphinx-exercise rebuilds the title after reading, so the gettext builder (which extracts
    # from the written doctree) would not see it: add it to the page's catalogue as it is read.
    if app.builder.name != "gettext":
        return
    from sphinx.builders.gettext import MsgOrigin, docname_to_domain
    from sphinx_exercise.nodes import exercise_subtitle

    catalog = app.builder.catalogs[docname_to_domain(app.env.docname, app.config.gettext_compact)]
    for title in doctree.findall(exercise_subtitle):
        if title.rawsource:
            catalog.add(title.rawsource, MsgOrigin(title.source, title.line))


class UntranslatableMath(SphinxTransform):
    """Display math is the same in both editions: not a message of the catalogues.

    Sphinx extracts a ``math_block`` like a paragraph, so every formula would wait in the .po
    files for a translator to copy it, and a changed formula would mark the Chinese edition
    out of date. Marked untranslatable before Sphinx's translation transform (priority 20) and
    before the gettext builder extracts, it is neither.
    """

    default_priority = 15

    def apply(self, **kwargs) -> None:
        for node in self.document.findall(nodes.math_block):
            node["translatable"] = False


def page_catalogue(app: Sphinx, docname: str):
    """The Chinese edition's gettext catalogue of one page (None in the English edition)."""
    if edition(app.config.language) != "zh_CN":
        return None
    from sphinx.builders.gettext import docname_to_domain
    from sphinx.locale import init as init_locale

    dirs = [str(Path(app.srcdir) / d) for d in app.config.locale_dirs]
    catalog, found = init_locale(dirs, app.config.language, docname_to_domain(docname, app.config.gettext_compact))
    return catalog if found else None


class TranslatedTocCaptions(SphinxTransform):
    """The sidebar's part captions ("Front matter", "Chapters") in the page's language.

    sphinx-external-toc inserts the table of contents (priority 100) after Sphinx has
    translated the page (priority 20), so its captions would stay English; they are messages
    of the root page's catalogue, looked up here.
    """

    default_priority = 150  # after InsertToctrees, before the toctree collector reads them

    def apply(self, **kwargs) -> None:
        catalog = page_catalogue(self.app, self.env.docname)
        if catalog is None:
            return
        for toctree in self.document.findall(addnodes.toctree):
            if toctree.get("caption"):
                toctree["caption"] = catalog.gettext(toctree["caption"])


def setup(app: Sphinx) -> dict:
    glue_in_translations()
    translatable_exercise_titles()
    app.add_transform(UntranslatableMath)
    app.add_transform(TranslatedTocCaptions)
    # Before book_theme (priority 400) merges mtrec_theme_options into the theme's options.
    app.connect("config-inited", _configure, priority=390)
    # Before pydata-sphinx-theme renders the header components with the page context.
    app.connect("html-page-context", _switcher, priority=100)
    app.connect("doctree-read", _extract_exercise_titles)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
