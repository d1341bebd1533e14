"""Collaborative filtering (协同过滤): neighbourhood models, matrix factorisation, top-N models.

Two families, as in chapter 3 of the book:

Rating prediction (``fit(train)`` then ``predict(df)`` -> one predicted rating per row)
    :class:`UserKNN` and :class:`ItemKNN` reproduce Surprise's ``KNNBasic`` and
    ``KNNWithMeans`` (``centered=True``) definition for definition, including the
    similarity formulas, ``min_support``, the choice of the *k* most similar neighbours
    among those who rated the item (ties broken, as in Surprise, by the order in which
    the training rows list those neighbours), the positive-similarity filter, clipping
    and the fallbacks; :class:`BiasedMF` is a biased matrix factorisation trained by
    alternating least squares.

Top-N recommendation (``fit(train)`` then ``recommend(user_ids, n)`` -> a ranked frame)
    :class:`Popularity`, :class:`ItemTopN` (Deshpande & Karypis, "Item-Based Top-N
    Recommendation Algorithms", ACM TOIS 2004) and :class:`EASE` (Steck, WWW 2019).
    The rating models have ``recommend`` too: :class:`ItemKNN` and :class:`UserKNN` rank
    with a binary-cosine neighbourhood (``topn_similarity``), :class:`BiasedMF` by
    predicted rating (weak for top-N, shown in the benchmarks for that reason).

To read how a k-NN prediction is made, read :func:`knn_estimate`: one (user, item) pair
in plain NumPy. ``UserKNN(algorithm="loop")`` predicts with it, one row at a time. The
default ``algorithm="fast"`` computes the same numbers (tested equal to 1e-10) for all
rows at once with vectorised NumPy on ``scipy.sparse`` data: it lays every query's
candidate neighbours out in padded blocks and cuts the top k of all queries at once.

Fallbacks at predict time (never an exception for an id unseen at fit time, but one
``UserWarning`` per call that counts the rows concerned):

* unknown user or unknown item: the global mean of the training ratings (Surprise's
  ``default_prediction``); :class:`BiasedMF` keeps the known half of its baseline,
  e.g. ``mu + b_i`` for a new user;
* known pair, but no neighbour with positive similarity among the *k* nearest:
  the global mean for ``centered=False`` (Surprise ``KNNBasic`` raises
  ``PredictionImpossible`` and predicts the global mean), the mean rating of the user
  (``UserKNN``) or of the item (``ItemKNN``) for ``centered=True`` (as ``KNNWithMeans``);
* every prediction is clipped to ``rating_scale``.

In :meth:`recommend`, a user unseen at fit time gets the most popular items. Ids of
another type than at fit time (``"12"`` asked, ``12`` fitted) are an error, not a
silent fallback.

Examples
--------
>>> import pandas as pd
>>> import mtrec_lib as mt
>>> train = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 20, 10, 20, 10],
...                       "rating": [5.0, 3.0, 4.0, 2.0, 5.0]})
>>> knn = mt.cf.UserKNN(k=2, similarity="msd").fit(train)
>>> knn.predict(pd.DataFrame({"user_id": [3], "item_id": [20]})).round(3)
array([2.667])
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from mtrec_lib.data.frames import ITEM, RANK, RATING, SCORE, USER, rank_within_users
from mtrec_lib.data.validate import check_choice, check_frame, check_number, check_positive_int

__all__ = [
    "similarity_matrix",
    "knn_estimate",
    "UserKNN",
    "ItemKNN",
    "BiasedMF",
    "Popularity",
    "ItemTopN",
    "EASE",
    "topk_item_similarity",
]

RATING_SIMILARITIES = ("msd", "cosine", "pearson", "pearson_baseline")


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------
def _check_ratings(df: pd.DataFrame, name: str) -> None:
    check_frame(df, name, required=[USER, ITEM], numeric=[RATING], unique=[USER, ITEM])


def _check_interactions(df: pd.DataFrame, name: str) -> None:
    check_frame(df, name, required=[USER, ITEM])


class _Encoded:
    """Integer codes of a training frame: ids -> 0..n-1 in order of first appearance."""

    def __init__(self, df: pd.DataFrame, with_rating: bool):
        self.users = pd.Index(pd.unique(df[USER]))
        self.items = pd.Index(pd.unique(df[ITEM]))
        self.u = self.users.get_indexer(df[USER]).astype(np.int64)
        self.i = self.items.get_indexer(df[ITEM]).astype(np.int64)
        self.r = df[RATING].to_numpy(dtype=float) if with_rating else np.ones(len(df))

    def matrix(self, values: np.ndarray | None = None, item_rows: bool = False) -> sp.csr_matrix:
        """users x items (or items x users) CSR matrix of ``values`` (ratings by default)."""
        v = self.r if values is None else values
        rows, cols = (self.i, self.u) if item_rows else (self.u, self.i)
        shape = (len(self.items), len(self.users)) if item_rows else (len(self.users), len(self.items))
        m = sp.csr_matrix((v, (rows, cols)), shape=shape)
        m.sum_duplicates()
        return m


def _binary(m: sp.spmatrix) -> sp.csr_matrix:
    b = sp.csr_matrix(m, copy=True)
    b.data[:] = 1.0
    return b


def _codes(fitted: pd.Index, asked, where: str, what: str, fix: str) -> np.ndarray:
    """Positions of the ``asked`` ids in the ``fitted`` ones (-1: unseen at fit time).

    When none of the ids is known but some would be after a ``str``/number conversion,
    the caller passed ids of another type than at fit time (``"12"`` for ``12``): every
    row would silently get a fallback, so this raises a ``ValueError`` instead. ``fix``
    is the conversion to suggest, with ``{dtype}`` for the fitted dtype.
    """
    codes = fitted.get_indexer(asked)
    if len(codes) == 0 or (codes >= 0).any():
        return codes
    asked = pd.Index(asked)
    numeric = pd.api.types.is_numeric_dtype
    if numeric(fitted.dtype) and not numeric(asked.dtype):
        converted = pd.to_numeric(asked, errors="coerce")
    elif numeric(asked.dtype) and not numeric(fitted.dtype):
        converted = asked.astype(str)
    else:
        return codes
    matches = int((fitted.get_indexer(converted) >= 0).sum())
    if matches:
        raise ValueError(
            f"{where}: {what} has dtype {asked.dtype} but the model was fitted on {fitted.dtype} ids, so none of "
            f"the {len(asked)} ids is known ({matches} would match after conversion). Convert them first: "
            + fix.format(dtype=str(fitted.dtype))
        )
    return codes


def _padded_rows(starts: np.ndarray, lengths: np.ndarray, growth: float = 1.25, max_entries: int = 2_000_000):
    """Yield ``(rows, pos, valid)`` for blocks of non-empty ragged rows of similar length.

    Row r covers positions ``starts[r] .. starts[r] + lengths[r] - 1`` of some flat array.
    A block pads its rows to its longest: ``pos`` (rows x width) are the positions (padding
    repeats a row's last one), ``valid`` masks the real ones. Grouping rows whose lengths
    differ by less than ``growth`` wastes at most ``growth - 1`` of the memory, and blocks
    hold at most ``max_entries`` positions.
    """
    rows = np.flatnonzero(lengths > 0)
    cls = np.floor(np.log(lengths[rows]) / np.log(growth)).astype(np.int64)
    order = rows[np.argsort(cls, kind="stable")]
    for group in np.split(order, np.flatnonzero(np.diff(np.sort(cls, kind="stable"))) + 1):
        if len(group) == 0:
            continue
        step = max(1, max_entries // int(lengths[group].max()))
        for start in range(0, len(group), step):
            block = group[start : start + step]
            n = lengths[block]
            col = np.arange(int(n.max()))[None, :]
            yield block, starts[block][:, None] + np.minimum(col, (n - 1)[:, None]), col < n[:, None]


def _topk_mask(s: np.ndarray, k: int) -> np.ndarray:
    """Mask of the k largest entries of each row of ``s`` (-inf = padding); ties: leftmost first.

    ``np.partition`` finds each row's k-th largest value in linear time; all entries above
    it are kept, and of those equal to it only the leftmost ones that still fit, which is
    how ``heapq.nlargest`` (Surprise) and a stable sort break ties.
    """
    width = s.shape[1]
    if width <= k:
        return s > -np.inf
    kth = np.partition(s, width - k, axis=1)[:, [width - k]]
    above = s > kth
    tied = s == kth
    room = k - above.sum(axis=1, keepdims=True)
    return above | (tied & (np.cumsum(tied, axis=1) <= room))


def baseline_als(
    x: np.ndarray,
    y: np.ndarray,
    r: np.ndarray,
    n_x: int,
    n_y: int,
    reg_x: float = 15.0,
    reg_y: float = 10.0,
    n_epochs: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Baselines ``b_x, b_y`` of ``r ~ mu + b_x + b_y`` by Surprise's ALS (``bsl_options`` defaults).

    Each epoch sets every ``b_y`` to its regularised mean residual, then every ``b_x``
    (Koren 2010, section 2.1), vectorised with ``np.bincount``.
    """
    mu = r.mean()
    bx, by = np.zeros(n_x), np.zeros(n_y)
    cnt_x, cnt_y = np.bincount(x, minlength=n_x), np.bincount(y, minlength=n_y)
    for _ in range(n_epochs):
        by = np.bincount(y, r - mu - bx[x], minlength=n_y) / (reg_y + cnt_y)
        bx = np.bincount(x, r - mu - by[y], minlength=n_x) / (reg_x + cnt_x)
    return bx, by


def _rating_similarity(
    m: sp.csr_matrix, kind: str, min_support: int, shrinkage: float = 100.0, residual: sp.csr_matrix | None = None
) -> np.ndarray:
    """Similarity between the rows of ``m`` over their common columns, as Surprise defines it.

    Every sum runs over the columns both rows have rated (``freq`` of them); a pair with
    ``freq < min_support`` gets similarity 0, so does a zero denominator; the diagonal is 1.
    """
    b = _binary(m)
    if kind == "pearson_baseline":
        # Pearson of the baseline residuals r - (mu + b_x + b_y), shrunk towards 0 when
        # the support is small; Surprise forces min_support >= 2 here.
        min_support = max(2, min_support)
        m = residual
    sq = m.multiply(m).tocsr()
    # Sparse products sum over the co-rated columns only: freq[u, v] counts them, sqi[u, v]
    # sums r_u^2 over them (BLAS on dense copies was no faster at MovieLens sizes).
    freq, prods, sqi = (b @ b.T).toarray(), (m @ m.T).toarray(), (sq @ b.T).toarray()
    valid = freq >= max(min_support, 1)
    if kind == "msd":
        # 1 / (msd + 1) with msd = sum (r_u - r_v)^2 / freq  ==  freq / (sum (r_u - r_v)^2 + freq)
        den = sqi + sqi.T
        prods *= 2.0
        den -= prods
        np.maximum(den, 0.0, out=den)
        den += freq
        num = freq
    elif kind == "pearson":
        si = (m @ b.T).toarray()  # si[u, v]: sum of r_u over co-rated
        num = freq * prods
        num -= si * si.T
        var = freq * sqi
        var -= si**2
        np.maximum(var, 0.0, out=var)
        den = np.sqrt(var * var.T)
    else:  # cosine, pearson_baseline
        num = prods
        den = np.sqrt(sqi * sqi.T)
    sim = np.zeros_like(num)
    np.divide(num, den, out=sim, where=valid & (den > 0))
    if kind == "pearson_baseline":
        sim *= (freq - 1.0) / (freq - 1.0 + shrinkage)
    np.fill_diagonal(sim, 1.0)
    return sim


def similarity_matrix(
    ratings: pd.DataFrame,
    similarity: str = "cosine",
    user_based: bool = True,
    min_support: int = 1,
    shrinkage: float = 100.0,
) -> pd.DataFrame:
    """Pairwise user-user (or item-item) similarity over co-rated items, labelled by id.

    The definitions are Surprise's, with sums over the items both users rated:

    * ``"cosine"``: :math:`\\sum r_{ui} r_{vi} / \\sqrt{\\sum r_{ui}^2 \\sum r_{vi}^2}`;
    * ``"pearson"``: the Pearson correlation of the co-rated ratings (each user centred on
      its mean over the co-rated items);
    * ``"msd"``: :math:`1 / (\\mathrm{msd} + 1)`, msd the mean squared difference;
    * ``"pearson_baseline"``: Pearson of baseline residuals, shrunk by
      :math:`(n-1)/(n-1+\\text{shrinkage})`.

    Pairs with fewer than ``min_support`` co-rated items get 0; the diagonal is 1.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"user_id": ["a", "a", "b", "b"], "item_id": [1, 2, 1, 2],
    ...                   "rating": [5.0, 1.0, 4.0, 2.0]})
    >>> similarity_matrix(r, "pearson").loc["a", "b"]
    np.float64(1.0)
    """
    _check_ratings(ratings, "ratings")
    check_choice(similarity, "similarity", RATING_SIMILARITIES)
    enc = _Encoded(ratings, with_rating=True)
    sim = _fitted_similarity(enc, similarity, user_based, check_positive_int(min_support, "min_support", 0), shrinkage)
    labels = enc.users if user_based else enc.items
    return pd.DataFrame(sim, index=labels, columns=labels)


def _fitted_similarity(enc: _Encoded, kind: str, user_based: bool, min_support: int, shrinkage: float) -> np.ndarray:
    """Similarity of the training users (or items) of ``enc``; see :func:`similarity_matrix`."""
    residual = None
    if kind == "pearson_baseline":
        bu, bi = baseline_als(enc.u, enc.i, enc.r, len(enc.users), len(enc.items))
        residual = enc.matrix(enc.r - enc.r.mean() - bu[enc.u] - bi[enc.i], item_rows=not user_based)
    return _rating_similarity(enc.matrix(item_rows=not user_based), kind, min_support, shrinkage, residual)


# ---------------------------------------------------------------------------
# k-NN prediction: the readable path and its vectorised twin
# ---------------------------------------------------------------------------
def knn_estimate(
    similarities: np.ndarray,
    ratings: np.ndarray,
    k: int = 40,
    *,
    neighbour_means: np.ndarray | None = None,
    own_mean: float = 0.0,
    min_k: int = 1,
) -> float:
    """One k-NN rating prediction from the neighbours who rated the item, in plain NumPy.

    This is the prediction of :class:`UserKNN` (and, with users and items swapped, of
    :class:`ItemKNN`) for one user *u* and item *i*, written to be read:

    1. the candidates are the users who rated *i* (``ratings``), with their similarity
       to *u* (``similarities``);
    2. keep the ``k`` most similar; of equal similarities, the candidate listed first
       (Surprise's ``heapq.nlargest`` does the same);
    3. of those, only positive similarities vote;
    4. predict their similarity-weighted mean rating or, centred
       (``neighbour_means`` given), *u*'s own mean plus the weighted mean of the
       neighbours' deviations from their means.

    Parameters
    ----------
    similarities : ndarray of shape (n_candidates,)
        Similarity of *u* to each candidate neighbour.
    ratings : ndarray of shape (n_candidates,)
        Each candidate's rating of *i*.
    k : int, default 40
        Maximum number of neighbours.
    neighbour_means : ndarray of shape (n_candidates,), optional
        Each candidate's mean rating: given, the prediction is centred.
    own_mean : float, default 0.0
        *u*'s mean rating (only used when centred).
    min_k : int, default 1
        Fewer voting neighbours than this: no prediction (NaN); the model then falls back.

    Returns
    -------
    float
        The predicted rating (not clipped), or NaN when fewer than ``min_k`` neighbours vote.

    Examples
    --------
    >>> import numpy as np
    >>> sims, ratings = np.array([0.9, 0.5, -0.2, 0.5]), np.array([4.0, 2.0, 1.0, 5.0])
    >>> knn_estimate(sims, ratings, k=2)            # 0.9 and the first 0.5: (0.9*4 + 0.5*2) / 1.4
    3.2857142857142856
    >>> knn_estimate(sims, ratings, k=2, neighbour_means=np.array([3.0, 3.0, 3.0, 3.0]), own_mean=4.0)
    4.285714285714286
    """
    top = np.argsort(-similarities, kind="stable")[:k]  # the k most similar; ties: listed first
    top = top[similarities[top] > 0]  # only positive similarities vote
    if len(top) < min_k:
        return np.nan
    w = similarities[top]
    if neighbour_means is None:
        return float(w @ ratings[top] / w.sum())
    return float(own_mean + w @ (ratings[top] - neighbour_means[top]) / w.sum())


def _knn_fast(
    sim: np.ndarray,
    cand_x: np.ndarray,
    cand_values: np.ndarray,
    y_ptr: np.ndarray,
    xq: np.ndarray,
    yq: np.ndarray,
    k: int,
    min_k: int,
) -> np.ndarray:
    """:func:`knn_estimate` for all queries ``(xq, yq)`` at once, without a Python loop per query.

    The candidates of y are ``cand_x[y_ptr[y]:y_ptr[y + 1]]`` (in training-row order), with
    values ``cand_values`` (ratings, or deviations from the means when centred). Queries with
    similar candidate counts are laid out as one padded 2-D block (:func:`_padded_rows`),
    whose rows :func:`_topk_mask` cuts to the k most similar, ties going to the earlier-listed
    candidate as in :func:`knn_estimate`. Memory stays bounded by the block size. Returns the
    weighted mean of the values, NaN where fewer than ``min_k`` neighbours vote.
    """
    sim_flat, width = sim.ravel(), sim.shape[1]
    num, den, cnt = np.zeros(len(xq)), np.zeros(len(xq)), np.zeros(len(xq))
    for q, pos, valid in _padded_rows(y_ptr[yq], np.diff(y_ptr)[yq]):
        # One flat gather (faster than 2-D fancy indexing) of sim[x_query, x_candidate].
        s = np.take(sim_flat, xq[q][:, None] * width + cand_x[pos])
        s[~valid] = -np.inf
        w = np.where(_topk_mask(s, k) & (s > 0), s, 0.0)  # positive neighbours only
        num[q] = (w * cand_values[pos]).sum(axis=1)
        den[q] = w.sum(axis=1)
        cnt[q] = (w > 0).sum(axis=1)
    ok = (cnt >= min_k) & (den > 0)
    return np.divide(num, den, out=np.full(len(xq), np.nan), where=ok)


# ---------------------------------------------------------------------------
# What every model shares: fitted check, id lookup, recommend and score_items
# ---------------------------------------------------------------------------
class _TopN:
    """``recommend``/``score_items`` for models that define ``_score(user_codes) -> (len, n_items)``."""

    _fitted_attr = "seen_"  # set last by fit

    def _fit_topn(self, enc: _Encoded) -> None:
        self.user_ids_, self.item_ids_ = enc.users, enc.items
        self.seen_ = _binary(enc.matrix())  # users x items, 1 where the user interacted
        self.popularity_ = np.asarray(self.seen_.sum(axis=0)).ravel()

    def _check_fitted(self) -> None:
        if not hasattr(self, self._fitted_attr):
            name = type(self).__name__
            raise NotFittedError(f"{name} is not fitted yet; call fit first, e.g. {name}().fit(train).")

    def _pair_codes(self, df: pd.DataFrame, fallback: str) -> tuple[np.ndarray, np.ndarray]:
        """User and item codes of ``df``'s rows (-1: unseen), with one warning counting the unseen."""
        self._check_fitted()
        where = f"{type(self).__name__}.predict(df)"
        check_frame(df, where, required=[USER, ITEM], allow_empty=True)
        codes, unseen = [], []
        for ids, col, a, noun in ((self.user_ids_, USER, "a", "user"), (self.item_ids_, ITEM, "an", "item")):
            c = _codes(ids, df[col], where, f"column {col!r}", f"df[{col!r}] = df[{col!r}].astype({{dtype!r}}).")
            codes.append(c)
            if (c < 0).any():
                n = df[col][c < 0].nunique()
                unseen.append(
                    f"{(c < 0).sum()} of {len(df)} rows have {a} {col} not seen in fit "
                    f"({n} {noun}{'s' if n > 1 else ''})"
                )
        if unseen:  # one warning per call, whatever the number of rows
            warnings.warn(f"{where}: {' and '.join(unseen)}; they get {fallback}.", UserWarning, stacklevel=3)
        return codes[0], codes[1]

    def _users(self, user_ids, where: str) -> tuple[pd.Index, np.ndarray]:
        """The distinct users asked for (all fitted users if None) and their codes (-1: unseen)."""
        self._check_fitted()
        if user_ids is None:
            return self.user_ids_, np.arange(len(self.user_ids_))
        if isinstance(user_ids, pd.DataFrame):
            raise TypeError(f"{where}: user_ids is a DataFrame; pass its user column, e.g. df['user_id'].unique().")
        # One id (a str is iterable, but "u12" is one user, not 'u', '1', '2').
        if isinstance(user_ids, (str, bytes)) or not isinstance(user_ids, Iterable):
            user_ids = [user_ids]
        if not isinstance(user_ids, (np.ndarray, pd.Series, pd.Index)):
            user_ids = list(user_ids)
        if np.ndim(user_ids) != 1:
            raise ValueError(
                f"{where}: user_ids must be one id or a 1-D list of ids, got shape "
                f"{np.shape(user_ids)}. Flatten it, e.g. np.ravel(user_ids)."
            )
        users = pd.Index(user_ids).unique()
        fix = "pd.Index(user_ids).astype({dtype!r})."
        return users, _codes(self.user_ids_, users, where, "user_ids", fix)

    def _user_scores(self, codes: np.ndarray) -> np.ndarray:
        """Scores of every item for users ``codes``; an unseen user (-1) gets the item popularity."""
        scores = np.empty((len(codes), len(self.item_ids_)))
        known = codes >= 0
        if known.any():
            scores[known] = self._score(codes[known])
        scores[~known] = self.popularity_
        return scores

    def recommend(
        self, user_ids: Iterable | None = None, n: int = 10, exclude_seen: bool = True, batch_size: int = 2048
    ) -> pd.DataFrame:
        """Top-``n`` items per user, highest score first.

        Parameters
        ----------
        user_ids : id or array-like of ids, optional
            Users to recommend for (one id such as ``"u12"`` or ``5`` means one user);
            default every user seen at fit time. Users unseen at fit time get the most
            popular items.
        n : int, default 10
            List length (shorter if fewer unseen items remain).
        exclude_seen : bool, default True
            Leave out items the user interacted with in the training data.
        batch_size : int, default 2048
            Users scored at once; bounds memory at ``batch_size * n_items`` floats.

        Returns
        -------
        pandas.DataFrame
            Columns ``user_id``, ``item_id``, ``score``, ``rank`` (1-based), sorted by user
            in the order given and then by rank; equal scores by the model's item order.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the model is not fitted.
        ValueError
            If no asked user is known but some are after a type conversion (``"5"`` for ``5``).
        """
        users, codes = self._users(user_ids, "recommend")
        n = check_positive_int(n, "n")
        parts = []
        for start in range(0, max(len(codes), 1), batch_size):  # one empty batch for no users
            c = codes[start : start + batch_size]
            scores = self._user_scores(c)
            if exclude_seen:
                known = np.flatnonzero(c >= 0)
                seen = self.seen_[c[known]]
                scores[np.repeat(known, np.diff(seen.indptr)), seen.indices] = -np.inf
            # Candidates: every finite score at or above its row's n-th largest (found in
            # linear time), then the library's one per-user ranking orders them.
            width = scores.shape[1]
            cut = np.partition(scores, width - n, axis=1)[:, width - n] if n < width else np.full(len(c), -np.inf)
            rows, cols = np.nonzero((scores >= cut[:, None]) & np.isfinite(scores))
            order, position, _ = rank_within_users(rows, scores[rows, cols])
            top = order[position < n]
            parts.append(
                pd.DataFrame(
                    {
                        USER: users[start + rows[top]],
                        ITEM: self.item_ids_[cols[top]],
                        SCORE: scores[rows[top], cols[top]],
                        RANK: position[position < n] + 1,
                    }
                )
            )
        return pd.concat(parts, ignore_index=True)

    def score_items(self, user_ids: Iterable | None = None) -> pd.DataFrame:
        """The score ``recommend`` ranks by, for every item of the training catalogue.

        Use it to evaluate a ranking beyond the top ``n``, e.g. the rank of a held-out item
        among all items or among sampled ones (:func:`mtrec_lib.metrics.heldout_ranks`).
        Seen items are *not* masked: every (user, item) gets the model's score.

        Parameters
        ----------
        user_ids : id or array-like of ids, optional
            Users to score (one id means one user), duplicates dropped; default every user
            seen at fit time. A user unseen at fit time gets the item popularity (training
            users per item), as in ``recommend``.

        Returns
        -------
        pandas.DataFrame
            Index ``user_id`` (in the order given), one column per item (``item_id``, in
            the model's item order), float scores, higher = recommended first. Memory is
            ``len(user_ids) * n_items`` floats.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the model is not fitted.
        ValueError
            If no asked user is known but some are after a type conversion (``"5"`` for ``5``).

        Examples
        --------
        >>> import pandas as pd
        >>> train = pd.DataFrame({"user_id": [1, 2, 2, 3], "item_id": [10, 10, 20, 30]})
        >>> scores = Popularity().fit(train).score_items([1, 99])   # 99: unseen, gets popularity
        >>> scores.shape, scores.columns.tolist(), scores.loc[99].tolist()
        ((2, 3), [10, 20, 30], [2.0, 1.0, 1.0])
        """
        users, codes = self._users(user_ids, "score_items")
        return pd.DataFrame(
            self._user_scores(codes), index=pd.Index(users, name=USER), columns=pd.Index(self.item_ids_, name=ITEM)
        )


# ---------------------------------------------------------------------------
# k-NN rating prediction
# ---------------------------------------------------------------------------
class _KNN(_TopN, BaseEstimator):
    _user_based = True
    _fitted_attr = "similarity_"

    def __init__(
        self,
        k: int = 40,
        similarity: str = "msd",
        min_support: int = 1,
        min_k: int = 1,
        centered: bool = False,
        shrinkage: float = 100.0,
        rating_scale: tuple[float, float] | None = None,
        topn_similarity: str = "cosine",
        algorithm: str = "fast",
    ):
        self.k = k
        self.similarity = similarity
        self.min_support = min_support
        self.min_k = min_k
        self.centered = centered
        self.shrinkage = shrinkage
        self.rating_scale = rating_scale
        self.topn_similarity = topn_similarity
        self.algorithm = algorithm

    def fit(self, train: pd.DataFrame):
        """Learn means and the similarity matrix from ``train`` (``user_id``, ``item_id``, ``rating``).

        Returns
        -------
        self
        """
        _check_ratings(train, "train")
        check_positive_int(self.k, "k")
        check_positive_int(self.min_k, "min_k")
        check_positive_int(self.min_support, "min_support", 0)
        check_choice(self.similarity, "similarity", RATING_SIMILARITIES)
        check_choice(self.algorithm, "algorithm", ["fast", "loop"])
        enc = _Encoded(train, with_rating=True)
        # x: the entity whose neighbours we use (users for UserKNN), y: the other one.
        x, y = (enc.u, enc.i) if self._user_based else (enc.i, enc.u)
        n_x, n_y = (len(enc.users), len(enc.items)) if self._user_based else (len(enc.items), len(enc.users))
        self.global_mean_ = float(enc.r.mean())
        self.rating_scale_ = tuple(self.rating_scale) if self.rating_scale is not None else (enc.r.min(), enc.r.max())
        self.means_ = np.bincount(x, enc.r, minlength=n_x) / np.bincount(x, minlength=n_x)
        # Candidate neighbours of each y in training-row order: Surprise's trainset lists
        # (ir / ur) keep that order, and heapq.nlargest breaks similarity ties by it.
        order = np.argsort(y, kind="stable")
        self._cand_x, self._cand_r = x[order], enc.r[order]
        self._y_ptr = np.r_[0, np.cumsum(np.bincount(y, minlength=n_y))]
        self._topn_matrix = None
        self._fit_topn(enc)
        self.similarity_ = _fitted_similarity(enc, self.similarity, self._user_based, self.min_support, self.shrinkage)
        return self

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Predicted rating for every row of ``df`` (``user_id``, ``item_id``), in row order.

        With ``algorithm="loop"`` every known (user, item) row is one call of
        :func:`knn_estimate`; the default ``"fast"`` computes the same numbers for all rows
        at once. Rows with an id unseen at fit time get the global mean (one ``UserWarning``
        per call counts them).

        Returns
        -------
        numpy.ndarray of float, shape (len(df),)

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the model is not fitted.
        ValueError
            If a column is missing, or holds ids of another type than at fit time.
        """
        self._check_fitted()  # before the message below reads global_mean_
        u, i = self._pair_codes(df, f"the global mean ({self.global_mean_:.4g})")
        known = (u >= 0) & (i >= 0)
        xq, yq = (u[known], i[known]) if self._user_based else (i[known], u[known])
        if self.algorithm == "loop":
            pred = np.array([self._estimate_one(a, b) for a, b in zip(xq, yq)], dtype=float)
        else:
            values = self._cand_r - self.means_[self._cand_x] if self.centered else self._cand_r
            pred = _knn_fast(self.similarity_, self._cand_x, values, self._y_ptr, xq, yq, self.k, self.min_k)
            if self.centered:
                pred += self.means_[xq]
        # No usable neighbour: the global mean, or (centred) the mean of x itself.
        fallback = self.means_[xq] if self.centered else self.global_mean_
        est = np.full(len(df), self.global_mean_)
        est[known] = np.where(np.isnan(pred), fallback, pred)
        return np.clip(est, *self.rating_scale_)

    def _estimate_one(self, x: int, y: int) -> float:
        """:func:`knn_estimate` for x (a user of UserKNN) and y, given as training codes."""
        rated = slice(self._y_ptr[y], self._y_ptr[y + 1])  # the x that rated y, training-row order
        neighbours = self._cand_x[rated]
        return knn_estimate(
            self.similarity_[x, neighbours],
            self._cand_r[rated],
            self.k,
            min_k=self.min_k,
            neighbour_means=self.means_[neighbours] if self.centered else None,
            own_mean=self.means_[x],
        )


class UserKNN(_KNN):
    """User-based k-nearest-neighbour rating prediction (Surprise ``KNNBasic`` / ``KNNWithMeans``).

    .. math::
        \\hat r_{ui} = \\frac{\\sum_{v \\in N_i^k(u)} \\mathrm{sim}(u, v)\\, r_{vi}}
                            {\\sum_{v \\in N_i^k(u)} \\mathrm{sim}(u, v)}
        \\quad\\text{or, centred,}\\quad
        \\hat r_{ui} = \\mu_u + \\frac{\\sum_{v} \\mathrm{sim}(u, v)\\,(r_{vi} - \\mu_v)}
                                    {\\sum_{v} \\mathrm{sim}(u, v)}

    where :math:`N_i^k(u)` are the ``k`` users most similar to *u* among those who rated
    *i*, of which only those with positive similarity are used (read :func:`knn_estimate`).

    Parameters
    ----------
    k : int, default 40
        Maximum number of neighbours.
    similarity : {"msd", "cosine", "pearson", "pearson_baseline"}, default "msd"
        See :func:`similarity_matrix`.
    min_support : int, default 1
        Minimum number of co-rated items for a non-zero similarity.
    min_k : int, default 1
        Fewer usable neighbours than this: fall back (global mean, or user mean if centred).
    centered : bool, default False
        Predict deviations from each user's mean (``KNNWithMeans``).
    shrinkage : float, default 100
        Only for ``"pearson_baseline"``.
    rating_scale : (float, float), optional
        Clip predictions to this range; default the min and max training rating.
    topn_similarity : {"cosine", "rating"}, default "cosine"
        Similarity that ``recommend`` ranks with: the cosine of the users' binary
        interaction rows, or the rating similarity fitted for ``predict`` (weak for
        ranking: users with few co-rated items look identical).
    algorithm : {"fast", "loop"}, default "fast"
        How ``predict`` computes: all rows at once (vectorised), or one :func:`knn_estimate`
        call per row (slow, to read and to check). Same numbers either way.

    Attributes
    ----------
    similarity_ : ndarray (n_users, n_users)
        Similarity between training users (order of ``user_ids_``).
    means_ : ndarray
        Mean rating of each user.
    global_mean_ : float

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 20, 10, 20, 10],
    ...                       "rating": [5.0, 3.0, 4.0, 2.0, 5.0]})
    >>> UserKNN(k=1, centered=True).fit(train).predict(
    ...     pd.DataFrame({"user_id": [3, 9], "item_id": [20, 20]})).round(3)
    array([4. , 3.8])
    """

    _user_based = True

    def _score(self, user_codes: np.ndarray) -> np.ndarray:
        # User-based top-N: votes of the k most similar users, weighted by similarity.
        if self._topn_matrix is None:
            check_choice(self.topn_similarity, "topn_similarity", ["cosine", "rating"])
            if self.topn_similarity == "rating":
                s = self.similarity_.copy()
            else:  # cosine of the binary "what did they rate" rows
                s = (self.seen_ @ self.seen_.T).toarray()
                norm = np.sqrt(np.diag(s)).copy()
                s /= norm[:, None] * norm[None, :]
            np.fill_diagonal(s, 0.0)
            self._topn_matrix = _prune_normalise(sp.csr_matrix(np.where(s > 0, s, 0.0)), self.k, False)
        return (self._topn_matrix[user_codes] @ self.seen_).toarray()


class ItemKNN(_KNN):
    """Item-based k-NN: rating prediction as Surprise (``user_based=False``) plus top-N lists.

    ``predict`` uses the *k* items most similar to the target among those the user rated
    (same formulas as :class:`UserKNN` with users and items swapped; the centred variant
    centres on item means).

    ``recommend`` follows Deshpande & Karypis (2004): each item keeps its ``k`` most
    similar items, each such row is normalised to sum 1, and an unseen item's score is
    the sum of the normalised similarities from the items the user has rated. Which
    similarity ranks is set by ``topn_similarity``: by default the paper's cosine of the
    binary "who rated it" columns (see :func:`topk_item_similarity`). ``"rating"`` uses
    the rating similarity fitted for ``predict`` instead; it is there to show why the
    paper does not: computed over co-rated users only, two obscure items with one common
    rater who gave both a 4 have cosine 1, and such pairs flood the top of every list.

    Parameters
    ----------
    k, similarity, min_support, min_k, centered, shrinkage, rating_scale, algorithm
        As in :class:`UserKNN` (``k`` is also the neighbourhood size of ``recommend``).
    topn_similarity : {"cosine", "conditional_probability", "rating"}, default "cosine"
        Item-item similarity used by ``recommend``.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 20, 10, 20, 10],
    ...                       "rating": [5.0, 3.0, 4.0, 2.0, 5.0]})
    >>> m = ItemKNN(k=5, similarity="cosine").fit(train)
    >>> m.recommend(3, n=1)[["user_id", "item_id", "rank"]].to_dict("records")
    [{'user_id': 3, 'item_id': 20, 'rank': 1}]
    """

    _user_based = False

    def _score(self, user_codes: np.ndarray) -> np.ndarray:
        if self._topn_matrix is None:
            check_choice(self.topn_similarity, "topn_similarity", ["cosine", "conditional_probability", "rating"])
            if self.topn_similarity == "rating":
                s = np.where(self.similarity_ > 0, self.similarity_, 0.0)
                np.fill_diagonal(s, 0.0)
                self._topn_matrix = _prune_normalise(sp.csr_matrix(s), self.k, True)
            else:
                self._topn_matrix = topk_item_similarity(self.seen_, self.k, self.topn_similarity)
        return (self.seen_[user_codes] @ self._topn_matrix).toarray()


# ---------------------------------------------------------------------------
# Matrix factorisation
# ---------------------------------------------------------------------------
class BiasedMF(_TopN, BaseEstimator):
    """Biased matrix factorisation :math:`\\hat r_{ui} = \\mu + b_u + b_i + p_u^\\top q_i` by ALS.

    The model is Surprise's ``SVD`` (Koren, Bell & Volinsky 2009); instead of stochastic
    gradient descent over single ratings it alternates exact ridge solves: with the item
    side fixed every user's ``(p_u, b_u)`` has a closed form, solved for all users at once,
    and vice versa. The penalty grows with activity, :math:`\\lambda n_u (|p_u|^2 + b_u^2)`
    (ALS-WR, Zhou et al. 2008), which needs little tuning across data sizes.

    Parameters
    ----------
    n_factors : int, default 10
        Length of the latent vectors.
    n_epochs : int, default 10
        ALS sweeps (users then items).
    reg : float, default 0.1
        Weight :math:`\\lambda` of the L2 penalty on factors, per rating.
    reg_bias : float, default 0.01
        Weight of the penalty on the biases, per rating.
    init_std : float, default 0.1
        Standard deviation of the initial item factors.
    rating_scale : (float, float), optional
        Clip predictions; default the training min and max.
    seed : int, default 0

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 20, 10, 20, 10],
    ...                       "rating": [5.0, 3.0, 4.0, 2.0, 5.0]})
    >>> mf = BiasedMF(n_factors=2, seed=0).fit(train)
    >>> mf.predict(train).shape
    (5,)
    """

    _fitted_attr = "user_factors_"

    def __init__(
        self,
        n_factors: int = 10,
        n_epochs: int = 10,
        reg: float = 0.1,
        reg_bias: float = 0.01,
        init_std: float = 0.1,
        rating_scale: tuple[float, float] | None = None,
        seed: int = 0,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.reg = reg
        self.reg_bias = reg_bias
        self.init_std = init_std
        self.rating_scale = rating_scale
        self.seed = seed

    def fit(self, train: pd.DataFrame):
        """Fit biases and factors on ``train`` (``user_id``, ``item_id``, ``rating``); returns self."""
        _check_ratings(train, "train")
        f = check_positive_int(self.n_factors, "n_factors")
        check_positive_int(self.n_epochs, "n_epochs")
        enc = _Encoded(train, with_rating=True)
        rng = np.random.default_rng(self.seed)
        n_u, n_i = len(enc.users), len(enc.items)
        mu = float(enc.r.mean())
        # Fixed sparsity patterns (users x items and items x users); each sweep only
        # refills their data with new residuals, in the patterns' storage order.
        by_user, ub = _pattern(enc.u, enc.i, n_u, n_i)
        by_item, ib = _pattern(enc.i, enc.u, n_i, n_u)
        cnt_u, cnt_i = np.diff(ub.indptr), np.diff(ib.indptr)
        # Penalties per row: factors get reg * n, the bias (last coordinate) reg_bias * n.
        pen = np.r_[np.full(f, self.reg), self.reg_bias]
        q = np.c_[rng.normal(0.0, self.init_std, (n_i, f)), np.zeros(n_i)]  # [q_i, b_i]
        p = np.zeros((n_u, f + 1))  # [p_u, b_u]
        for _ in range(self.n_epochs):
            # Users: features [q_i, 1], target r - mu - b_i; then items likewise.
            t = sp.csr_matrix(((enc.r - mu - q[enc.i, f])[by_user], ub.indices, ub.indptr), shape=ub.shape)
            p = _als_half_pen(ub, t, np.c_[q[:, :f], np.ones(n_i)], cnt_u, pen)
            t = sp.csr_matrix(((enc.r - mu - p[enc.u, f])[by_item], ib.indices, ib.indptr), shape=ib.shape)
            q = _als_half_pen(ib, t, np.c_[p[:, :f], np.ones(n_u)], cnt_i, pen)
        self._fit_topn(enc)
        self.global_mean_ = mu
        self.user_bias_, self.item_factors_, self.item_bias_ = p[:, f], q[:, :f], q[:, f]
        self.rating_scale_ = tuple(self.rating_scale) if self.rating_scale is not None else (enc.r.min(), enc.r.max())
        self.user_factors_ = p[:, :f]
        return self

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Predicted rating per row of ``df``; unknown users/items keep the known baseline terms.

        One ``UserWarning`` per call counts the rows with an id unseen at fit time.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the model is not fitted.
        ValueError
            If a column is missing, or holds ids of another type than at fit time.
        """
        u, i = self._pair_codes(df, "the known part of the baseline (mu + b_i, mu + b_u or mu)")
        ku, ki = u >= 0, i >= 0
        est = np.full(len(df), self.global_mean_)
        est[ku] += self.user_bias_[u[ku]]
        est[ki] += self.item_bias_[i[ki]]
        both = ku & ki
        est[both] += np.einsum("nf,nf->n", self.user_factors_[u[both]], self.item_factors_[i[both]])
        return np.clip(est, *self.rating_scale_)

    def _score(self, user_codes: np.ndarray) -> np.ndarray:
        return self.user_factors_[user_codes] @ self.item_factors_.T + self.item_bias_[None, :]


