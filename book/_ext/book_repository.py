"""The book's one repository setting, and everything derived from it.

``repository.url`` in ``book/_config.yml`` names the public repository the book is published
from. Three things follow from it and must agree:

* the repository button and the launch buttons (Binder, JupyterHub, Colab) on the site
  (``book/_ext/book_theme.py`` sets the theme options from it);
* the setup cell, the second cell of every notebook, which installs ``mtrec_lib`` from that
  repository when the library is missing (``scripts/set_repository.py`` writes it);
* ``tests/test_book_config.py``, which checks both.

An empty URL means "no public repository": the site then shows no launch or repository
button (rather than a link to a wrong place), and the setup cell explains how to install the
library from a local copy of the book's source.

At build time ``MTREC_REPOSITORY_URL`` (and ``MTREC_REPOSITORY_BRANCH``) override the
config, e.g. to preview the buttons of a fork; a site that is published should set the URL in
the config with ``python scripts/set_repository.py --url URL`` instead, so that the notebooks
agree with the buttons.

This module imports nothing from Sphinx, so the scripts and tests can use it too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "book" / "_config.yml"
ENV_URL = "MTREC_REPOSITORY_URL"
ENV_BRANCH = "MTREC_REPOSITORY_BRANCH"
DEFAULT_BRANCH = "main"

# The first line of every setup cell; scripts/set_repository.py finds the cell by it.
SETUP_MARKER = "# Setup: use the book's library"

_URL_RE = re.compile(r"^https://[A-Za-z0-9.-]+(/[A-Za-z0-9._~-]+){2,}$")


@dataclass(frozen=True)
class Repository:
    """Where the book's source is published.

    Attributes
    ----------
    url : str
        ``https://host/owner/name`` without a trailing slash or ``.git``; ``""`` when the book
        has no public repository.
    branch : str
        Branch the launch buttons and the install line point at.
    path_to_book : str
        Folder of the book's root inside the repository (``""``: the repository root).
    """

    url: str
    branch: str = DEFAULT_BRANCH
    path_to_book: str = ""

    @property
    def is_set(self) -> bool:
        return bool(self.url)

    def file_url(self, relpath: str) -> str:
        """Web address of ``relpath`` (relative to the book's root) on the configured branch."""
        if not self.is_set:
            raise ValueError("no repository URL is configured")
        prefix = f"{self.path_to_book.strip('/')}/" if self.path_to_book.strip("/") else ""
        return f"{self.url}/blob/{self.branch}/{prefix}{relpath}"

    def install_requirement(self) -> str:
        """The pip requirement that installs ``mtrec_lib`` from this repository and branch."""
        if not self.is_set:
            raise ValueError("no repository URL is configured")
        subdirectory = self.path_to_book.strip("/")
        fragment = f"#subdirectory={subdirectory}" if subdirectory else ""
        return f"mtrec_lib @ git+{self.url}@{self.branch}{fragment}"


def normalise_url(url: str | None) -> str:
    """Return ``url`` without surrounding space, trailing ``/`` or ``.git``; ``""`` for none.

    Raises
    ------
    ValueError
        If the URL is not an ``https://host/owner/name`` address (a typo here would put a
        broken link on every page and in every notebook).
    """
    url = (url or "").strip()
    if not url:
        return ""
    url = url.rstrip("/")
    url = url.removesuffix(".git")
    if not _URL_RE.match(url):
        raise ValueError(f"repository URL must look like https://github.com/OWNER/NAME, got {url!r}")
    return url


def from_config(config: Mapping, environ: Mapping[str, str] | None = None) -> Repository:
    """Read the setting from a parsed ``_config.yml``; ``environ`` (e.g. ``os.environ``) may override it.

    Parameters
    ----------
    config : Mapping
        The parsed configuration (its ``repository`` section is read).
    environ : Mapping, optional
        Environment variables; ``MTREC_REPOSITORY_URL`` / ``MTREC_REPOSITORY_BRANCH`` win over
        the config when present and non-empty. ``None`` reads the config alone.
    """
    section = config.get("repository") or {}
    url = section.get("url") or ""
    branch = section.get("branch") or DEFAULT_BRANCH
    environ = environ or {}
    if environ.get(ENV_URL, "").strip():
        url = environ[ENV_URL]
    if environ.get(ENV_BRANCH, "").strip():
        branch = environ[ENV_BRANCH].strip()
    return Repository(normalise_url(url), str(branch), str(section.get("path_to_book") or ""))


def load(path: Path = CONFIG, environ: Mapping[str, str] | None = None) -> Repository:
    """Read the setting from ``book/_config.yml`` (see :func:`from_config`)."""
    import yaml

    return from_config(yaml.safe_load(path.read_text(encoding="utf-8")), environ)


def load_for_build(path: Path = CONFIG) -> Repository:
    """The setting a build uses: the config, overridden by the environment."""
    return load(path, os.environ)


def setup_cell_source(repo: Repository) -> str:
    """The source of the setup cell every notebook starts with (after its title).

    With a repository: import the library, or install it from the repository (Colab, Binder).
    Without one: import it, or stop with an ImportError that says how to install it.
    """
    if repo.is_set:
        return (
            f"{SETUP_MARKER} from a clone, or install it (e.g. in Colab).\n"
            "try:\n"
            "    import mtrec_lib as mt\n"
            "except ImportError:\n"
            f'    %pip install -q "{repo.install_requirement()}"\n'
            "    import mtrec_lib as mt"
        )
    return (
        f"{SETUP_MARKER} (installed from a copy of the book's source).\n"
        "try:\n"
        "    import mtrec_lib as mt\n"
        "except ImportError as err:\n"
        "    raise ImportError(\n"
        '        "This notebook needs the book\'s library, mtrec_lib (not on PyPI). In "\n'
        '        "the folder of the book\'s source that holds pyproject.toml, run "\n'
        '        "`pip install -e .`, then restart the kernel; README.md has the details."\n'
        "    ) from err"
    )
