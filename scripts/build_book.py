"""Build the book's site, both editions: the one definition of the build command.

    python scripts/build_book.py             # what `make book` runs: English, then 中文
    python scripts/build_book.py --edition en   # one edition only (en or zh)
    python scripts/build_book.py --print     # show the English jupyter-book command instead

The book's root is the repository root, so that notebooks/ renders beside book/. Notebooks
execute through jupyter-cache (book/_build/.jupyter_cache): unchanged notebooks are not run
again. Sphinx warnings are errors (-W), and every cross-reference must resolve (-n).

Two editions, one source. The English site is book/_build/html. The Chinese edition (中文版)
is the same sources built by Sphinx with ``language=zh_CN``: its prose comes from the gettext
catalogues in book/locales/zh_CN/LC_MESSAGES (see book/locales/README.md), its code cells and
their outputs from the same jupyter-cache, so no notebook executes a second time. It is
written to book/_build/zh/html (with its own doctrees, so the editions never re-read each
other) and copied to book/_build/html/zh/, where the language switcher of every page expects
it.

The launch and repository buttons follow ``repository.url`` in book/_config.yml (none while it
is empty). ``MTREC_REPOSITORY_URL=https://github.com/OWNER/NAME`` (and ``MTREC_REPOSITORY_BRANCH``)
override it for one build, e.g. to preview a fork's buttons; to publish, set it with
``python scripts/set_repository.py --url ...``, which also rewrites the notebooks' setup cells.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from editions import EDITIONS  # noqa: E402  (language → site folder, one definition)

BUILD = ROOT / "book" / "_build"
CONFIG = ROOT / "book" / "_config.yml"
TOC = ROOT / "book" / "_toc.yml"
#: Wall seconds of every cell the build executed, by the SHA-256 of its source (JSON lines).
CELL_TIMES = BUILD / "cell_times.jsonl"
#: The English site; the Chinese edition is copied into its ``zh/`` folder.
SITE = BUILD / "html"
#: The Chinese edition's Sphinx language (its catalogues are book/locales/<this>/).
CHINESE = "zh_CN"
#: Where Sphinx builds the Chinese edition before it is copied to ``SITE / "zh"``.
ZH_BUILD = BUILD / "zh"


def command() -> list[str]:
    """The jupyter-book command of the English edition (also the base of ``make pdf``)."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    return [
        str(jupyter_book),
        "build",
        ".",
        "--config",
        "book/_config.yml",
        "--toc",
        "book/_toc.yml",
        "--path-output",
        "book",
        "-W",
        "-n",
        "--keep-going",
    ]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    # Kernel config for build-time execution (see book/_ipython/.../ipython_kernel_config.py).
    env["IPYTHONDIR"] = str(ROOT / "book" / "_ipython")
    env.setdefault("PYTHONHASHSEED", "0")
    # Pages show results, not progress bars (mtrec_lib.progress reads this).
    env["MTREC_PROGRESS"] = "0"
    # Each executed cell's duration (book/_ipython/profile_default/startup/00_cell_times.py).
    env["MTREC_CELL_TIMES"] = str(CELL_TIMES)
    return env


def toc_files() -> list[str]:
    """Every file named in book/_toc.yml, in reading order, repository-relative, no suffix.

    Examples
    --------
    >>> files = toc_files()
    >>> files[0], files[-1]
    ('book/index', 'book/glossary')
    """
    import yaml

    toc = yaml.safe_load(TOC.read_text(encoding="utf-8"))
    found = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                found.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return found


def sphinx_build(builder: str, outdir: Path, overrides: dict, doctrees: Path | None = None) -> int:
    """Run Sphinx on the book through Jupyter Book's configuration, as ``jupyter-book build`` does.

    ``overrides`` are extra Sphinx settings (``language``, ``nb_execution_mode``); the rest is
    what ``command()`` gives jupyter-book: the external table of contents, nitpicky
    references, warnings as errors (for the html builder) and keep-going.
    """
    from jupyter_book.sphinx import build_sphinx

    config = {"external_toc_path": TOC.relative_to(ROOT).as_posix(), "latex_individualpages": False}
    config["nitpicky"] = True
    config.update(overrides)
    result = build_sphinx(
        ROOT,
        outdir,
        noconfig=True,
        path_config=str(CONFIG),
        confoverrides=config,
        doctreedir=doctrees,
        builder=builder,
        warningiserror=builder == "html",
        keep_going=True,
    )
    return result if isinstance(result, int) else 1


def build_chinese() -> int:
    """The Chinese edition from the catalogues, copied to ``book/_build/html/zh``."""
    out = ZH_BUILD / "html"
    code = sphinx_build("html", out, {"language": CHINESE}, doctrees=ZH_BUILD / ".doctrees")
    if code == 0:
        target = SITE / EDITIONS[CHINESE]
        # Copy to a fresh folder beside the target and swap, so a reader never sees half a site.
        staging = target.with_name(target.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(out, staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return code


def main(argv: list[str]) -> int:
    if "--print" in argv:
        print(" ".join(command()))
        return 0
    editions = ["en", "zh"]
    if "--edition" in argv:
        editions = argv[argv.index("--edition") + 1 :][:1]
        if editions not in (["en"], ["zh"]):
            print("build_book: --edition must be en or zh", file=sys.stderr)
            return 2
    subprocess.run([sys.executable, str(ROOT / "scripts" / "vendor_assets.py")], check=True)
    import book_repository

    repo = book_repository.load_for_build()  # fails early on a malformed URL
    print(f"build_book: repository {repo.url + '@' + repo.branch if repo.is_set else 'none (no launch buttons)'}")
    code = 0
    if "en" in editions:
        code = subprocess.run(command(), cwd=ROOT, env=environment()).returncode
    if code == 0 and "zh" in editions:
        # A separate process: Sphinx patches docutils globals, and the kernel config must be
        # the same as the English build's (for the rare notebook that is not cached yet).
        code = subprocess.run([sys.executable, __file__, "--chinese-only"], cwd=ROOT, env=environment()).returncode
    return code


if __name__ == "__main__":
    if sys.argv[1:] == ["--chinese-only"]:
        os.chdir(ROOT)
        sys.exit(build_chinese())
    sys.exit(main(sys.argv[1:]))
