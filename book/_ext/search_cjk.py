"""Site search that finds Chinese terms and ranks the page about a term first.

The book is in English and gives each key term its Chinese name at first use ("collaborative
filtering (协同过滤)"). Sphinx's English search splits text at non-word characters, so a run of
Chinese characters is one token: 协同过滤 was found, 协同 or 过滤 were not. Chinese has no spaces
between words, and a dictionary segmenter (jieba) would be a new dependency with its own
dictionary, so this search language indexes every run of CJK characters as its single
characters and its overlapping two-character pieces (bigrams), and the browser splits a query
the same way (``splitQuery`` below): a query of two or more characters becomes its bigrams,
all of which a page must contain, a one-character query its character. English words are
indexed exactly as before.

Ranking: Sphinx scores a page 15 when a section title contains the term and 5 when only the
text does, so the many pages that mention a term tie, alphabetically. ``search_scorer.js``
re-scores each result with what this extension measures at the end of the build and writes to
``_static/search-ranking.js``:

* the page's own title (its h1) contains every query term: +30;
* the page defines the term: it stands alone in bold or as a definition-list term
  (``**MMoE** (multi-gate mixture-of-experts) ...``): +20;
* how often the page uses the term: up to +8, growing with log2 of the count;
* exercise pages (``mtrec_search_demote``, shell patterns of docnames) restate what other
  pages explain: -12.
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.search import WordCollector
from sphinx.search.en import SearchEnglish
from sphinx.util import logging

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
RANKING_JS = "search-ranking.js"  # written into the site's _static folder
SCORER_JS = HERE / "search_scorer.js"

# CJK Unified Ideographs, extension A and the compatibility block; the book's Chinese terms
# are Simplified Chinese, all inside these.
CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_PIECES = re.compile(f"[{CJK_CHARS}]+|[^{CJK_CHARS}]+")
_IS_CJK = re.compile(f"[{CJK_CHARS}]")

# Bold text or a definition term longer than this is a sentence, not the name of a concept.
_MAX_DEFINED_WORDS = 4
_MAX_DEFINED_CHARS = 40
# frequency_bonus() reaches its maximum at 16 uses.
_MAX_COUNT = 16


def cjk_query_terms(run: str) -> list[str]:
    """How the browser splits a run of CJK characters in a query: its bigrams, or the character."""
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def cjk_index_terms(run: str) -> list[str]:
    """What the index holds for a run of CJK characters: every character and every bigram."""
    return list(run) + (cjk_query_terms(run) if len(run) > 1 else [])


class SearchEnglishCJK(SearchEnglish):
    """English search (stop words, Porter stemmer) that also indexes CJK runs as bigrams."""

    lang = "en_cjk"  # falls back to "en" (the part before "_") where this class is not registered
    language_name = "English with CJK bigrams"

    # Must agree with split() and cjk_query_terms(): searchtools.js calls splitQuery() on the
    # query. Sphinx's default, then the same split of each CJK run into its bigrams.
    js_splitter_code = """