def _pattern(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> tuple[np.ndarray, sp.csr_matrix]:
    """Binary CSR matrix of (rows, cols) and the permutation from input order to its storage order."""
    perm = np.argsort(rows, kind="stable")
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=n_rows))]
    return perm, sp.csr_matrix((np.ones(len(perm)), cols[perm], indptr), shape=(n_rows, n_cols))


def _als_half_pen(
    rows: sp.csr_matrix, target: sp.csr_matrix, other: np.ndarray, counts: np.ndarray, pen: np.ndarray
) -> np.ndarray:
    """Ridge solution of every row at once: argmin_z sum_j (t_j - z.f_j)^2 + sum_c n pen_c z_c^2.

    ``rows`` is the binary pattern, ``target`` the residuals on the same pattern, ``other``
    the fixed features ``f_j`` (one row per column of the pattern), ``counts`` the number
    ``n`` of entries per row. All Gram matrices ``sum_j f_j f_j^T`` come from one
    sparse-dense product, then one batched solve.
    """
    d = other.shape[1]
    # Gram matrices are symmetric: accumulate the d(d+1)/2 upper entries only, then mirror.
    iu, ju = np.triu_indices(d)
    upper = np.asarray(rows @ (other[:, iu] * other[:, ju]))
    gram = np.empty((rows.shape[0], d, d))
    gram[:, iu, ju] = upper
    gram[:, ju, iu] = upper
    idx = np.arange(d)
    gram[:, idx, idx] += np.maximum(counts, 1)[:, None] * pen[None, :]
    rhs = np.asarray(target @ other)
    return np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]


