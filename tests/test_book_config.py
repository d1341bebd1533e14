"""The book's one repository setting: notebooks, theme options and launch links all follow it.

``repository.url`` in book/_config.yml drives the repository and launch buttons
(book/_ext/book_theme.py) and the setup cell of every notebook (scripts/set_repository.py
writes it). The last test builds a two-page book with a repository set and follows its launch
links to the files they name.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from conftest import ROOT, notebooks

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import book_repository  # noqa: E402
import book_theme  # noqa: E402
import set_repository  # noqa: E402  (scripts/ is on sys.path through conftest)

CONFIG_PATH = ROOT / "book" / "_config.yml"
CONFIG = yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))
REPO = book_repository.load(CONFIG_PATH)


# --- the notebooks agree with the config -------------------------------------------------


@pytest.mark.parametrize("nb", notebooks(), ids=lambda p: p.name)
def test_every_notebook_setup_cell_follows_the_repository_setting(nb):
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    setup = "".join(cells[set_repository.setup_cell_index(cells)]["source"])
    assert setup == book_repository.setup_cell_source(REPO), (
        f"{nb.name}: setup cell differs from repository.url ({REPO.url or 'unset'}); "
        "run python scripts/set_repository.py"
    )


def test_setup_cell_with_a_repository_installs_from_it_at_the_branch():
    repo = book_repository.Repository("https://github.com/example-org/mt-book", "dev")
    source = book_repository.setup_cell_source(repo)
    assert source.startswith(book_repository.SETUP_MARKER)
    assert '%pip install -q "mtrec_lib @ git+https://github.com/example-org/mt-book@dev"' in source
    assert "import mtrec_lib as mt" in source and "except ImportError" in source


def test_setup_cell_without_a_repository_stops_with_install_instructions():
    source = book_repository.setup_cell_source(book_repository.Repository(""))
    assert "%pip" not in source and "git+" not in source
    # Run the cell where mtrec_lib cannot be imported: it must raise, saying how to install it.
    blocked = {"__name__": "__main__"}
    saved = sys.modules.get("mtrec_lib")
    sys.modules["mtrec_lib"] = None  # makes `import mtrec_lib` raise ImportError
    try:
        with pytest.raises(ImportError) as info:
            exec(compile(source, "<setup cell>", "exec"), blocked)
    finally:
        if saved is None:
            del sys.modules["mtrec_lib"]
        else:
            sys.modules["mtrec_lib"] = saved
    message = str(info.value)
    assert "pip install -e ." in message and "pyproject.toml" in message and "mtrec_lib" in message


def test_setup_cell_imports_the_library_when_it_is_installed():
    source = book_repository.setup_cell_source(book_repository.Repository(""))
    namespace: dict = {}
    exec(compile(source, "<setup cell>", "exec"), namespace)
    assert namespace["mt"].__name__ == "mtrec_lib"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("", ""),
        ("  ", ""),
        ("https://github.com/o/r", "https://github.com/o/r"),
        ("https://github.com/o/r/", "https://github.com/o/r"),
        ("https://github.com/o/r.git", "https://github.com/o/r"),
    ],
)
def test_repository_urls_are_normalised(raw, expected):
    assert book_repository.normalise_url(raw) == expected


@pytest.mark.parametrize("bad", ["http://github.com/o/r", "github.com/o/r", "https://github.com/o", "https://x/o/r s"])
def test_malformed_repository_urls_are_refused(bad):
    with pytest.raises(ValueError, match="OWNER/NAME"):
        book_repository.normalise_url(bad)


def test_environment_overrides_the_configured_repository():
    config = {"repository": {"url": "", "branch": "main"}}
    assert not book_repository.from_config(config, {}).is_set
    env = {book_repository.ENV_URL: "https://github.com/fork/book", book_repository.ENV_BRANCH: "preview"}
    repo = book_repository.from_config(config, env)
    assert (repo.url, repo.branch) == ("https://github.com/fork/book", "preview")
    assert repo.file_url("notebooks/a/b.ipynb") == "https://github.com/fork/book/blob/preview/notebooks/a/b.ipynb"


def test_set_repository_rewrites_the_setup_cells_and_the_config_only(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    config = book / "_config.yml"
    shutil.copy(CONFIG_PATH, config)
    nbs = tmp_path / "notebooks"
    sample = [p for p in notebooks() if p.parent.name in ("ch03_cf", "ch03_mtl")]
    for p in sample:
        (nbs / p.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, nbs / p.parent.name / p.name)
    args = ["--config", str(config), "--notebooks", str(nbs)]

    url = "https://github.com/example-org/mt-book"
    assert set_repository.main([*args, "--url", url + ".git", "--branch", "dev"]) == 0
    assert set_repository.main([*args, "--check"]) == 0
    after = yaml.safe_load(config.read_text())
    assert after["repository"] == {"url": url, "branch": "dev", "path_to_book": ""}
    before_lines = [ln for ln in CONFIG_PATH.read_text().splitlines() if not re.match(r"  (url|branch):", ln)]
    after_lines = [ln for ln in config.read_text().splitlines() if not re.match(r"  (url|branch):", ln)]
    assert after_lines == before_lines, "set_repository changed more of the config than url and branch"

    for original in sample:
        old = json.loads(original.read_text(encoding="utf-8"))
        new_text = (nbs / original.parent.name / original.name).read_text(encoding="utf-8")
        new = json.loads(new_text)
        i = set_repository.setup_cell_index(new["cells"])
        assert "".join(new["cells"][i]["source"]) == book_repository.setup_cell_source(
            book_repository.Repository(url, "dev")
        )
        old["cells"][i]["source"] = new["cells"][i]["source"]
        assert new == old, f"{original.name}: a cell other than the setup cell changed"
        assert new_text.endswith("}\n") and new_text == json.dumps(new, indent=1, ensure_ascii=False) + "\n"

    # Back to no repository; a notebook edited by hand is reported by --check.
    assert set_repository.main([*args, "--url", ""]) == 0
    assert yaml.safe_load(config.read_text())["repository"]["url"] == ""
    assert set_repository.main([*args, "--check"]) == 0
    edited = nbs / sample[0].parent.name / sample[0].name
    nb = json.loads(edited.read_text(encoding="utf-8"))
    nb["cells"][1]["source"][-1] += "  # edited"
    edited.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert set_repository.main([*args, "--check"]) == 1
    with pytest.raises(SystemExit):
        set_repository.main([*args, "--url", "http://not-https/o/r"])


# --- the theme options ---------------------------------------------------------------------


def test_config_keeps_jupyter_books_theme_options():
    # sphinx.config.html_theme_options would replace what Jupyter Book derives from repository:
    # and launch_buttons: (the launch and repository buttons would silently disappear).
    sphinx_config = CONFIG["sphinx"]["config"]
    assert "html_theme_options" not in sphinx_config
    assert {"book_theme", "search_cjk"} <= set(CONFIG["sphinx"]["local_extensions"])
    own = sphinx_config["mtrec_theme_options"]
    assert own["use_download_button"] is True and own["search_bar_text"] and own["show_toc_level"] == 2
    # The repository button follows repository.url; Jupyter Book refuses it without a URL.
    assert "use_repository_button" not in CONFIG["html"]
    assert set(CONFIG["launch_buttons"]) >= {"binderhub_url", "jupyterhub_url", "colab_url"}


def _jupyter_book_theme_options(config: dict) -> dict:
    """What Jupyter Book 1 generates from the config, before the book's extension runs."""
    from jupyter_book.config import get_final_config

    final, _ = get_final_config(
        user_yaml=copy.deepcopy(config), cli_config={"latex_individualpages": False}, validate=False, sourcedir=ROOT
    )
    return final["html_theme_options"]


