"""The article's recommendation pipeline, end to end (section 2.3's Mermaid diagram, chapter 5).

::

    User behaviour data -> Feature extraction -> Collaborative filtering -> Multi-task learning
        -> Interest modelling (fused score) + Diversity (re-ranking) -> Recommendation list

Each box is one small function, and :class:`RecommendationPipeline` strings them together:

=========================  ==========================================================================
diagram box                code
=========================  ==========================================================================
User behaviour data        the impression log given to :meth:`RecommendationPipeline.fit`
Feature extraction         :func:`similarity_features`, :func:`point_in_time_features`, a
                           ``MinMaxScaler`` fitted on the training rows, user/item tables
                           (ids and categories are encoded inside the ranker, see
                           :mod:`mtrec_lib.models.features`)
Collaborative filtering    the ``candidate_model`` (e.g. :class:`mtrec_lib.cf.ItemTopN`): the
                           ``n_candidates`` best items per user
Multi-task learning        the ``ranker`` (:class:`mtrec_lib.MultiTaskLearning`) scores every
                           candidate for every task
Interest modelling         :func:`fuse_scores`: one score from the task probabilities,
                           :math:`\\prod_t p_t^{w_t}`
Diversity                  :func:`mtrec_lib.rerank.rerank` (MMR or DPP) on item category vectors
Recommendation list        ``user_id, item_id, score, rank``
=========================  ==========================================================================

For simulated logs, :class:`ShopTruth` gives the ground-truth click and purchase
probabilities of *any* (user, item) pair of a :func:`mtrec_lib.data.simulate_shop` world,
and :func:`list_quality` measures lists with them (expected clicks, purchases and GMV per
list) and with the usual offline metrics. :func:`fusion_sweep` measures the lists of many
fusion exponents at once, and :func:`pareto_front` picks the settings that no other
setting beats on every objective (multi-objective fusion, 多目标融合).

Examples
--------
>>> import pandas as pd
>>> import mtrec_lib as mt
>>> log = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 20, 10, 20, 10],
...                     "day": [0, 0, 0, 0, 1], "click": [1, 1, 1, 1, 1]})
>>> similarity_features(pd.DataFrame({"user_id": [3], "item_id": [20]}),
...                     interactions(log)).round(3).to_dict("records")
[{'user_similarity': 0.707, 'item_similarity': 0.816}]
>>> pipe = RecommendationPipeline(candidate_model=mt.cf.ItemTopN(), ranker=None, n=1)
>>> pipe.fit(log).recommend([3])[["user_id", "item_id", "rank"]].to_dict("records")
[{'user_id': 3, 'item_id': 20, 'rank': 1}]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import logit
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import MinMaxScaler

from mtrec_lib.cf import ItemTopN, topk_item_similarity
from mtrec_lib.data.frames import ITEM, RANK, SCORE, USER, rank_within_users, top_k_per_user
from mtrec_lib.data.simulate import ShopWorld
from mtrec_lib.data.validate import check_choice, check_frame, check_number, check_positive_int

__all__ = [
    "SIMILARITY_FEATURES",
    "interactions",
    "similarity_features",
    "point_in_time_features",
    "fuse_scores",
    "RecommendationPipeline",
    "ShopTruth",
    "list_quality",
    "shown_lists",
    "pareto_front",
    "fusion_sweep",
]

#: The two columns :func:`similarity_features` adds, named as in the article.
SIMILARITY_FEATURES = ["user_similarity", "item_similarity"]


# ---------------------------------------------------------------------------
# Feature extraction
# ---------------------------------------------------------------------------
def interactions(log: pd.DataFrame, column: str = "click") -> pd.DataFrame:
    """The distinct (user, item) pairs with a positive ``column`` in ``log``.

    Parameters
    ----------
    log : pandas.DataFrame
        Impressions with ``user_id``, ``item_id`` and the 0/1 column ``column``.
    column : str, default "click"
        Which behaviour counts as an interaction.

    Returns
    -------
    pandas.DataFrame
        ``user_id, item_id``, one row per pair, in order of first occurrence.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [5, 5, 6], "click": [1, 1, 0]})
    >>> interactions(log).to_dict("records")
    [{'user_id': 1, 'item_id': 5}]
    """
    check_frame(log, "log", required=[USER, ITEM], binary=[column], allow_empty=True)
    pos = log.loc[log[column].to_numpy() == 1, [USER, ITEM]]
    return pos.drop_duplicates().reset_index(drop=True)


def _cosine_neighbours(x: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Cosine similarity of the columns of binary ``x``, each column's ``k`` best kept, no self.

    The similarity behind the library's item-based and user-based top-N lists
    (:func:`mtrec_lib.cf.topk_item_similarity` without its row and sum normalisations,
    so the entries are plain cosines).
    """
    n = x.shape[1]
    if n < 2:
        return sp.csr_matrix((n, n))
    return topk_item_similarity(x, k=min(k, n - 1), similarity="cosine", row_normalize=False, normalize=False)


