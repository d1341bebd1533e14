"""The Chinese edition's catalogues: extract, check, and translate them.

    python scripts/translations.py update      # re-extract the English text, merge the .po files
    python scripts/translations.py check       # what is untranslated, fuzzy, stale or broken
    python scripts/translations.py export PO [--all] > sheet.txt   # entries to translate
    python scripts/translations.py import sheet.txt                 # write them back
    python scripts/translations.py notebook NOTEBOOK OUT.ipynb      # a notebook with Chinese prose

The book is translated with Sphinx's gettext workflow (book/locales/README.md explains it for
translators). ``update`` runs Sphinx's ``gettext`` builder over the same sources as the site (notebook outputs
from the site's jupyter-cache: run ``make book`` first) into book/_build/gettext,
then ``sphinx-intl update`` merges the new message templates into
book/locales/zh_CN/LC_MESSAGES/<page>.po: a changed English paragraph becomes a fuzzy entry
there, a new one an empty entry, and ``check`` (and the test suite) fails until a translator has
dealt with it.

A worksheet is plain text, easier to edit than a .po file::

    === notebooks/ch03_cf/03_evaluation.po 4
    [en]
    Rating error
    [zh]
    评分误差

``import`` checks that each ``[en]`` text is still the catalogue's message before writing the
``[zh]`` text, so a worksheet made before an ``update`` cannot put a translation on the wrong
paragraph.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402  (the book's build settings)

LANGUAGE = build_book.CHINESE
LOCALES = ROOT / "book" / "locales"
CATALOGUES = LOCALES / LANGUAGE / "LC_MESSAGES"
TEMPLATES = build_book.BUILD / "gettext"
#: The CJK Unified Ideographs, where every Chinese word of the book lies.
CJK_RANGE = "\u4e00-\u9fff"
LINE_WIDTH = 76  # sphinx-intl's, so that update and import write the same layout

# Markup a translation must carry over unchanged: inline code, math, role targets, links.
_ROLE = re.compile(r"\{([\w:-]+)\}`([^`]*)`")
# Roles and code spans, read left to right as Markdown does: `{exercise}` is a code span that
# shows a directive's name, {glue:text}`a`{glue:text}`b` two roles side by side.
_INLINE = re.compile(r"(?P<role>\{[\w:-]+\}`[^`]*`)|(?P<code>``[^`]+``|`[^`]+`)")
_MATH = re.compile(r"\$\$.+?\$\$|\$[^$]+\$", re.S)
_URL = re.compile(r"https?://[^\s)>\]]+")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def role_target(name: str, text: str) -> str:
    """What a role points at: the ``<target>`` of ``title <target>``, or the whole text.

    Examples
    --------
    >>> role_target("term", "多样性 <Diversity>")
    'Diversity'
    >>> role_target("glue:text", "auc_gap:.3f"), role_target("glue:text", "move_words_zh")
    ('auc_gap:.3f', 'move_words')
    """
    if name.startswith("glue"):
        # A number glued in words ("fall", "7.1% narrower") has a Chinese twin that the
        # notebook glues as ``<key>_zh``; a translation may paste that one instead.
        return re.sub(r"_zh(?=:|$)", "", text)
    match = re.fullmatch(r"(?s).*<([^<>]+)>\s*", text)
    return match.group(1) if match and name != "math" else text


def markup(text: str) -> list[str]:
    """The pieces of a message a translation must keep: roles, math, code, links (sorted).

    Examples
    --------
    >>> markup("See {term}`Diversity` and $x^2$ in `mt.rerank`.")
    ['$x^2$', '`mt.rerank`', '{term}Diversity']
    >>> markup("见{term}`多样性 <Diversity>`与 $x^2$，`mt.rerank`。")
    ['$x^2$', '`mt.rerank`', '{term}Diversity']
    >>> markup("the `{exercise}` directive (rendered by `sphinx-exercise`)")
    ['`sphinx-exercise`', '`{exercise}`']
    >>> markup("{glue:text}`a`{glue:text}`b`")
    ['{glue:text}a', '{glue:text}b']
    """
    pieces = []
    for token in _INLINE.finditer(text):
        if token.group("role"):
            name, target = _ROLE.fullmatch(token.group("role")).groups()
            pieces.append(f"{{{name}}}{role_target(name, target)}")
        else:
            pieces.append(token.group("code"))
    rest = _INLINE.sub(" ", text)
    pieces += _MATH.findall(rest)
    rest = _MATH.sub(" ", rest)
    pieces += _URL.findall(rest) + _LINK.findall(_URL.sub(" ", rest))
    return sorted(pieces)


def prose_words(text: str) -> int:
    """How many words of a message are prose: not math, code, a role or a link target.

    >>> prose_words("$$ \\min_\\theta \\sum_k w_k L_k(\\theta) $$"), prose_words("The loss of `fit` is $L$.")
    (0, 4)
    """
    rest = _URL.sub(" ", _MATH.sub(" ", _INLINE.sub(" ", text)))
    return len(re.findall(r"[A-Za-z]{2,}", rest))


def stray_emphasis(text: str) -> int:
    """How many ``**`` of a message Markdown leaves as text (an emphasis that did not close).

    CommonMark does not close ``**`` after punctuation when a letter follows, which is common in
    Chinese: ``**注意：**后文`` shows its asterisks, ``**注意**：后文`` is bold.

    Examples
    --------
    >>> stray_emphasis("**注意：**后文"), stray_emphasis("**注意**：后文")
    (2, 0)
    """
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parseInline(_MATH.sub("x", text))
    return sum(child.content.count("**") for token in tokens for child in token.children or [] if child.type == "text")


def problems(english: str, chinese: str) -> list[str]:
    """What a translation broke: markup it lost or added, emphasis that no longer closes."""
    found = sorted(set(markup(english)) ^ set(markup(chinese)))
    if markup(english) != markup(chinese) and not found:
        found = ["a role, formula or code span appears a different number of times"]
    if stray_emphasis(chinese) > stray_emphasis(english):
        found.append("** left unclosed (put Chinese punctuation outside the bold: **注意**：)")
    if re.match(r"\s*(\d+[.)]\s|[-*+>#]\s|\s{4})", chinese) and not re.match(
        r"\s*(\d+[.)]\s|[-*+>#]\s|\s{4})", english
    ):
        found.append("starts like a list, quote, heading or code block")
    return found


@dataclass
class Report:
    """What ``check`` found, per catalogue (paths relative to the catalogue folder)."""

    missing: list[str] = field(default_factory=list)  # a page with no catalogue
    untranslated: dict[str, list[str]] = field(default_factory=dict)
    fuzzy: dict[str, list[str]] = field(default_factory=dict)
    stale: dict[str, list[str]] = field(default_factory=dict)  # in the .po, gone from the text
    broken: dict[str, list[str]] = field(default_factory=dict)  # markup lost in translation
    translated: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.untranslated or self.fuzzy or self.stale or self.broken)

    def summary(self) -> str:
        lines = [f"{self.translated} messages translated"]
        for name in ("untranslated", "fuzzy", "stale", "broken"):
            found = getattr(self, name)
            for po, ids in sorted(found.items()):
                lines.append(f"{name}: {po}: {len(ids)}, first: {ids[0][:100]!r}")
        lines += [f"missing catalogue: {po}" for po in self.missing]
        return "\n".join(lines)


def read_catalogue(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=LANGUAGE)


def write_catalogue(path: Path, catalog: Catalog) -> None:
    """Write a .po file atomically: a crash leaves the old file, never half a new one."""
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=LINE_WIDTH)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(buffer.getvalue())
    os.replace(tmp, path)


def uncached_notebooks() -> list[str]:
    """The book's notebooks whose current code has no executed copy in the jupyter-cache."""
    from jupyter_cache import get_cache

    cache = get_cache(build_book.BUILD / ".jupyter_cache")
    missing = []
    for docname in build_book.toc_files():
        path = ROOT / f"{docname}.ipynb"
        if not path.exists():
            continue
        try:
            cache.match_cache_file(path)
        except KeyError:
            missing.append(docname)
    return missing


