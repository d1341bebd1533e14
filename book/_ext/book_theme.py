"""Theme options for the book: merged into Jupyter Book's, and the repository buttons.

Jupyter Book 1 turns ``repository:``, ``launch_buttons:`` and ``html:`` of ``_config.yml`` into
``html_theme_options``; a ``sphinx.config.html_theme_options`` in the same file would REPLACE
all of that (the repository and launch buttons silently disappear). The book's own theme
options therefore live in ``sphinx.config.mtrec_theme_options`` and this extension merges
them in at ``config-inited``.

It also applies the book's one repository setting (``book/_ext/book_repository.py``): with a
URL, the repository button and the launch buttons point at it (``MTREC_REPOSITORY_URL`` may
override it at build time); without one, the site shows neither, rather than a link to a
repository that does not exist.

And it keeps one header: pydata-sphinx-theme 0.17 adds its own navbar whenever
``navbar_persistent`` is not set (a second, nearly empty 64 px bar with another search box
above sphinx-book-theme's article header). That navbar also carries a second pair of
``.primary-toggle``/``.secondary-toggle`` buttons; both themes bind their click handlers with
``document.querySelector``, i.e. to the first, hidden pair, which left the visible sidebar
toggles dead (pydata-sphinx-theme#2451, sphinx-book-theme#917). Without that navbar there is
one button of each kind and both handlers reach it. ``book/_static/sidebar-toggles.js`` binds
every toggle as well, so the buttons keep working should a theme update bring a duplicate back.
"""

from __future__ import annotations

import book_repository
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

logger = logging.getLogger(__name__)

# The theme options sphinx-book-theme reads for the repository and launch buttons.
_REPOSITORY_KEYS = ("repository_url", "repository_branch", "path_to_docs")
_BUTTON_KEYS = ("use_repository_button", "use_issues_button", "use_edit_page_button")


def theme_options(jb_options: dict, book_options: dict, environ: dict[str, str] | None = None) -> dict:
    """The theme options of the build.

    Parameters
    ----------
    jb_options : dict
        What Jupyter Book generated from ``_config.yml`` (repository, launch buttons, html).
    book_options : dict
        ``mtrec_theme_options``: the book's own options, merged over ``jb_options``.
    environ : dict, optional
        Environment variables (``MTREC_REPOSITORY_URL``, ``MTREC_REPOSITORY_BRANCH``).

    Returns
    -------
    dict
        The merged options; repository and launch buttons only when a repository URL is set.
    """
    options = {**jb_options, **book_options}
    repo = book_repository.from_config(
        {
            "repository": {
                "url": jb_options.get("repository_url", ""),
                "branch": jb_options.get("repository_branch", ""),
                "path_to_book": jb_options.get("path_to_docs", ""),
            }
        },
        environ,
    )
    # One header bar: no pydata-sphinx-theme navbar (see the module docstring).
    options["navbar_persistent"] = []
    if repo.is_set:
        options.update(
            repository_url=repo.url,
            repository_branch=repo.branch,
            path_to_docs=repo.path_to_book,
            use_repository_button=True,
        )
    else:
        for key in _REPOSITORY_KEYS:
            options.pop(key, None)
        for key in _BUTTON_KEYS:
            options[key] = False
        # No launch buttons at all (sphinx-book-theme would otherwise build links from a
        # default repository).
        options["launch_buttons"] = {}
    return options


def _configure(app: Sphinx, config: Config) -> None:
    import os

    config.html_theme_options = theme_options(
        dict(config.html_theme_options or {}), dict(config.mtrec_theme_options or {}), dict(os.environ)
    )
    url = config.html_theme_options.get("repository_url")
    logger.info(f"[book_theme] repository: {url or 'none (no launch or repository buttons)'}")


def setup(app: Sphinx) -> dict:
    app.add_config_value("mtrec_theme_options", {}, "html", dict)
    # After Jupyter Book's own config-inited handlers, before the themes read the options.
    app.connect("config-inited", _configure, priority=400)
    app.add_js_file("sidebar-toggles.js")
    app.add_css_file("book.css")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