def similarity_features(rows: pd.DataFrame, history: pd.DataFrame, k: int = 50) -> pd.DataFrame:
    """User and item similarity features of each (user, item) row, from an interaction history.

    With :math:`H_u` the items user *u* interacted with in ``history`` and :math:`U_i` the
    users who interacted with item *i*,

    .. math::

        \\text{item\\_similarity}(u, i) = \\frac{1}{|H_u \\setminus \\{i\\}|}
            \\sum_{j \\in H_u \\setminus \\{i\\}} s_{ij},
        \\qquad
        \\text{user\\_similarity}(u, i) = \\frac{1}{|U_i \\setminus \\{u\\}|}
            \\sum_{v \\in U_i \\setminus \\{u\\}} s_{uv},

    where :math:`s_{ij}` is the cosine of the two items' interaction columns (item-based
    CF) and :math:`s_{uv}` the cosine of the two users' interaction rows (user-based CF),
    each entity keeping only its ``k`` most similar neighbours (others count as 0). A row
    whose user or item has no history gets 0.

    The row's own pair is left out of both means, but if it is in ``history`` it still
    shapes the similarities (a click shared by *u* and *v* raises :math:`s_{uv}`). So for
    training rows, ``history`` must not contain the row's own interaction: use
    :func:`point_in_time_features`, which gives each row only the interactions before it.

    Parameters
    ----------
    rows : pandas.DataFrame
        Pairs to describe: ``user_id``, ``item_id`` (other columns are ignored).
    history : pandas.DataFrame
        Past interactions: ``user_id``, ``item_id`` (e.g. :func:`interactions` of the
        training log). Nothing else is read, so features can only use what it holds.
    k : int, default 50
        Neighbours kept per item and per user.

    Returns
    -------
    pandas.DataFrame
        ``user_similarity``, ``item_similarity`` in [0, 1], index of ``rows``.

    Examples
    --------
    >>> import pandas as pd
    >>> history = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 20, 10, 20, 10]})
    >>> rows = pd.DataFrame({"user_id": [3], "item_id": [20]})
    >>> similarity_features(rows, history).round(3).to_dict("records")
    [{'user_similarity': 0.707, 'item_similarity': 0.816}]
    """
    check_frame(rows, "rows", required=[USER, ITEM], allow_empty=True)
    check_frame(history, "history", required=[USER, ITEM], allow_empty=True)
    k = check_positive_int(k, "k")
    out = pd.DataFrame(0.0, index=rows.index, columns=SIMILARITY_FEATURES)
    hist = history[[USER, ITEM]].drop_duplicates()
    if len(hist) == 0 or len(rows) == 0:
        return out
    users, items = pd.Index(pd.unique(hist[USER])), pd.Index(pd.unique(hist[ITEM]))
    x = sp.csr_matrix(
        (np.ones(len(hist)), (users.get_indexer(hist[USER]), items.get_indexer(hist[ITEM]))),
        shape=(len(users), len(items)),
    )
    u, i = users.get_indexer(rows[USER]), items.get_indexer(rows[ITEM])
    known = (u >= 0) & (i >= 0)  # an unknown user has no history, an unknown item no clickers
    if not known.any():
        return out
    u, i = u[known], i[known]
    s_item = _cosine_neighbours(x, k)  # items x items, diagonal empty
    s_user = _cosine_neighbours(sp.csr_matrix(x.T), k)  # users x users, diagonal empty
    xt = sp.csr_matrix(x.T)
    # Row-wise dot products of gathered sparse rows: memory grows with len(rows), never with
    # n_users * n_items. The empty diagonals drop j = i and v = u from the sums.
    item_num = np.asarray(x[u].multiply(s_item[i]).sum(axis=1)).ravel()
    user_num = np.asarray(s_user[u].multiply(xt[i]).sum(axis=1)).ravel()
    own = np.asarray(x[u, i]).ravel()  # 1 if the pair itself is in the history
    item_den = np.asarray(x.sum(axis=1)).ravel()[u] - own
    user_den = np.asarray(x.sum(axis=0)).ravel()[i] - own
    values = np.zeros((len(u), 2))
    np.divide(user_num, user_den, out=values[:, 0], where=user_den > 0)
    np.divide(item_num, item_den, out=values[:, 1], where=item_den > 0)
    out.iloc[np.flatnonzero(known)] = values
    return out


def point_in_time_features(
    log: pd.DataFrame, interaction: str = "click", time_col: str = "day", k: int = 50
) -> pd.DataFrame:
    """:func:`similarity_features` of every row from the interactions *before* its time step.

    A row logged on day *d* gets features computed from the interactions of days
    ``< d`` only: what the system knew when it showed the item. Computing them from the
    whole log instead would put the row's own click (and later ones) into its feature, a
    label leak that makes the feature look far more predictive in training than it can
    be at serving time.

    Parameters
    ----------
    log : pandas.DataFrame
        ``user_id``, ``item_id``, ``time_col`` and the 0/1 ``interaction`` column.
    interaction : str, default "click"
    time_col : str, default "day"
        Integer (or sortable) time step; one set of similarities is computed per step.
    k : int, default 50
        Neighbours kept per item and per user.

    Returns
    -------
    pandas.DataFrame
        ``user_similarity``, ``item_similarity``, index of ``log``.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"user_id": [1, 2, 2, 1], "item_id": [10, 10, 20, 20],
    ...                     "day": [0, 0, 0, 1], "click": [1, 1, 1, 0]})
    >>> point_in_time_features(log).round(3)   # day 0 has no past; day 1 sees day 0
       user_similarity  item_similarity
    0            0.000            0.000
    1            0.000            0.000
    2            0.000            0.000
    3            0.707            0.707
    """
    check_frame(log, "log", required=[USER, ITEM, time_col], binary=[interaction], allow_empty=True)
    out = pd.DataFrame(0.0, index=log.index, columns=SIMILARITY_FEATURES)
    t = log[time_col].to_numpy()
    positive = log[interaction].to_numpy() == 1
    for step in np.unique(t):
        now = t == step
        history = log.loc[positive & (t < step), [USER, ITEM]]
        out.iloc[np.flatnonzero(now)] = similarity_features(log.loc[now, [USER, ITEM]], history, k).to_numpy()
    return out


