"""The Chinese edition's catalogues: complete, current, faithful to the markup and the glossary.

``test_catalogues_are_complete_and_current`` extracts the English text afresh (Sphinx's gettext
builder, seconds: notebooks are read, not executed) and compares it with the committed .po
files: an English paragraph that changed without its translation fails here.
"""

from __future__ import annotations

import json
import re

import pytest
import translations  # scripts/, on the path through conftest

from conftest import ROOT, toc_files

CATALOGUES = translations.CATALOGUES
CJK = re.compile("[\u4e00-\u9fff]")


def _catalogue_messages() -> dict[str, list[tuple[str, str]]]:
    """(English, Chinese) of every translated entry, per catalogue."""
    out = {}
    for po in sorted(CATALOGUES.rglob("*.po")):
        rel = po.relative_to(CATALOGUES).as_posix()
        out[rel] = [(m.id, m.string) for m in translations.read_catalogue(po) if m.id and m.string]
    return out


def test_every_page_has_a_catalogue():
    missing = [f for f in toc_files() if not (CATALOGUES / f"{f}.po").exists()]
    assert not missing, f"pages without a Chinese catalogue (run scripts/translations.py update): {missing}"


@pytest.mark.book
def test_catalogues_are_complete_and_current(built_site, tmp_path):
    """Fresh messages (the site's notebook outputs included) against the committed catalogues."""
    assert translations.extract(tmp_path / "gettext") == 0
    report = translations.check(tmp_path / "gettext")
    assert report.ok, "the Chinese edition is behind the English text:\n" + report.summary()
    assert report.translated > 2000


# ---------------------------------------------------------------------------
# Terminology: the glossary is the one source of each term's Chinese name
# ---------------------------------------------------------------------------
def glossary_terms() -> dict[str, str]:
    """English term → its Chinese name, as the English glossary gives it (first CJK word)."""
    text = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    body = text.split("```{glossary}", 1)[1].split("```", 1)[0]
    terms: dict[str, str] = {}
    pending: list[str] = []
    for line in body.splitlines():
        if line and not line.startswith(" "):
            pending.append(line.strip())
        elif line.strip() and pending:
            # "增量更新, 热启动." names the entry's terms in order (Incremental update, Warm start).
            cjk = translations.CJK_RANGE
            match = re.match(f"\\s+([{cjk}]+(?:, [{cjk}]+)*)", line)
            if match:
                names = match.group(1).split(", ")
                for i, term in enumerate(pending):
                    terms[term] = names[i] if len(names) == len(pending) else names[0]
            pending = []
    return terms


def test_glossary_names_the_terms_the_issue_fixed():
    terms = glossary_terms()
    assert terms["CTCVR"] == "点击且转化率"
    assert terms["Precision"] == "精确率"
    assert terms["Permutation feature importance"] == "置换特征重要性"
    assert terms["Diversity"] == "多样性"
    assert terms["Item"] == "物品"
    assert len(terms) > 60


#: Terms a reader meets in running text (not only through a {term} role), with no second
#: meaning in the book: wherever the English says them, the Chinese says the glossary's name.
KEY_TERMS = [
    "Multi-task learning",
    "Collaborative filtering",
    "Negative transfer",
    "Seesaw phenomenon",
    "Sample selection bias",
    "Click-through rate",
    "Permutation feature importance",
    "Position bias",
    "Expert network",
    "Gating network",
    "Uncertainty weighting",
    "Cold start",
    "Long tail",
    "Differential privacy",
    "Expected calibration error",
    "Pareto front",
]


def _uses(msgid: str, term: str) -> bool:
    return re.search(rf"\b{re.escape(term)}s?\b", msgid, re.I) is not None


_TERM_ROLE = re.compile(r"\{term\}`([^`]*)`")


def _term_roles(text: str) -> dict[str, str]:
    """Target → shown text of every {term} role (``{term}`多样性 <Diversity>``` → Diversity: 多样性)."""
    roles = {}
    for body in _TERM_ROLE.findall(text):
        match = re.fullmatch(r"(?s)(.*?)\s*<([^<>]+)>", body)
        shown, target = (match.group(1), match.group(2)) if match else (body, body)
        roles[target] = shown
    return roles