# ---------------------------------------------------------------------------
# Top-N models on implicit feedback
# ---------------------------------------------------------------------------
class Popularity(_TopN, BaseEstimator):
    """Recommend the items with the most training users, the same list for everybody.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user_id": [1, 2, 2, 3], "item_id": [10, 10, 20, 30]})
    >>> Popularity().fit(train).recommend([1], n=2)["item_id"].tolist()
    [20, 30]
    """

    def fit(self, train: pd.DataFrame):
        """Count each item's distinct users in ``train`` (``user_id``, ``item_id``); returns self."""
        _check_interactions(train, "train")
        self._fit_topn(_Encoded(train.drop_duplicates([USER, ITEM]), with_rating=False))
        return self

    def _score(self, user_codes: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_.astype(float), (len(user_codes), len(self.popularity_)))


def _prune_normalise(s: sp.csr_matrix, k: int, normalise: bool, diag_offset: int | None = None) -> sp.csr_matrix:
    """Keep the k largest entries of every row (ties: lower column first), rows summing to 1.

    With ``diag_offset``, row r is global item ``r + diag_offset`` and its self-similarity
    (column ``r + diag_offset``) is dropped first.
    """
    s = sp.csr_matrix(s)
    s.sort_indices()
    if diag_offset is not None:
        rows = np.repeat(np.arange(s.shape[0]), np.diff(s.indptr))
        s.data[s.indices == rows + diag_offset] = 0.0
    s.eliminate_zeros()
    keep = np.zeros(s.nnz, dtype=bool)
    for _, pos, valid in _padded_rows(s.indptr[:-1], np.diff(s.indptr)):
        keep[pos[valid]] = _topk_mask(np.where(valid, s.data[pos], -np.inf), k)[valid]
    rows = np.repeat(np.arange(s.shape[0]), np.diff(s.indptr))[keep]
    out = sp.csr_matrix((s.data[keep], (rows, s.indices[keep])), shape=s.shape)
    if normalise:
        sums = np.asarray(out.sum(axis=1)).ravel()
        out = sp.diags(np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)) @ out
    return sp.csr_matrix(out)