# ---------------------------------------------------------------------------
# Interest modelling: one score from several task predictions
# ---------------------------------------------------------------------------
def fuse_scores(predictions: pd.DataFrame, weights: Mapping[str, float]) -> np.ndarray:
    """Fused ranking score :math:`\\prod_t p_t^{w_t}` of per-task probabilities.

    ``{"click": 1, "purchase": 1}`` ranks by pCTR x pCVR-like products, ``{"click": 1}``
    by clicks alone; exponents between trade one task against the other. Computed in
    log space, probabilities floored at 1e-12.

    Parameters
    ----------
    predictions : pandas.DataFrame
        One probability column per task, e.g. ``MultiTaskLearning.predict(df)``.
    weights : dict
        Task column -> exponent >= 0. At least one exponent must be positive.

    Returns
    -------
    numpy.ndarray
        One score per row.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"click": [0.5, 0.2], "purchase": [0.01, 0.04]})
    >>> fuse_scores(p, {"click": 1.0, "purchase": 1.0}).round(4).tolist()
    [0.005, 0.008]
    """
    if not isinstance(weights, Mapping) or not weights:
        raise ValueError(f"fusion weights must be a non-empty dict {{task: exponent}}, got {weights!r}.")
    check_frame(predictions, "predictions", numeric=list(weights), allow_empty=True)
    total = np.zeros(len(predictions))
    for task, w in weights.items():
        w = check_number(w, f"fusion weight of {task!r}", 0.0)
        total += w * np.log(np.clip(predictions[task].to_numpy(dtype=float), 1e-12, 1.0))
    if not any(float(w) > 0 for w in weights.values()):
        raise ValueError(f"fusion weights {dict(weights)} are all 0; give at least one task a positive weight.")
    return np.exp(total)