def extract(out: Path = TEMPLATES) -> int:
    """Sphinx's gettext builder over the book: one .pot per page into ``out``.

    The notebooks' outputs come from the site's jupyter-cache (``make book`` fills it): a
    figure's alt text and the words of its SVG are messages (book/_ext/figure_text.py), what a
    cell printed is not. A notebook that is not in the cache is an error, not run here.
    """
    missing = uncached_notebooks()
    if missing:
        raise RuntimeError(
            f"{len(missing)} notebooks have no executed copy in book/_build/.jupyter_cache "
            f"(first: {missing[0]}); build the book first: make book"
        )
    # Always from scratch (seconds): cached doctrees would miss a changed extension's messages.
    shutil.rmtree(out, ignore_errors=True)
    return build_book.sphinx_build("gettext", out, {}, doctrees=out / ".doctrees")


def update() -> int:
    """Re-extract the messages and merge them into the catalogues (``sphinx-intl update``)."""
    code = extract()
    if code:
        return code
    intl = Path(sys.executable).with_name("sphinx-intl")
    command = [str(intl), "update", "-p", str(TEMPLATES), "-d", str(LOCALES), "-l", LANGUAGE, "-w", str(LINE_WIDTH)]
    code = subprocess.run(command, check=False).returncode
    # sphinx-intl keeps a message that left the text as an obsolete ("#~") entry; git keeps
    # the history, so the catalogue keeps only what the book says now.
    for po in CATALOGUES.rglob("*.po"):
        catalog = read_catalogue(po)
        if catalog.obsolete:
            catalog.obsolete.clear()
            write_catalogue(po, catalog)
    return code