def topk_item_similarity(
    interactions: sp.spmatrix,
    k: int = 20,
    similarity: str = "cosine",
    alpha: float = 0.5,
    row_normalize: bool = True,
    normalize: bool = True,
    block_entries: int = 2_000_000,
) -> sp.csr_matrix:
    """Sparse item-item model of Deshpande & Karypis (2004): top-k neighbours per item.

    Built block by block over items so that memory stays proportional to
    ``block_entries`` plus the pruned result (``n_items * k`` entries), never
    ``n_items ** 2``.

    Parameters
    ----------
    interactions : scipy.sparse matrix (n_users, n_items)
        Non-zero where a user interacted with an item (values are binarised).
    k : int, default 20
        Neighbours kept per item.
    similarity : {"cosine", "conditional_probability"}
        Cosine of the item columns, or
        :math:`\\mathrm{sim}(i, j) = \\sum_{q \\in U_i} \\tilde R_{qj} / (|U_i|\\,|U_j|^\\alpha)`,
        the paper's frequency-discounted conditional probability.
    alpha : float, default 0.5
        Popularity discount of the conditional probability.
    row_normalize : bool, default True
        Scale each user's row to unit length first, so that a user with many
        interactions weighs less in every co-occurrence (the paper's row normalisation).
    normalize : bool, default True
        Scale each item's k similarities to sum 1 (the paper's similarity normalisation).
    block_entries : int
        Bound on the co-occurrence entries computed per block.

    Returns
    -------
    scipy.sparse.csr_matrix (n_items, n_items)
        Row *i* holds the (normalised) similarities of item *i*'s neighbours; the
        score of item *j* for a user with binary history *x* is ``(x @ M)[j]``.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> x = sp.csr_matrix([[1, 1, 0], [1, 1, 0], [0, 1, 1]])
    >>> topk_item_similarity(x, k=1).toarray().round(2)
    array([[0., 1., 0.],
           [1., 0., 0.],
           [0., 1., 0.]])
    """
    check_choice(similarity, "similarity", ["cosine", "conditional_probability"])
    k = check_positive_int(k, "k")
    b = _binary(sp.csr_matrix(interactions))
    x = b
    if row_normalize:
        norms = np.sqrt(np.asarray(b.sum(axis=1)).ravel())
        x = sp.csr_matrix(sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ b)
    bt = sp.csr_matrix(b.T)  # items x users, binary
    xc = sp.csc_matrix(x)
    freq = np.asarray(b.sum(axis=0)).ravel()
    if similarity == "cosine":
        col_norm = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        left = right = np.divide(1.0, col_norm, out=np.zeros_like(col_norm), where=col_norm > 0)
        lhs = sp.csr_matrix(xc.T)  # items x users, (row-normalised) values
    else:
        left = np.divide(1.0, freq, out=np.zeros_like(freq), where=freq > 0)
        right = np.divide(1.0, freq**alpha, out=np.zeros_like(freq), where=freq > 0)
        lhs = bt
    # Cost of item i's row of co-occurrences: sum of the activity of its users.
    activity = np.asarray(b.sum(axis=1)).ravel()
    cost = bt @ activity
    n_items = b.shape[1]
    blocks, start = [], 0
    cum = np.cumsum(cost)
    while start < n_items:
        base = cum[start - 1] if start else 0.0
        stop = int(np.searchsorted(cum, base + block_entries, side="right"))
        stop = min(max(stop, start + 1), n_items)
        c = lhs[start:stop] @ x  # (block items) x items co-occurrence
        c = sp.csr_matrix(sp.diags(left[start:stop]) @ c @ sp.diags(right))
        # An item is not its own neighbour: drop (r, start + r), the block's diagonal.
        blocks.append(_prune_normalise(c, k, normalize, diag_offset=start))
        start = stop
    return sp.csr_matrix(sp.vstack(blocks))


