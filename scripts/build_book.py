"""Build the book's site: the one definition of the build command.

    python scripts/build_book.py          # what `make book` runs
    python scripts/build_book.py --print  # show the jupyter-book command instead

The book's root is the repository root, so that notebooks/ renders beside book/. Notebooks
execute through jupyter-cache (book/_build/.jupyter_cache): unchanged notebooks are not run
again. Sphinx warnings are errors (-W), and every cross-reference must resolve (-n).

The launch and repository buttons follow ``repository.url`` in book/_config.yml (none while it
is empty). ``MTREC_REPOSITORY_URL=https://github.com/OWNER/NAME`` (and ``MTREC_REPOSITORY_BRANCH``)
override it for one build, e.g. to preview a fork's buttons; to publish, set it with
``python scripts/set_repository.py --url ...``, which also rewrites the notebooks' setup cells.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Wall seconds of every cell the build executed, by the SHA-256 of its source (JSON lines).
CELL_TIMES = ROOT / "book" / "_build" / "cell_times.jsonl"


def command() -> list[str]:
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


def main(argv: list[str]) -> int:
    if "--print" in argv:
        print(" ".join(command()))
        return 0
    subprocess.run([sys.executable, str(ROOT / "scripts" / "vendor_assets.py")], check=True)
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import book_repository

    repo = book_repository.load_for_build()  # fails early on a malformed URL
    print(f"build_book: repository {repo.url + '@' + repo.branch if repo.is_set else 'none (no launch buttons)'}")
    return subprocess.run(command(), cwd=ROOT, env=environment()).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
