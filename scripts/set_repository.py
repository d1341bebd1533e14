"""Make every notebook's setup cell follow the book's repository setting.

The second cell of each notebook installs ``mtrec_lib`` from the repository named by
``repository.url`` in ``book/_config.yml`` (or, with no URL set, says how to install it from a
copy of the source). The launch buttons come from the same setting, so a notebook opened in
Colab installs the library from the repository it was opened from.

    python scripts/set_repository.py                  # rewrite the setup cells from the config
    python scripts/set_repository.py --check          # exit 1 if any notebook disagrees
    python scripts/set_repository.py --url https://github.com/OWNER/NAME [--branch main]
                                                      # set the URL in the config, then rewrite
    python scripts/set_repository.py --url ""         # no public repository

Only the setup cell changes; notebooks keep their other cells, ids and metadata, and are written
the way the repository stores them (``indent=1``, UTF-8, trailing newline). Changing the setup
cell changes each notebook's code, so the next book build executes every notebook again.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import book_repository  # noqa: E402  (the one definition of the setting and of the cell)

NOTEBOOKS = ROOT / "notebooks"


def notebooks(root: Path = NOTEBOOKS) -> list[Path]:
    return sorted(p for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def setup_cell_index(cells: list[dict]) -> int:
    """Index of the setup cell: the first code cell, which must start with the setup marker."""
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            if "".join(cell["source"]).startswith(book_repository.SETUP_MARKER):
                return i
            break
    raise ValueError("the first code cell is not the setup cell (it must start with the setup comment)")


def _as_lines(source: str) -> list[str]:
    # nbformat's on-disk form: a list of lines, each but the last ending in "\n".
    return source.splitlines(keepends=True)


def rewrite(path: Path, source: str) -> bool:
    """Put ``source`` into the notebook's setup cell; return True when the file changed."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cell = nb["cells"][setup_cell_index(nb["cells"])]
    if "".join(cell["source"]) == source:
        return False
    cell["source"] = _as_lines(source)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return True


def disagreeing(paths: list[Path], source: str) -> list[Path]:
    """The notebooks whose setup cell differs from ``source``."""
    out = []
    for path in paths:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        try:
            current = "".join(cells[setup_cell_index(cells)]["source"])
        except ValueError:
            current = None
        if current != source:
            out.append(path)
    return out


def set_config_url(config: Path, url: str, branch: str | None) -> None:
    """Write ``repository.url`` (and ``branch``) into the config, leaving every other line as it is."""
    text = config.read_text(encoding="utf-8")
    section = re.search(r"^repository:\n((?:[ \t]+.*\n|[ \t]*\n)*)", text, flags=re.M)
    if not section:
        raise SystemExit(f"{config}: no top-level repository: section")
    body = section.group(1)

    def set_key(body: str, key: str, value: str) -> str:
        line = re.compile(rf"^([ \t]+){key}:[^\n]*$", flags=re.M)
        if not line.search(body):
            raise SystemExit(f"{config}: repository: has no {key}: line")
        return line.sub(lambda m: f"{m.group(1)}{key}: {value}", body, count=1)

    body = set_key(body, "url", json.dumps(url))
    if branch is not None:
        body = set_key(body, "branch", branch)
    config.write_text(text[: section.start(1)] + body + text[section.end(1) :], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help='set repository.url in the config first ("" for none)')
    parser.add_argument("--branch", help="set repository.branch in the config first")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook disagrees")
    parser.add_argument("--config", type=Path, default=book_repository.CONFIG, help=argparse.SUPPRESS)
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.url is not None or args.branch is not None:
        if args.check:
            parser.error("--check changes nothing; it cannot be combined with --url or --branch")
        current = book_repository.load(args.config)
        try:
            url = current.url if args.url is None else book_repository.normalise_url(args.url)
        except ValueError as exc:
            parser.error(str(exc))
        set_config_url(args.config, url, args.branch)

    # The notebooks follow the config itself, not MTREC_REPOSITORY_URL: what is committed must
    # agree with what is committed.
    repo = book_repository.load(args.config)
    source = book_repository.setup_cell_source(repo)
    paths = notebooks(args.notebooks)
    where = repo.url or "no public repository"
    if args.check:
        bad = disagreeing(paths, source)
        for path in bad:
            print(f"set_repository: {path.relative_to(args.notebooks.parent)} disagrees with {where}")
        return 1 if bad else 0
    changed = [p for p in paths if rewrite(p, source)]
    print(f"set_repository: {len(changed)} of {len(paths)} notebooks rewritten for {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