class ItemTopN(_TopN, BaseEstimator):
    """Item-based top-N recommendation of Deshpande & Karypis (ACM TOIS 2004).

    1. similarity of every pair of items from who interacted with them
       (``"cosine"`` or ``"conditional_probability"``), after scaling each user's
       row to unit length;
    2. keep the ``k`` most similar items of each item, normalised to sum 1;
    3. score an item by summing its normalised similarities from the user's items;
       recommend the ``n`` best unseen items.

    Ratings, if present, are ignored: every (user, item) row is one interaction.

    Parameters
    ----------
    k : int, default 20
    similarity : {"cosine", "conditional_probability"}, default "cosine"
    alpha : float, default 0.5
        Popularity discount of the conditional probability.
    row_normalize, normalize : bool, default True
        See :func:`topk_item_similarity`.

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix (n_items, n_items)
        The pruned, normalised item-item model.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 20, 10, 20, 10]})
    >>> ItemTopN(k=5).fit(train).recommend([3], n=1)["item_id"].tolist()
    [20]
    """

    _fitted_attr = "similarity_"

    def __init__(
        self,
        k: int = 20,
        similarity: str = "cosine",
        alpha: float = 0.5,
        row_normalize: bool = True,
        normalize: bool = True,
    ):
        self.k = k
        self.similarity = similarity
        self.alpha = alpha
        self.row_normalize = row_normalize
        self.normalize = normalize

    def fit(self, train: pd.DataFrame):
        """Build the sparse top-k item model from ``train`` (``user_id``, ``item_id``); returns self."""
        _check_interactions(train, "train")
        enc = _Encoded(train.drop_duplicates([USER, ITEM]), with_rating=False)
        self._fit_topn(enc)
        self.similarity_ = topk_item_similarity(
            self.seen_, self.k, self.similarity, self.alpha, self.row_normalize, self.normalize
        )
        return self

    def _score(self, user_codes: np.ndarray) -> np.ndarray:
        return (self.seen_[user_codes] @ self.similarity_).toarray()