def check(templates: Path = TEMPLATES, catalogues: Path = CATALOGUES) -> Report:
    """Compare freshly extracted templates with the committed catalogues."""
    report = Report()
    for pot in sorted(templates.rglob("*.pot")):
        rel = pot.relative_to(templates).with_suffix(".po")
        po = catalogues / rel
        wanted = {m.id for m in read_catalogue(pot) if m.id}
        if not po.exists():
            report.missing.append(str(rel))
            continue
        have = {m.id: m for m in read_catalogue(po) if m.id}
        for msgid in sorted(wanted):
            message = have.get(msgid)
            if message is None or not message.string:
                report.untranslated.setdefault(str(rel), []).append(msgid)
            elif message.fuzzy:
                report.fuzzy.setdefault(str(rel), []).append(msgid)
            elif problems(msgid, message.string):
                report.broken.setdefault(str(rel), []).append(msgid)
            else:
                report.translated += 1
        stale = sorted(set(have) - wanted)
        if stale:
            report.stale[str(rel)] = stale
    return report


# ---------------------------------------------------------------------------
# Worksheets
# ---------------------------------------------------------------------------
def export(po: Path, everything: bool = False) -> str:
    """A worksheet of the catalogue's untranslated and fuzzy entries (all with ``everything``)."""
    catalog = read_catalogue(po)
    rel = po.resolve().relative_to(CATALOGUES.resolve()).as_posix()
    parts = []
    for number, message in enumerate(m for m in catalog if m.id):
        if everything or not message.string or message.fuzzy:
            parts.append(f"=== {rel} {number}\n[en]\n{message.id}\n[zh]\n{message.string if everything else ''}\n")
    return "\n".join(parts)


def parse_sheet(text: str) -> list[tuple[str, int, str, str]]:
    """``(catalogue, number, english, chinese)`` for every entry of a worksheet.

    Examples
    --------
    >>> parse_sheet("=== book/glossary.po 3\\n[en]\\nItem\\n[zh]\\n物品\\n")
    [('book/glossary.po', 3, 'Item', '物品')]
    """
    entries = []
    for block in re.split(r"^=== ", text, flags=re.M)[1:]:
        header, _, body = block.partition("\n")
        po, number = header.rsplit(" ", 1)
        match = re.fullmatch(r"\[en\]\n(.*?)\n\[zh\]\n?(.*)", body.strip("\n"), re.S)
        if not match:
            raise ValueError(f"worksheet entry {header!r}: expected an [en] block, then a [zh] block")
        entries.append((po.strip(), int(number), match.group(1), match.group(2).strip()))
    return entries


def import_sheet(text: str) -> dict[str, int]:
    """Write a worksheet's translations into the catalogues; returns how many per catalogue."""
    by_po: dict[str, list[tuple[int, str, str]]] = {}
    for po, number, english, chinese in parse_sheet(text):
        by_po.setdefault(po, []).append((number, english, chinese))
    written = {}
    for po, entries in by_po.items():
        path = CATALOGUES / po
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such catalogue (run `translations.py update` first)")
        catalog = read_catalogue(path)
        messages = [m for m in catalog if m.id]
        count = 0
        for number, english, chinese in entries:
            if number >= len(messages) or messages[number].id != english:
                raise ValueError(
                    f"{po} entry {number}: the [en] text is not the catalogue's message any more; "
                    "export a new worksheet"
                )
            if not chinese:
                continue
            found = problems(english, chinese)
            if found:
                raise ValueError(f"{po} entry {number}: {'; '.join(map(str, found))}")
            messages[number].string = chinese
            messages[number].flags.discard("fuzzy")
            count += 1
        write_catalogue(path, catalog)
        written[po] = count
    return written