def test_without_a_repository_the_theme_gets_no_buttons_and_keeps_the_books_options():
    config = {**CONFIG, "repository": {**CONFIG["repository"], "url": ""}}
    options = book_theme.theme_options(
        _jupyter_book_theme_options(config), CONFIG["sphinx"]["config"]["mtrec_theme_options"], {}
    )
    assert options["launch_buttons"] == {}
    assert options["use_repository_button"] is False and "repository_url" not in options
    assert options["search_bar_text"] == "Search the book..." and options["use_download_button"] is True
    assert options["show_toc_level"] == 2 and options["navbar_persistent"] == []
    assert options["home_page_in_toc"] is True  # from html.home_page_in_navbar: still merged


def test_with_a_repository_the_theme_gets_launch_and_repository_buttons():
    config = {**CONFIG, "repository": {"url": "https://github.com/example-org/mt-book", "branch": "dev"}}
    options = book_theme.theme_options(
        _jupyter_book_theme_options(config), CONFIG["sphinx"]["config"]["mtrec_theme_options"], {}
    )
    assert options["repository_url"] == "https://github.com/example-org/mt-book"
    assert options["repository_branch"] == "dev" and options["use_repository_button"] is True
    launch = options["launch_buttons"]
    assert launch["colab_url"] and launch["binderhub_url"] and launch["jupyterhub_url"]
    assert launch["thebe"] is False  # Thebe loads code from a CDN
    # The build-time override wins over the config.
    env = {book_repository.ENV_URL: "https://github.com/fork/book"}
    options = book_theme.theme_options(_jupyter_book_theme_options(config), {}, env)
    assert options["repository_url"] == "https://github.com/fork/book"