# ---------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------
def _entity_table(log: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    """One row per ``key`` with its latest value of each column (index ``key``)."""
    return log[[key, *columns]].drop_duplicates(key, keep="last").set_index(key).sort_index()


class RecommendationPipeline(BaseEstimator):
    """The article's pipeline: CF candidates, multi-task ranking, fused score, re-ranking.

    Parameters
    ----------
    candidate_model : top-N estimator, default ``mt.cf.ItemTopN(k=20)``
        Anything with ``fit(interactions)`` and ``recommend(user_ids, n, exclude_seen)``
        (every model in :mod:`mtrec_lib.cf`); fitted on the ``interaction`` pairs.
    ranker : MultiTaskLearning or None
        Scores every candidate for every task. With ``features=None`` the pipeline
        chooses them: ``user_id``, ``item_id``, the ``user_*`` and ``item_*`` columns
        of the log, the ``context`` columns and the two similarity features. ``None``:
        rank by the candidate model's score (collaborative filtering only).
    fusion : dict, optional
        Task -> exponent for :func:`fuse_scores`; default every task with exponent 1.
    reranker : {None, "mmr", "dpp"}
        Diversity re-ranking of the candidates (:func:`mtrec_lib.rerank.rerank`).
    trade_off : float in [0, 1], default 0.7
        MMR's ``lambda_`` or the DPP's ``theta``: 1 keeps the fused order.
    dpp_ridge : float in [0, 1], default 0.1
        The DPP's ``ridge``: mixes the identity into the item similarity. One-hot
        category vectors give a low-rank kernel in which two items of one category have
        determinant 0, so without it a DPP never repeats a category whatever ``theta``.
    n_candidates : int, default 100
        Candidates per user from the candidate model.
    n : int, default 10
        Length of the final list.
    interaction : str, default "click"
        The 0/1 log column that counts as an interaction for CF and the similarity features.
    diversity_features : tuple of str, default ("item_category",)
        Item columns one-hot encoded into the vectors whose cosine is the re-ranker's
        item similarity.
    context : dict, optional
        Value of each context column (a ranker feature that is neither an id nor a
        ``user_*``/``item_*`` column) when scoring candidates. Default: ``position`` 1
        (the top slot) and ``device`` its most frequent value, for those in the log.
    similarity_k : int, default 50
        Neighbours kept per user and per item in :func:`similarity_features`.
    exclude_seen : bool, default True
        Do not recommend items the user already interacted with.
    time_col : str, default "day"
        Time step of :func:`point_in_time_features`.

    Attributes
    ----------
    candidate_model_, ranker_ : fitted clones of the parameters
    scaler_ : sklearn.preprocessing.MinMaxScaler
        Fitted on the training rows' similarity features only.
    features_ : list of str
        The columns the ranker reads.
    users_, items_ : pandas.DataFrame
        User and item feature tables (latest value per id), index ``user_id`` / ``item_id``.
    item_vectors_ : pandas.DataFrame or None
        One-hot ``diversity_features`` per item (the re-ranker's similarity space);
        ``None`` if the log lacks those columns.
    training_frame_ : pandas.DataFrame
        The ranker's training rows with their (scaled) similarity features.

    Examples
    --------
    >>> import mtrec_lib as mt
    >>> shop = mt.data.simulate_shop(n_users=100, n_items=30, n_impressions=3_000, seed=0, ctr=0.2)
    >>> pipe = RecommendationPipeline(ranker=None, reranker="mmr", n_candidates=10, n=3)
    >>> recs = pipe.fit(shop.data).recommend([0, 1])
    >>> recs.columns.tolist(), recs.groupby("user_id").size().tolist()
    (['user_id', 'item_id', 'score', 'rank'], [3, 3])
    """

    def __init__(
        self,
        candidate_model: Any = None,
        ranker: Any = None,
        fusion: Mapping[str, float] | None = None,
        reranker: str | None = None,
        trade_off: float = 0.7,
        dpp_ridge: float = 0.1,
        n_candidates: int = 100,
        n: int = 10,
        interaction: str = "click",
        diversity_features: tuple[str, ...] = ("item_category",),
        context: Mapping[str, Any] | None = None,
        similarity_k: int = 50,
        exclude_seen: bool = True,
        time_col: str = "day",
    ):
        self.candidate_model = candidate_model
        self.ranker = ranker
        self.fusion = fusion
        self.reranker = reranker
        self.trade_off = trade_off
        self.dpp_ridge = dpp_ridge
        self.n_candidates = n_candidates
        self.n = n
        self.interaction = interaction
        self.diversity_features = diversity_features
        self.context = context
        self.similarity_k = similarity_k
        self.exclude_seen = exclude_seen
        self.time_col = time_col

    # ------------------------------------------------------------------ fit
    def _check_params(self) -> None:
        check_positive_int(self.n_candidates, "n_candidates")
        check_positive_int(self.n, "n")
        check_positive_int(self.similarity_k, "similarity_k")
        check_number(self.trade_off, "trade_off", 0.0, 1.0)
        check_number(self.dpp_ridge, "dpp_ridge", 0.0, 1.0)
        if self.reranker is not None:
            check_choice(self.reranker, "reranker", ["mmr", "dpp"])

    def fit(self, log: pd.DataFrame, verbose: Any = 0) -> RecommendationPipeline:
        """Fit every stage on the impression ``log`` (the training period); returns ``self``.

        1. user and item tables, item vectors for the re-ranker;
        2. the candidate model on the log's ``interaction`` pairs;
        3. if there is a ranker: point-in-time similarity features of every log row, a
           ``MinMaxScaler`` fitted on them, and the ranker trained on the log rows;
        4. the similarity history for serving: every interaction of the log.

        Parameters
        ----------
        log : pandas.DataFrame
            Impressions with ``user_id``, ``item_id``, the ``interaction`` column, the
            ranker's task labels and features, and ``time_col`` when there is a ranker.
        verbose : 0, 1, 2 or "auto", default 0
            Passed to the ranker's ``fit`` (Keras progress output).
        """
        self._check_params()
        needs_vectors = self.reranker is not None
        required = [USER, ITEM, *(self.diversity_features if needs_vectors else [])]
        check_frame(log, "fit(log)", required=required, binary=[self.interaction])
        user_cols = [c for c in log.columns if c.startswith("user_") and c != USER and c not in SIMILARITY_FEATURES]
        item_cols = [c for c in log.columns if c.startswith("item_") and c != ITEM and c not in SIMILARITY_FEATURES]
        self.users_ = _entity_table(log, USER, user_cols)
        self.items_ = _entity_table(log, ITEM, item_cols)
        self.item_vectors_ = None
        if all(c in log.columns for c in self.diversity_features):
            table = _entity_table(log, ITEM, list(self.diversity_features))
            self.item_vectors_ = pd.get_dummies(table.astype(str), dtype=float)
        self.history_ = interactions(log, self.interaction)
        if len(self.history_) == 0:
            raise ValueError(
                f"fit(log): column {self.interaction!r} has no positive row; collaborative "
                "filtering needs at least one interaction."
            )
        model = ItemTopN(k=20) if self.candidate_model is None else self.candidate_model
        self.candidate_model_ = clone(model).fit(self.history_)

        self.ranker_ = None
        if self.ranker is not None:
            check_frame(log, "fit(log)", required=[self.time_col])
            tasks = list(self.ranker.tasks or {"click": "binary", "purchase": "binary"})
            check_frame(log, "fit(log)", required=tasks)
            self._context_values = self._default_context(log)
            features = self.ranker.features
            if features is None:
                features = [USER, ITEM, *user_cols, *item_cols, *self._context_values, *SIMILARITY_FEATURES]
            self.features_ = list(features)
            frame = log.copy()
            frame[SIMILARITY_FEATURES] = point_in_time_features(log, self.interaction, self.time_col, self.similarity_k)
            # Fitted on the training rows only: the scaler's min and max are parameters of the
            # model, and at serving time there are no future rows to take them from.
            self.scaler_ = MinMaxScaler().fit(frame[SIMILARITY_FEATURES])
            frame[SIMILARITY_FEATURES] = self.scaler_.transform(frame[SIMILARITY_FEATURES])
            self.training_frame_ = frame
            self.ranker_ = clone(self.ranker).set_params(features=self.features_)
            self.ranker_.fit(frame[[*self.features_, *tasks]], verbose=verbose)
            self.tasks_ = tasks
        self.n_features_in_ = log.shape[1]
        return self

    def _default_context(self, log: pd.DataFrame) -> dict[str, Any]:
        known = {USER, ITEM, *SIMILARITY_FEATURES, *self.users_.columns, *self.items_.columns}
        if self.ranker.features is not None:
            cols = [c for c in self.ranker.features if c not in known]
        else:
            cols = [c for c in ("position", "device") if c in log.columns]
        given = dict(self.context or {})
        values = {}
        for c in cols:
            if c in given:
                values[c] = given[c]
            elif c == "position":
                values[c] = 1  # score as if shown in the top slot: the list decides the slot
            elif c in log.columns:
                values[c] = log[c].mode().iloc[0]
            else:
                raise ValueError(
                    f"context: the ranker reads column {c!r}, which is not in the log; "
                    f"give its serving value, e.g. context={{{c!r}: ...}}."
                )
        return values

    # -------------------------------------------------------------- stages
    def _check_fitted(self) -> None:
        if not hasattr(self, "candidate_model_"):
            raise NotFittedError("This RecommendationPipeline is not fitted yet; call fit first: fit(log).")

    def _users(self, user_ids: Iterable | None) -> pd.Index:
        users = self.users_.index if user_ids is None else pd.Index(pd.unique(np.asarray(list(user_ids))))
        unknown = users[~users.isin(self.users_.index)]
        if len(unknown):
            raise ValueError(
                f"user_ids: {len(unknown)} user(s) not in the log given to fit, e.g. "
                f"{unknown[0]!r}; the pipeline reads user features from that log."
            )
        return users

    def candidates(self, user_ids: Iterable | None = None) -> pd.DataFrame:
        """Collaborative filtering: ``n_candidates`` items per user with their CF score.

        Returns ``user_id, item_id, cf_score, cf_rank``.
        """
        self._check_fitted()
        users = self._users(user_ids)
        recs = self.candidate_model_.recommend(users, n=self.n_candidates, exclude_seen=self.exclude_seen)
        return recs.rename(columns={SCORE: "cf_score", RANK: "cf_rank"})

    def featurize(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """Feature extraction for (user, item) pairs at serving time.

        User and item columns from the fitted tables, the context values, and the
        similarity features from the whole training history, scaled by ``scaler_``.
        """
        self._check_fitted()
        if self.ranker_ is None:
            raise ValueError(
                "featurize: this pipeline has no ranker, so it has no ranker features; fit it with "
                "ranker=mt.MultiTaskLearning(...) to get them."
            )
        check_frame(pairs, "pairs", required=[USER, ITEM], allow_empty=True)
        replaced = {*self.users_.columns, *self.items_.columns, *self._context_values, *SIMILARITY_FEATURES}
        frame = pairs.drop(columns=[c for c in pairs.columns if c in replaced])
        frame = frame.join(self.users_, on=USER).join(self.items_, on=ITEM)
        for c, v in self._context_values.items():
            frame[c] = v
        sims = similarity_features(pairs, self.history_, self.similarity_k)
        frame[SIMILARITY_FEATURES] = self.scaler_.transform(sims[SIMILARITY_FEATURES])
        return frame

    def score_candidates(self, user_ids: Iterable | None = None) -> pd.DataFrame:
        """Candidates, features and one predicted probability per ranker task (``p_<task>``).

        The expensive part of :meth:`recommend`; :meth:`rank` then finishes lists from
        it, so several fusions or re-rankers can be compared without scoring again.
        """
        cands = self.candidates(user_ids)
        if self.ranker_ is None:
            return cands
        frame = self.featurize(cands)
        pred = self.ranker_.predict(frame[self.features_])
        for task in self.tasks_:
            frame[f"p_{task}"] = pred[task].to_numpy()
        return frame

    def rank(
        self,
        scored: pd.DataFrame,
        fusion: Mapping[str, float] | None = None,
        reranker: str | None = "default",
        trade_off: float | None = None,
        n: int | None = None,
    ) -> pd.DataFrame:
        """Interest modelling and diversity: the final lists from :meth:`score_candidates`.

        Parameters
        ----------
        scored : pandas.DataFrame
            Output of :meth:`score_candidates`.
        fusion, reranker, trade_off, n : optional
            Override the pipeline's parameters for this call (``reranker=None`` turns
            re-ranking off; leave it at ``"default"`` to use the pipeline's).

        Returns
        -------
        pandas.DataFrame
            ``user_id, item_id, score, rank``; ``score`` is the fused score (the CF
            score without a ranker), ``rank`` the position in the final list.
        """
        self._check_fitted()
        n = check_positive_int(self.n if n is None else n, "n")
        reranker = self.reranker if reranker == "default" else reranker
        trade_off = check_number(self.trade_off if trade_off is None else trade_off, "trade_off", 0.0, 1.0)
        if self.ranker_ is None:
            if fusion is not None:
                raise ValueError("fusion needs a ranker; this pipeline ranks by the candidate model's score.")
            score = scored["cf_score"].to_numpy(dtype=float)
        else:
            weights = fusion if fusion is not None else (self.fusion or {t: 1.0 for t in self.tasks_})
            unknown = [t for t in weights if t not in self.tasks_]
            if unknown:
                raise ValueError(f"fusion: {unknown[0]!r} is not a ranker task; tasks are {self.tasks_}.")
            score = fuse_scores(scored[[f"p_{t}" for t in weights]].set_axis(list(weights), axis=1), weights)
        cands = pd.DataFrame({USER: scored[USER].to_numpy(), ITEM: scored[ITEM].to_numpy(), SCORE: score})
        from mtrec_lib.rerank import rerank

        if reranker is None:
            return top_k_per_user(cands, SCORE, n).reset_index(drop=True)
        check_choice(reranker, "reranker", ["mmr", "dpp"])
        if self.item_vectors_ is None:
            raise ValueError(
                f"reranker: the fitted log has no {list(self.diversity_features)} column(s) to "
                "measure item similarity with; refit with them or set diversity_features."
            )

        knob = {"lambda_": trade_off} if reranker == "mmr" else {"theta": trade_off, "ridge": self.dpp_ridge}
        return rerank(cands, self.item_vectors_, method=reranker, n=n, kind="features", **knob)

    def recommend(self, user_ids: Iterable | None = None) -> pd.DataFrame:
        """The recommendation lists: ``user_id, item_id, score, rank`` (rank 1 first).

        ``user_ids`` default to every user of the fitted log; users must appear in it.
        """
        return self.rank(self.score_candidates(user_ids))


# ---------------------------------------------------------------------------
# Ground truth of a simulated shop, for measuring lists
# ---------------------------------------------------------------------------
class ShopTruth:
    """Ground-truth click and purchase probabilities of any (user, item) pair of a simulated shop.

    A view, with frames in and out, over the probability model that
    :func:`mtrec_lib.data.simulate_shop` drew its log from (``shop.world``, a
    :class:`mtrec_lib.data.simulate.ShopWorld`). A recommendation list shows pairs that
    were mostly never logged; the world scores any pair, at any list position and on any
    device, with the very logits that generated the log.

    Parameters
    ----------
    shop : mtrec_lib.data.SimulatedLog
        The output of ``simulate_shop`` (its ``world``).

    Attributes
    ----------
    world : mtrec_lib.data.simulate.ShopWorld
        The shop's probability model.
    device_share_ : pandas.Series
        Share of impressions per device; :meth:`probabilities` averages over it by default.
    prices_ : pandas.Series
        Each item's price (index ``item_id``): :func:`list_quality` turns purchase
        probabilities into expected GMV with it.

    Examples
    --------
    >>> import mtrec_lib as mt, pandas as pd
    >>> shop = mt.data.simulate_shop(n_users=50, n_items=20, n_impressions=2_000, seed=0)
    >>> truth = ShopTruth(shop)
    >>> logged = shop.data.head(3)
    >>> p = truth.probabilities(logged, position=logged["position"], device=logged["device"])
    >>> bool(abs(p["p_click"] - shop.truth["p_click"].head(3)).max() < 1e-9)
    True
    """

    def __init__(self, shop: Any):
        if not isinstance(getattr(shop, "world", None), ShopWorld):
            raise ValueError(
                "ShopTruth: shop.world is not the probability model of a simulated shop; pass the "
                "output of mt.data.simulate_shop."
            )
        self._shop = shop
        self.world = shop.world
        self.device_share_ = self.world.device_share
        self.prices_ = self.world.prices

    @property
    def max_logit_error_(self) -> float:
        """Largest logit difference between :meth:`probabilities` and the logged truth.

        0 up to rounding: the simulator computed its truth through the same world. Kept
        for the notebooks that print it.
        """
        d, t = self._shop.data, self._shop.truth
        p = self.probabilities(d, position=d["position"], device=d["device"])
        cols = ["p_click", "p_purchase_given_click"]
        return float(np.abs(logit(p[cols].to_numpy()) - logit(t[cols].to_numpy())).max())

    def probabilities(self, pairs: pd.DataFrame, position: Any = 1, device: Any = None) -> pd.DataFrame:
        """True ``p_click``, ``p_purchase_given_click`` and ``p_purchase`` of each pair.

        Parameters
        ----------
        pairs : pandas.DataFrame
            ``user_id``, ``item_id`` of the simulated world.
        position : int or array-like, default 1
            List position(s) of the pairs (1 = top).
        device : str, array-like or None
            Device of each impression; ``None`` averages over the log's device mix
            (``p_click`` and ``p_purchase`` averaged, the conditional rate is their ratio).

        Returns
        -------
        pandas.DataFrame
            Index of ``pairs``.
        """
        check_frame(pairs, "pairs", required=[USER, ITEM], allow_empty=True)
        p = self.world.probabilities(pairs[USER].to_numpy(), pairs[ITEM].to_numpy(), position, device)
        return p.set_axis(pairs.index)

    def best_lists(
        self, user_ids: Iterable, n: int = 10, by: str = "p_purchase", exclude: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """The oracle's lists: each user's ``n`` items with the highest true ``by`` at position 1.

        ``exclude``: ``user_id, item_id`` pairs to leave out (e.g. items already clicked).
        Returns ``user_id, item_id, score, rank``, users in increasing id order.
        """
        check_choice(by, "by", ["p_click", "p_purchase", "p_purchase_given_click"])
        n = check_positive_int(n, "n")
        users = np.sort(pd.unique(np.asarray(list(user_ids))))
        items = self.prices_.index.to_numpy()
        grid = pd.DataFrame({USER: np.repeat(users, len(items)), ITEM: np.tile(items, len(users))})
        grid[SCORE] = self.probabilities(grid)[by].to_numpy()
        if exclude is not None:
            drop = (
                grid.merge(exclude[[USER, ITEM]].drop_duplicates(), on=[USER, ITEM], how="left", indicator=True)[
                    "_merge"
                ].to_numpy()
                == "both"
            )
            grid = grid.loc[~drop]
        return top_k_per_user(grid, SCORE, n).reset_index(drop=True)


def shown_lists(recs: pd.DataFrame, k: int) -> pd.DataFrame:
    """Each user's first ``k`` items as shown: ``recs`` ordered by rank with a 1-based ``position``.

    Rank *r* is shown at position *r* once gaps in the ranks are closed, so a list ranked
    1, 2, 5 fills positions 1, 2, 3. :func:`list_quality` and the simulated A/B test
    (:func:`mtrec_lib.experiment.simulate_ab_test`) both place lists this way.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [7, 8, 9], "rank": [5, 1, 2]})
    >>> shown_lists(recs, k=2)[["item_id", "position"]].values.tolist()
    [[8, 1], [9, 2]]
    """
    top = recs.sort_values(USER, kind="stable")  # users in increasing id order
    order, position, _ = rank_within_users(top[USER], -top[RANK].to_numpy(dtype=float))
    keep = position < k
    return top.iloc[order[keep]].assign(position=position[keep] + 1)


def list_quality(
    recs: pd.DataFrame,
    truth: ShopTruth | None = None,
    *,
    heldout: pd.DataFrame | None = None,
    item_features: pd.DataFrame | None = None,
    catalog: Iterable | pd.DataFrame | None = None,
    k: int = 10,
) -> dict[str, float]:
    """Quality of top-``k`` lists: ground truth, held-out behaviour, diversity, coverage.

    Parameters
    ----------
    recs : pandas.DataFrame
        ``user_id, item_id, rank``.
    truth : ShopTruth, optional
        Adds ``expected_clicks`` and ``expected_purchases``: per list (mean over users), the
        sum of the true probabilities of its items, each at its position in the list
        (rank *r* shown at position *r*), averaged over the device mix. If the truth knows
        the items' prices (a ``prices_`` Series indexed by ``item_id``, as
        :class:`ShopTruth` has), also ``expected_gmv``: per list, the sum of
        :math:`p_{\\text{purchase}} \\times \\text{price}` over its items (gross merchandise
        value, 成交总额), mean over users.
    heldout : pandas.DataFrame, optional
        Relevant ``user_id, item_id`` pairs of a later period (e.g. purchases): adds
        ``ndcg@k`` and ``hit@k`` (:mod:`mtrec_lib.metrics`).
    item_features : pandas.DataFrame, optional
        Item vectors (index ``item_id``): adds ``ild``, intra-list diversity.
    catalog : array-like or DataFrame, optional
        Items that could be recommended: adds ``coverage``.

    Returns
    -------
    dict
        The metrics that the given arguments allow, plus ``users``.

    Examples
    --------
    >>> import mtrec_lib as mt, pandas as pd
    >>> shop = mt.data.simulate_shop(n_users=50, n_items=20, n_impressions=2_000, seed=0)
    >>> truth = ShopTruth(shop)
    >>> recs = pd.DataFrame({"user_id": [0, 0], "item_id": [3, 4], "rank": [1, 2]})
    >>> q = list_quality(recs, truth, catalog=range(20))
    >>> p = truth.probabilities(recs, position=[1, 2])      # item 3 at the top, item 4 second
    >>> gmv = (p["p_purchase"] * truth.prices_.loc[[3, 4]].to_numpy()).sum()
    >>> bool(abs(q["expected_gmv"] - gmv) < 1e-12), q["coverage"]
    (True, 0.1)
    """
    from mtrec_lib import metrics

    k = check_positive_int(k, "k")
    check_frame(recs, "recs", required=[USER, ITEM, RANK], unique=[USER, ITEM])
    top = shown_lists(recs, k)
    out: dict[str, float] = {"users": int(top[USER].nunique())}
    if truth is not None:
        prices = getattr(truth, "prices_", None)
        if prices is not None:
            # Checked first: an item outside the simulated catalogue has no latent factors either.
            price = prices.reindex(top[ITEM].to_numpy()).to_numpy(dtype=float)
            if np.isnan(price).any():
                missing = top[ITEM].to_numpy()[np.isnan(price)].tolist()[0]
                raise ValueError(
                    f"recs: item_id {missing!r} has no price in truth.prices_; recommend items of "
                    "the simulated catalogue only."
                )
        p = truth.probabilities(top, position=top["position"].to_numpy())
        if prices is not None:
            p = p.assign(gmv=p["p_purchase"].to_numpy() * price)
        cols = ["p_click", "p_purchase", *(["gmv"] if prices is not None else [])]
        per_user = p.groupby(top[USER].to_numpy())[cols].sum()
        out["expected_clicks"] = float(per_user["p_click"].mean())
        out["expected_purchases"] = float(per_user["p_purchase"].mean())
        if prices is not None:
            out["expected_gmv"] = float(per_user["gmv"].mean())
    if heldout is not None:
        check_frame(heldout, "heldout", required=[USER, ITEM])
        # Only the users who got a list: a user without one would count as a miss.
        heldout = heldout.loc[heldout[USER].isin(top[USER].unique()), [USER, ITEM]].drop_duplicates()
        out[f"ndcg@{k}"] = metrics.ndcg_at_k(top, heldout, k=k)
        out[f"hit@{k}"] = metrics.hit_rate_at_k(top, heldout, k=k)
    if item_features is not None:
        out["ild"] = metrics.intra_list_diversity(top, item_features=item_features, k=k)
    if catalog is not None:
        out["coverage"] = metrics.catalog_coverage(top, catalog, k=k)
    return out


# ---------------------------------------------------------------------------
# Multi-objective fusion: sweeping the exponents, and the Pareto front
# ---------------------------------------------------------------------------
def pareto_front(points: pd.DataFrame, maximize: Sequence[str], *, minimize: Sequence[str] = ()) -> np.ndarray:
    """Boolean mask of the rows of ``points`` that no other row dominates (the Pareto front, 帕累托前沿).

    Row *q* dominates row *p* when *q* is at least as good as *p* on every objective and
    strictly better on at least one ("good" is higher for ``maximize`` columns, lower for
    ``minimize`` columns). The front is what is left: the settings where one objective can
    only be improved by giving up another.

    Parameters
    ----------
    points : pandas.DataFrame
        One row per candidate (e.g. a fusion setting), one numeric column per objective.
        Other columns are ignored.
    maximize : sequence of str
        Columns where higher is better.
    minimize : sequence of str, default ()
        Columns where lower is better (e.g. latency, an error rate).

    Returns
    -------
    numpy.ndarray of bool
        ``True`` for the rows on the front, in the row order of ``points``.

    Raises
    ------
    ValueError
        No objective given, an objective listed twice, a missing or non-numeric column, or
        a NaN (a missing value cannot be compared; drop or fill those rows).

    Notes
    -----
    *Ties and duplicates.* Two rows equal on every objective do not dominate each other
    (neither is strictly better anywhere), so both stay on the front if nothing else beats
    them; drop duplicates first to keep one. A row equal to another on some objectives and
    worse on one is dominated. An empty frame gives an empty mask and a single row is its
    own front. The comparison is exact: values that differ by rounding noise count as
    different.

    *Cost.* Every pair is compared, :math:`O(n^2 d)` time for ``n`` rows and ``d``
    objectives, in blocks of rows so that memory stays :math:`O(n d)` per block: fine for
    the few hundred settings of a weight grid.

    Examples
    --------
    >>> import pandas as pd
    >>> pts = pd.DataFrame({"clicks": [3.0, 2.0, 1.0, 2.0, 2.0],
    ...                     "purchases": [1.0, 2.0, 3.0, 1.0, 2.0]})
    >>> pareto_front(pts, ["clicks", "purchases"]).tolist()  # row 3 loses to rows 1 and 4; 1 and 4 tie
    [True, True, True, False, True]
    >>> pareto_front(pts, ["clicks"], minimize=["purchases"]).tolist()
    [True, False, False, False, False]
    """
    if isinstance(maximize, str) or isinstance(minimize, str):
        raise ValueError("maximize and minimize take lists of column names, e.g. maximize=['clicks'].")
    cols = [*maximize, *minimize]
    if not cols:
        raise ValueError("pareto_front: give at least one objective column in maximize (or minimize).")
    if len(set(cols)) < len(cols):
        dup = next(c for c in cols if cols.count(c) > 1)
        raise ValueError(
            f"pareto_front: objective {dup!r} is listed more than once; name each column once, "
            "in maximize or in minimize."
        )
    check_frame(points, "points", numeric=cols, allow_empty=True)
    # Flip the minimised columns so that "higher is better" holds everywhere.
    x = (
        np.column_stack([points[c].to_numpy(dtype=float) * (1.0 if c in maximize else -1.0) for c in cols])
        if len(points)
        else np.zeros((0, len(cols)))
    )
    dominated = np.zeros(len(x), dtype=bool)
    block = 256
    for start in range(0, len(x), block):
        p = x[start : start + block, None, :]  # (b, 1, d): the rows being tested
        at_least = (x[None, :, :] >= p).all(axis=2)  # (b, n): row q is >= p everywhere
        better = (x[None, :, :] > p).any(axis=2)  # (b, n): and > p somewhere
        dominated[start : start + block] = (at_least & better).any(axis=1)
    return ~dominated


def fusion_sweep(
    scored: pd.DataFrame,
    weights: Iterable[Mapping[str, float]],
    truth: ShopTruth | None = None,
    k: int = 10,
    *,
    item_features: pd.DataFrame | None = None,
    catalog: Iterable | pd.DataFrame | None = None,
    reranker: str | None = None,
    trade_off: float = 0.7,
) -> pd.DataFrame:
    """Top-``k`` lists of every fusion setting in ``weights``, each measured by :func:`list_quality`.

    For each setting :math:`w`, every candidate gets the fused score
    :math:`\\prod_c x_c^{w_c}` of its columns (:func:`fuse_scores`); each user's ``k``
    best candidates form the list (:func:`mtrec_lib.data.frames.top_k_per_user`, or a
    diversity re-ranker) and :func:`list_quality` measures it against ``truth``. The
    candidates and their predictions are computed once and only the ranking is redone, so a
    grid of a few hundred settings costs seconds.

    Parameters
    ----------
    scored : pandas.DataFrame
        One row per (user, candidate): ``user_id``, ``item_id`` and one column per name used
        in ``weights``, each a probability or another positive quantity in (0, 1] (e.g. the
        ``p_<task>`` columns of :meth:`RecommendationPipeline.score_candidates`, or a price
        divided by the largest price: the scale of a column does not change the order a
        product of powers gives, and :func:`fuse_scores` floors at 1e-12 and caps at 1).
    weights : iterable of dict
        The settings: column -> exponent >= 0, at least one positive per setting. Only the
        ratios of the exponents change the order, so ``{"p_click": 1, "p_purchase": 1}`` and
        ``{"p_click": 2, "p_purchase": 2}`` give the same lists.
    truth : ShopTruth, optional
        Ground truth for ``expected_clicks``, ``expected_purchases`` and ``expected_gmv``.
    k : int, default 10
        List length.
    item_features : pandas.DataFrame, optional
        Item vectors (index ``item_id``): adds ``ild``; needed by ``reranker``.
    catalog : array-like or DataFrame, optional
        Adds ``coverage``.
    reranker : {None, "mmr", "dpp"}, default None
        Diversity re-ranking of every user's candidates by the fused score
        (:func:`mtrec_lib.rerank.rerank` on ``item_features``); ``None`` keeps the fused order.
    trade_off : float in [0, 1], default 0.7
        MMR's ``lambda_`` or the DPP's ``theta`` (1 keeps the fused order).

    Returns
    -------
    pandas.DataFrame
        One row per setting, in the order given: ``w_<column>`` for every column named in any
        setting (0 where a setting leaves it out), then the metrics of :func:`list_quality`.

    Raises
    ------
    ValueError
        No setting, a setting that is not a non-empty dict, a weight column missing from
        ``scored`` (or not numeric, or NaN), repeated (user, item) rows, a negative
        exponent, a setting whose exponents are all 0, or a re-ranker without
        ``item_features``.

    Examples
    --------
    >>> import pandas as pd
    >>> scored = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [10, 11, 12],
    ...                        "p_click": [0.5, 0.2, 0.1], "p_purchase": [0.01, 0.04, 0.02]})
    >>> sweep = fusion_sweep(scored, [{"p_click": 1}, {"p_purchase": 1}], k=1, catalog=[10, 11, 12])
    >>> sweep
       w_p_click  w_p_purchase  users  coverage
    0        1.0           0.0      1  0.333333
    1        0.0           1.0      1  0.333333
    """
    from mtrec_lib.rerank import rerank

    settings = list(weights) if weights is not None else []
    if not settings:
        raise ValueError(
            "fusion_sweep: weights is empty; give a list of dicts {column: exponent}, "
            "e.g. [{'p_click': 1.0, 'p_purchase': 1.0}]."
        )
    for j, w in enumerate(settings):
        if not isinstance(w, Mapping) or not w:
            raise ValueError(f"fusion_sweep: weights[{j}] must be a non-empty dict {{column: exponent}}, got {w!r}.")
    columns = list(dict.fromkeys(c for w in settings for c in w))
    check_frame(scored, "scored", required=[USER, ITEM], numeric=columns, unique=[USER, ITEM])
    k = check_positive_int(k, "k")
    if reranker is not None:
        check_choice(reranker, "reranker", ["mmr", "dpp"])
        trade_off = check_number(trade_off, "trade_off", 0.0, 1.0)
        if item_features is None:
            raise ValueError(
                f"fusion_sweep: reranker={reranker!r} needs item_features (item vectors, index "
                "item_id) to measure how alike two items are."
            )
    pairs = scored[[USER, ITEM]].reset_index(drop=True)
    rows = []
    for w in settings:
        score = fuse_scores(scored[list(w)], w)  # validates every exponent
        if reranker is None:
            lists = top_k_per_user(pairs, score, k)
        else:
            knob = {"lambda_": trade_off} if reranker == "mmr" else {"theta": trade_off}
            lists = rerank(pairs.assign(**{SCORE: score}), item_features, method=reranker, n=k, kind="features", **knob)
        quality = list_quality(lists, truth, item_features=item_features, catalog=catalog, k=k)
        rows.append({**{f"w_{c}": float(w.get(c, 0.0)) for c in columns}, **quality})
    return pd.DataFrame(rows)