class EASE(_TopN, BaseEstimator):
    """Embarrassingly Shallow Autoencoder (Steck, WWW 2019): closed-form item-item regression.

    .. math:: B = \\arg\\min_B \\|X - XB\\|_F^2 + \\lambda\\|B\\|_F^2 \\ \\text{s.t. } \\operatorname{diag}(B) = 0,
       \\qquad P = (X^\\top X + \\lambda I)^{-1},\\ B_{ij} = -P_{ij} / P_{jj}

    ``X`` is the binary user-item matrix (ratings ignored). The item-item matrix is dense:
    memory grows with ``n_items ** 2`` (fine up to a few 10,000 items).

    Parameters
    ----------
    lam : float, default 500
        L2 regularisation :math:`\\lambda`.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 20, 10, 20, 10]})
    >>> EASE(lam=1.0).fit(train).recommend([3], n=1)["item_id"].tolist()
    [20]
    """

    _fitted_attr = "weights_"

    def __init__(self, lam: float = 500.0):
        self.lam = lam

    def fit(self, train: pd.DataFrame):
        """Solve for the item-item weights on ``train`` (``user_id``, ``item_id``); returns self."""
        _check_interactions(train, "train")
        check_number(self.lam, "lam", 0, low_open=True)
        enc = _Encoded(train.drop_duplicates([USER, ITEM]), with_rating=False)
        self._fit_topn(enc)
        g = (self.seen_.T @ self.seen_).toarray()
        g[np.diag_indices_from(g)] += self.lam
        p = np.linalg.inv(g)
        b = -p / np.diag(p)[None, :]
        np.fill_diagonal(b, 0.0)
        self.weights_ = b
        return self

    def _score(self, user_codes: np.ndarray) -> np.ndarray:
        return np.asarray(self.seen_[user_codes] @ self.weights_)