def test_term_roles_and_key_terms_use_the_glossary_name():
    """A glossary term says the glossary's Chinese, in a {term} role and in running text.

    A role may show a shorter form of the glossary's name (专家 for 专家网络) or keep a name
    that Chinese texts keep in Latin letters (PCGrad, GMV), as the English shows it.
    """
    terms = glossary_terms()
    wrong = []
    for po, messages in _catalogue_messages().items():
        for english, chinese in messages:
            shown_zh = _term_roles(chinese)
            for target, shown_en in _term_roles(english).items():
                zh = terms.get(target)
                shown = shown_zh.get(target)
                if zh is None or shown is None:
                    continue  # not a glossary name with a Chinese word; or markup (checked elsewhere)
                if not (shown in zh or zh in shown or (shown == shown_en and not CJK.search(shown))):
                    wrong.append(f"{po}: {target!r} shown as {shown!r}, the glossary says {zh}")
            for term in KEY_TERMS:
                if _uses(_TERM_ROLE.sub(" ", english), term) and terms[term] not in chinese:
                    wrong.append(f"{po}: {term!r} should read {terms[term]}: {chinese[:80]}")
    assert not wrong, f"{len(wrong)} messages name a term differently from the glossary:\n" + "\n".join(wrong[:20])


def test_no_catalogue_uses_the_renderings_the_issue_called_wrong():
    wrong = []
    for po, messages in _catalogue_messages().items():
        if po == "book/glossary.po":  # where the wrong renderings are named as wrong
            continue
        for english, chinese in messages:
            if "排列特征重要性" in chinese or "多样性增强" in chinese:
                wrong.append(f"{po}: {chinese[:80]}")
            if "CTCVR" in english and "点击转化率" in chinese and "点击且转化率" not in chinese:
                wrong.append(f"{po}: CTCVR as 点击转化率: {chinese[:80]}")
            if _uses(english, "precision") and "准确率" in chinese and not re.search("accuracy|项亮", english, re.I):
                wrong.append(f"{po}: precision as 准确率: {chinese[:80]}")
    assert not wrong, "\n".join(wrong[:20])


def test_translations_are_chinese_and_keep_their_markup():
    copied, broken = [], []
    for po, messages in _catalogue_messages().items():
        for english, chinese in messages:
            found = translations.problems(english, chinese)
            if found:
                broken.append(f"{po}: {found}: {english[:60]}")
            # A long sentence left in English is an untranslated message in disguise (a
            # formula or a line of code is its own translation).
            words = translations.prose_words(english)
            if words >= 8 and not CJK.search(chinese):
                copied.append(f"{po}: {english[:80]}")
    assert not broken, "\n".join(broken[:20])
    assert not copied, f"{len(copied)} prose messages have no Chinese:\n" + "\n".join(copied[:20])


# ---------------------------------------------------------------------------
# Notebooks with Chinese prose (downloads of Chinese pages, make lab EDITION=zh)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("docname", ["notebooks/ch03_cf/03_evaluation", "notebooks/ch04_math/02_multi_task_objective"])
def test_translated_notebook_has_chinese_prose_and_the_same_code(docname):
    source = json.loads((ROOT / f"{docname}.ipynb").read_text(encoding="utf-8"))
    translated = translations.translate_notebook(source, docname)
    assert [c["cell_type"] for c in translated["cells"]] == [c["cell_type"] for c in source["cells"]]
    for before, after in zip(source["cells"], translated["cells"]):
        if before["cell_type"] == "code":
            assert after["source"] == before["source"]
    table = translations.translations_for(docname)
    markdown = "\n".join(c["source"] for c in translated["cells"] if c["cell_type"] == "markdown")
    # Every English paragraph of the page was found and replaced (one that is its own
    # translation, a formula or a name, may stay).
    left = [en for en in table if translations.prose_words(en) >= 6 and _squash(en) in _squash(markdown)]
    assert not left, f"{len(left)} paragraphs stayed English, e.g. {left[:3]}"
    assert len(CJK.findall(markdown)) > 1000


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_translate_markdown_keeps_what_is_not_a_message():
    table = {"Rating error": "评分误差", "RMSE squares the errors.": "RMSE 对误差取平方。"}
    source = "# Rating error\n\n```python\nprint('Rating error')\n```\n\nRMSE squares\nthe errors.\n"
    out = translations.translate_markdown(source, table)
    assert out.startswith("# 评分误差\n")
    assert "RMSE 对误差取平方。" in out
    # A message inside a longer word sequence is not a match on its own.
    assert translations.translate_markdown("No Rating errors here.", table) == "No Rating errors here."