# --- a two-page book, built with a repository set --------------------------------------------


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.hrefs.append((a.get("class") or "", a["href"]))


def _links(page: Path) -> list[tuple[str, str]]:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.hrefs


def _mini_book(root: Path) -> None:
    """A repository with the book's config, an index page and one notebook."""
    (root / "book").mkdir(parents=True)
    (root / "notebooks" / "ch01_demo").mkdir(parents=True)
    config = yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))
    config["execute"]["execute_notebooks"] = "off"
    config["sphinx"]["local_extensions"] = {
        n: str(ROOT / "book" / "_ext") for n in config["sphinx"]["local_extensions"]
    }
    config["bibtex_bibfiles"] = [str(ROOT / "book" / "references.bib")]
    config["html"]["favicon"] = str(ROOT / "book" / "_static" / "favicon.svg")
    static = root / "book" / "_static"
    static.mkdir()
    for name in ("sidebar-toggles.js", "mermaid-init.js"):
        shutil.copy(ROOT / "book" / "_static" / name, static / name)
    config["sphinx"]["config"]["html_static_path"] = ["book/_static"]
    (root / "book" / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    (root / "book" / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\nchapters:\n  - file: notebooks/ch01_demo/01_page\n", encoding="utf-8"
    )
    (root / "book" / "index.md").write_text("# Demo\n\nA page without code.\n", encoding="utf-8")
    nb = {
        "cells": [
            {"cell_type": "markdown", "id": "t", "metadata": {}, "source": ["# A notebook page\n"]},
            {"cell_type": "code", "id": "c", "metadata": {}, "execution_count": None, "outputs": [], "source": ["1"]},
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "notebooks" / "ch01_demo" / "01_page.ipynb").write_text(json.dumps(nb, indent=1) + "\n")


@pytest.mark.slow
def test_launch_links_of_a_built_book_open_the_notebook_in_the_configured_repository(tmp_path):
    repo_root = tmp_path / "repo"
    _mini_book(repo_root)
    url, branch = "https://github.com/example-org/mt-book", "dev"
    env = {**os.environ, book_repository.ENV_URL: url, book_repository.ENV_BRANCH: branch}
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jupyter_book), "build", ".", "--config", "book/_config.yml", "--toc", "book/_toc.yml"]
    proc = subprocess.run([*cmd, "--path-output", "out"], cwd=repo_root, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = repo_root / "out" / "_build" / "html"
    page = html / "notebooks" / "ch01_demo" / "01_page.html"
    hrefs = [h for _, h in _links(page)]

    nb_path = "notebooks/ch01_demo/01_page.ipynb"
    binder = [h for h in hrefs if h.startswith("https://mybinder.org/")]
    colab = [h for h in hrefs if h.startswith("https://colab.research.google.com/")]
    hub = [h for h in hrefs if h.startswith(CONFIG["launch_buttons"]["jupyterhub_url"])]
    assert len(binder) == len(colab) == len(hub) == 1, hrefs
    assert binder[0] == f"https://mybinder.org/v2/gh/example-org/mt-book/{branch}?urlpath=lab/tree/{nb_path}"
    assert colab[0] == f"https://colab.research.google.com/github/example-org/mt-book/blob/{branch}/{nb_path}"
    hub_query = parse_qs(urlparse(hub[0]).query)
    assert hub_query["repo"] == [url] and hub_query["branch"] == [branch]
    assert hub_query["urlpath"] == [f"lab/tree/mt-book/{nb_path}"]
    # Follow each link's target: the repository path it names is the notebook, in this repository.
    for target in (urlparse(binder[0]).query.split("lab/tree/", 1)[1], colab[0].split(f"/blob/{branch}/", 1)[1]):
        assert (repo_root / target).is_file(), f"launch link names {target}, which is not in the repository"
    assert url in hrefs, "no repository button"
    # The page without code gets the repository button but no launch buttons.
    index_hrefs = [h for _, h in _links(html / "book" / "index.html")]
    assert url in index_hrefs and not any("mybinder.org" in h or "colab." in h for h in index_hrefs)

    # Without the override the config's setting holds: with no URL, no such button at all.
    if REPO.is_set:
        return
    env.pop(book_repository.ENV_URL)
    shutil.rmtree(repo_root / "out")
    proc = subprocess.run([*cmd, "--path-output", "out"], cwd=repo_root, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = (html / "notebooks" / "ch01_demo" / "01_page.html").read_text(encoding="utf-8")
    for marker in ("mybinder.org", "colab.research.google.com", "btn-source-repository-button", "binder-examples"):
        assert marker not in text, f"{marker} on a page built without a repository"
    assert "_sources/notebooks/ch01_demo/01_page.ipynb" in text  # the download button stays
    assert (html / "_sources" / "notebooks" / "ch01_demo" / "01_page.ipynb").is_file()