# ---------------------------------------------------------------------------
# Notebooks with Chinese prose (the .ipynb download of a Chinese page, make lab EDITION=zh)
# ---------------------------------------------------------------------------
def translations_for(docname: str) -> dict[str, str]:
    """English message → Chinese translation, for one page (``notebooks/ch03_cf/03_evaluation``)."""
    po = CATALOGUES / f"{docname}.po"
    if not po.exists():
        return {}
    return {m.id: m.string for m in read_catalogue(po) if m.id and m.string and not m.fuzzy}


def translate_markdown(source: str, table: dict[str, str]) -> str:
    """Replace each translated message found in a Markdown text by its translation.

    A message is a paragraph, heading or list item with its line breaks joined by spaces (how
    Sphinx extracts it), so a message matches the source across its original line breaks.

    Examples
    --------
    >>> translate_markdown("# Rating error\\n\\nRMSE squares\\nthe errors.", {
    ...     "Rating error": "评分误差", "RMSE squares the errors.": "RMSE 对误差取平方。"})
    '# 评分误差\\n\\nRMSE 对误差取平方。'
    """
    for english in sorted(table, key=len, reverse=True):
        words = [re.escape(word) for word in english.split()]
        if not words:
            continue
        pattern = re.compile(r"(?<![^\s>#*\-(:])" + r"\s+".join(words) + r"(?![^\s.,;:!?)*<])")
        chinese = table[english]
        source = pattern.sub(lambda _m, zh=chinese: zh, source)
    return source


def translate_notebook(nb: dict, docname: str) -> dict:
    """A copy of a notebook whose Markdown cells are in Chinese; code cells are untouched."""
    table = translations_for(docname)
    out = json.loads(json.dumps(nb))
    for cell in out["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = translate_markdown(text, table)
    out.setdefault("metadata", {})["language_info"] = out["metadata"].get("language_info", {"name": "python"})
    out["metadata"]["mtrec_edition"] = "zh"
    return out


#: What the student version of an exercise notebook adds in English (scripts/course.py).
_STUDENT_WORDS = [
    (
        re.compile(r"^### Exercise (\d+): ", re.M),
        r"### 练习 \1：",
    ),
    (re.compile(r"^### Exercise (\d+)$", re.M), r"### 练习 \1"),
    (re.compile(r"^\*\*Your answer\*\* \(not autograded\):", re.M), "**你的答案**（不自动评分）："),
]


def chinese_student_words(nb: dict) -> dict:
    """The headings and answer prompts that the student version writes, in Chinese.

    ``YOUR ANSWER HERE`` stays: nbgrader looks for it.

    >>> cell = {"cell_type": "markdown", "source": "### Exercise 2: 门控权重\\n\\n**Your answer** (not autograded):"}
    >>> chinese_student_words({"cells": [cell]})["cells"][0]["source"]
    '### 练习 2：门控权重\\n\\n**你的答案**（不自动评分）：'
    """
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for pattern, chinese in _STUDENT_WORDS:
                text = pattern.sub(chinese, text)
            cell["source"] = text
    return nb


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    command, args = argv[0], argv[1:]
    if command == "update":
        return update()
    if command == "check":
        code = extract()
        report = check()
        print(report.summary())
        return code or (0 if report.ok else 1)
    if command == "export":
        sys.stdout.write(export(Path(args[0]), everything="--all" in args))
        return 0
    if command == "import":
        for po, count in import_sheet(Path(args[0]).read_text(encoding="utf-8")).items():
            print(f"{po}: {count} translations written")
        return 0
    if command == "notebook":
        source, out = Path(args[0]).resolve(), Path(args[1])
        docname = source.relative_to(ROOT).with_suffix("").as_posix()
        nb = translate_notebook(json.loads(source.read_text(encoding="utf-8")), docname)
        out.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return 0
    print(f"translations.py: unknown command {command!r} (update, check, export, import, notebook)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