def test_worksheet_round_trip(tmp_path, monkeypatch):
    po = tmp_path / "page.po"
    source = CATALOGUES / "book" / "ch10_further_reading.po"
    po.write_bytes(source.read_bytes())
    monkeypatch.setattr(translations, "CATALOGUES", tmp_path)
    sheet = translations.export(po, everything=True)
    entries = translations.parse_sheet(sheet)
    assert entries and entries[0][0] == "page.po"
    # A worksheet whose English no longer matches is refused, and nothing is written.
    stale = sheet.replace("[en]\n" + entries[0][2], "[en]\nSomething else", 1)
    with pytest.raises(ValueError, match="not the catalogue's message"):
        translations.import_sheet(stale)
    # Markup that does not survive is refused.
    first = entries[3]
    bad = f"=== page.po {first[1]}\n[en]\n{first[2]}\n[zh]\n没有引用。\n"
    with pytest.raises(ValueError, match="page.po entry"):
        translations.import_sheet(bad)
    assert translations.import_sheet(f"=== page.po 0\n[en]\n{entries[0][2]}\n[zh]\n扩展阅读\n") == {"page.po": 1}
    assert [m.string for m in translations.read_catalogue(po) if m.id][0] == "扩展阅读"


def test_check_reports_untranslated_fuzzy_and_stale(tmp_path):
    from babel.messages.catalog import Catalog

    templates, catalogues = tmp_path / "pot", tmp_path / "po"
    templates.mkdir()
    catalogues.mkdir()
    pot = Catalog()
    for msgid in ("One", "Two", "Three"):
        pot.add(msgid)
    translations.write_catalogue(templates / "page.pot", pot)
    po = Catalog(locale="zh_CN")
    po.add("One", "一")
    po.add("Two", "二", flags=["fuzzy"])
    po.add("Gone", "旧")
    translations.write_catalogue(catalogues / "page.po", po)
    report = translations.check(templates, catalogues)
    assert not report.ok
    assert report.untranslated == {"page.po": ["Three"]}
    assert report.fuzzy == {"page.po": ["Two"]}
    assert report.stale == {"page.po": ["Gone"]}
    assert report.translated == 1


def test_chinese_start_page_follows_the_english_one():
    english = (ROOT / "notebooks" / "README.md").read_text(encoding="utf-8")
    chinese = (ROOT / "notebooks" / "README.zh_CN.md").read_text(encoding="utf-8")
    assert len(re.findall(r"^## ", chinese, re.M)) == len(re.findall(r"^## ", english, re.M))
    # The same folders in the same reading order, the same commands and markers.
    folders = re.findall(r"^\d+\. `(ch\d\d_\w+)`", english, re.M)
    assert re.findall(r"^\d+\. `(ch\d\d_\w+)`", chinese, re.M) == folders
    for code in ("# YOUR CODE HERE", "raise NotImplementedError()", "visible tests passed", "make lab LAB=instructor"):
        assert code in chinese
    assert "make lab EDITION=zh" in chinese and len(CJK.findall(chinese)) > 500


def test_figure_words_are_read_and_replaced():
    import sys

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import figure_text

    svg = (
        '<svg><text x="1">expected purchases</text><text x="2">0.25</text>'
        '<text>\n<tspan>ρ</tspan></text><text x="3">AUC &amp; log loss</text></svg>'
    )
    assert figure_text.svg_words(svg) == ["expected purchases", "AUC & log loss"]
    table = {"expected purchases": "期望购买数", "AUC & log loss": "AUC 与对数损失"}
    out, changed = figure_text.translate_svg(svg, table.get)
    assert changed == 2
    assert '<text x="1">期望购买数</text>' in out and "AUC 与对数损失" in out
    assert '<text x="2">0.25</text>' in out and "<tspan>ρ</tspan>" in out
