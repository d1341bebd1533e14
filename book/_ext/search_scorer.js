/*
 * The book's search scorer (html_search_scorer; Sphinx copies it into language_data.js).
 *
 * Sphinx's weights below are unchanged; score() then re-ranks each page with what
 * book/_ext/search_cjk.py measured at build time (_static/search-ranking.js, loaded by the
 * search page): a page whose own title holds every query term first, then the page that
 * defines the term, then how often a page uses it; exercise pages come after the pages that
 * explain. Without the ranking data the scores stay Sphinx's.
 */
var Scorer = {
  // query matches the full name of an object
  objNameMatch: 11,
  // or matches in the last dotted part of the object name
  objPartialMatch: 6,
  // Additive scores depending on the priority of the object
  objPrio: {
    0: 15, // used to be importantResults
    1: 5, // used to be objectResults
    2: -5, // used to be unimportantResults
  },
  //  Used when the priority is not in the mapping.
  objPrioDefault: 0,

  // query found in title
  title: 15,
  partialTitle: 7,
  // query found in terms
  term: 5,
  partialTerm: 2,

  // The book's re-ranking (search_cjk.py documents and tests the same numbers).
  pageTitleBonus: 30,
  definesBonus: 20,
  maxFrequencyBonus: 8,
  demotion: 12,

  // The stemmed terms of the query being scored (set by the wrapper at the end of this file).
  queryTerms: [],

  _pages: null,
  _lookup: function (table, term) {
    return (table && Object.prototype.hasOwnProperty.call(table, term)) ? table[term] : [];
  },
  _docIndex: function (docname) {
    const data = window.SEARCH_RANKING;
    if (!data) return -1;
    if (Scorer._pages === null) {
      Scorer._pages = new Map(data.docs.map((d, i) => [d, i]));
    }
    return Scorer._pages.has(docname) ? Scorer._pages.get(docname) : -1;
  },

  bonus: function (docname, terms) {
    const data = window.SEARCH_RANKING;
    const doc = Scorer._docIndex(docname);
    if (doc === -1 || terms.length === 0) return 0;
    let bonus = 0;
    if (terms.every((t) => Scorer._lookup(data.titled, t).includes(doc))) bonus += Scorer.pageTitleBonus;
    // Bold text that is exactly the query (search_cjk.query_key builds the same key).
    const key = [...new Set(terms)].sort().join(" ");
    if (Scorer._lookup(data.defined, key).includes(doc)) bonus += Scorer.definesBonus;
    let frequency = 0;
    for (const t of terms) {
      const entry = Scorer._lookup(data.counts, t).find((pair) => pair[0] === doc);
      const count = entry ? entry[1] : 1;
      frequency += Math.min(Scorer.maxFrequencyBonus, 2 * Math.log2(count));
    }
    bonus += frequency / terms.length;
    if (data.demoted.includes(doc)) bonus -= Scorer.demotion;
    return bonus;
  },

  score: function (result) {
    const [docname, _title, _anchor, _descr, score, _filename] = result;
    return score + Scorer.bonus(docname, Scorer.queryTerms);
  },
};

// searchtools.js (loaded before this file) parses the query; keep its stemmed terms for score().
if (typeof Search !== "undefined" && !Search._bookScorerWrapped) {
  const parseQuery = Search._parseQuery;
  Search._parseQuery = (query) => {
    const parsed = parseQuery(query);
    Scorer.queryTerms = [...parsed[1]];
    return parsed;
  };
  Search._bookScorerWrapped = true;
}