function splitQuery(query) {
  const cjk = /^[@CJK@]+$/u;
  const terms = [];
  for (const word of query.split(/[^\\p{Letter}\\p{Number}_\\p{Emoji_Presentation}]+/gu)) {
    for (const piece of word.split(/([@CJK@]+)/u)) {
      if (!piece) continue;
      if (!cjk.test(piece) || piece.length === 1) terms.push(piece);
      else for (let i = 0; i + 1 !== piece.length; i++) terms.push(piece.slice(i, i + 2));
    }
  }
  return terms;
}
""".replace("@CJK@", CJK_CHARS.encode("unicode_escape").decode("ascii"))

    def split(self, input: str) -> list[str]:
        terms: list[str] = []
        for word in self._word_re.findall(input):
            for piece in _PIECES.findall(word):
                if _IS_CJK.match(piece):
                    terms.extend(cjk_index_terms(piece))
                else:
                    terms.append(piece)
        return terms


def _index_form(lang: SearchEnglishCJK, word: str) -> str | None:
    """The form in which ``word`` lands in the index (as in Sphinx's IndexBuilder.feed), or None."""
    stemmed = lang.stem(word).lower()
    if lang.word_filter(stemmed):
        return stemmed
    if lang.word_filter(word):
        return word
    return None


def _terms(lang: SearchEnglishCJK, text: str) -> list[str]:
    return [t for t in (_index_form(lang, w) for w in lang.split(text)) if t]


def query_key(lang: SearchEnglishCJK, text: str) -> str:
    """``text`` as the browser's query parser sees it: its distinct search terms, sorted, joined by a space.

    Mirrors splitQuery() and Search._parseQuery() in searchtools.js (CJK runs as bigrams, stop
    words and numbers dropped, lower case, stemmed), so a page's bold "**Shared-bottom**" and the
    query "shared bottom" give the same key.
    """
    terms = set()
    for word in lang._word_re.findall(text):
        for piece in _PIECES.findall(word):
            for term in cjk_query_terms(piece) if _IS_CJK.match(piece) else [piece]:
                lower = term.lower()
                if lower in lang.stopwords or lower.isdigit():
                    continue
                terms.add(lang.stem(lower).lower())
    return " ".join(sorted(terms))


def _defined_keys(lang: SearchEnglishCJK, doctree: nodes.document) -> set[str]:
    """What the page names on its own in bold or as a definition-list term (as query keys).

    Only the whole bold text counts: "**MMoE** (multi-gate mixture-of-experts)" defines MMoE,
    a bold run-in heading such as "**PLE against MMoE.**" does not.
    """
    found: set[str] = set()
    for node in doctree.findall(lambda n: isinstance(n, (nodes.strong, nodes.term))):
        text = node.astext().strip()
        if len(text) <= _MAX_DEFINED_CHARS and len(text.split()) <= _MAX_DEFINED_WORDS:
            key = query_key(lang, text)
            if key:
                found.add(key)
    return found


def page_signals(lang: SearchEnglishCJK, doctree: nodes.document, title: str) -> dict:
    """Counts of each indexed term on the page, the terms it defines and those of its title."""
    collector = WordCollector(doctree, lang)
    doctree.walk(collector)
    # found_words holds the titles' words too (WordCollector visits their text).
    counts = Counter(t for t in (_index_form(lang, w) for w in collector.found_words) if t)
    return {"counts": counts, "defined": _defined_keys(lang, doctree), "title": set(_terms(lang, title))}


def ranking_data(pages: dict[str, dict], demote: list[str]) -> dict:
    """The compact table search_scorer.js reads: per term, the pages and what they say about it.

    Counts of 1 are left out (a page in the index uses the term at least once), and counts
    are capped where the frequency bonus stops growing.
    """
    docs = sorted(pages)
    index = {d: i for i, d in enumerate(docs)}
    counts: dict[str, list[list[int]]] = defaultdict(list)
    defined: dict[str, list[int]] = defaultdict(list)
    titled: dict[str, list[int]] = defaultdict(list)
    # Where a term is on one page only, its count cannot change an order: left out.
    pages_with = Counter(term for doc in docs for term in pages[doc]["counts"])
    for doc in docs:
        sig = pages[doc]
        for term, n in sig["counts"].items():
            if n > 1 and pages_with[term] > 1:
                counts[term].append([index[doc], min(n, _MAX_COUNT)])
        for term in sig["defined"]:
            defined[term].append(index[doc])
        for term in sig["title"]:
            titled[term].append(index[doc])
    demoted = [index[d] for d in docs if any(fnmatch.fnmatchcase(d, p) for p in demote)]
    return {"docs": docs, "counts": counts, "defined": defined, "titled": titled, "demoted": demoted}


def frequency_bonus(count: int) -> float:
    """The score a page gets for using a term ``count`` times (mirrors search_scorer.js)."""
    return min(8.0, 2.0 * math.log2(max(count, 1)))


def _configure(app: Sphinx, config) -> None:
    if not config.html_search_language:
        config.html_search_language = SearchEnglishCJK.lang
    if not config.html_search_scorer:
        config.html_search_scorer = str(SCORER_JS)


def _add_ranking_script(app: Sphinx, pagename, templatename, context, doctree) -> None:
    if pagename == "search":
        app.add_js_file(RANKING_JS)


def _write_ranking(app: Sphinx, exception) -> None:
    if exception is not None or app.builder.format != "html" or not app.builder.search:
        return
    if app.config.html_search_language != SearchEnglishCJK.lang:
        return
    # Every page, from the stored doctrees: also right after a build that rewrote a few pages.
    lang = SearchEnglishCJK(app.config.html_search_options)
    pages = {}
    for docname in sorted(app.env.found_docs):
        title = app.env.titles[docname].astext() if docname in app.env.titles else ""
        pages[docname] = page_signals(lang, app.env.get_doctree(docname), title)
    data = ranking_data(pages, list(app.config.mtrec_search_demote))
    target = Path(app.outdir) / "_static" / RANKING_JS
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    target.write_text(f"var SEARCH_RANKING = {payload};\n", encoding="utf-8")
    logger.info(f"[search_cjk] ranking data for {len(pages)} pages ({len(payload) // 1024} KiB)")


def setup(app: Sphinx) -> dict:
    app.add_search_language(SearchEnglishCJK)
    app.add_config_value("mtrec_search_demote", ["*/90_exercises"], "html", list)
    app.connect("config-inited", _configure)
    app.connect("html-page-context", _add_ranking_script)
    app.connect("build-finished", _write_ranking)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
