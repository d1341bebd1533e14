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

Everything is built on ``scipy.sparse`` and vectorised NumPy: no Python loop runs over
ratings, users or items (the k-NN prediction lays every query's candidate neighbours out
flat and cuts the top k of all queries at once, in memory-bounded chunks).

Fallbacks at predict time (never an exception for an id unseen at fit time):

* unknown user or unknown item: the global mean of the training ratings (Surprise's
  ``default_prediction``); :class:`BiasedMF` keeps the known half of its baseline,
  e.g. ``mu + b_i`` for a new user;
* known pair, but no neighbour with positive similarity among the *k* nearest:
  the global mean for ``centered=False`` (Surprise ``KNNBasic`` raises
  ``PredictionImpossible`` and predicts the global mean), the mean rating of the user
  (``UserKNN``) or of the item (``ItemKNN``) for ``centered=True`` (as ``KNNWithMeans``);
* every prediction is clipped to ``rating_scale``.

In :meth:`recommend`, a user unseen at fit time gets the most popular items.

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

from collections.abc import Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from mtrec_lib.data.validate import check_choice, check_frame, check_positive_int

__all__ = [
    "similarity_matrix",
    "UserKNN",
    "ItemKNN",
    "BiasedMF",
    "Popularity",
    "ItemTopN",
    "EASE",
    "topk_item_similarity",
]

USER, ITEM, RATING = "user_id", "item_id", "rating"
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


def _dense_products(pairs: list[tuple[sp.csr_matrix, sp.csr_matrix]]) -> list[np.ndarray]:
    """Dense ``a @ b.T`` for each pair (float64 results).

    Small matrices go through BLAS on dense copies (``syrk`` when ``a is b``: half the
    work); float32 is used when every entry is an integer and every partial sum stays
    below 2**24, where float32 arithmetic is exact, so results equal float64 bit for bit.
    Large matrices use the sparse product.
    """
    from scipy.linalg import blas
    from threadpoolctl import threadpool_limits

    out = []
    for a, b in pairs:
        if a.shape[0] * a.shape[1] > 20_000_000:
            out.append((a @ b.T).toarray())
            continue
        bound = a.shape[1] * (np.abs(a.data).max(initial=0.0) * np.abs(b.data).max(initial=0.0))
        exact32 = bound < 2**24 and all(np.array_equal(x.data, np.round(x.data)) for x in (a, b))
        dt = np.float32 if exact32 else np.float64
        ad = a.toarray().astype(dt, copy=False)
        # One BLAS thread: at these sizes threads save little on an idle machine and cost
        # twice the time on a busy one (measured on 2 shared cores).
        with threadpool_limits(limits=1, user_api="blas"):
            if a is b:
                syrk = blas.ssyrk if exact32 else blas.dsyrk
                c = syrk(1.0, ad).astype(np.float64)  # upper triangle only
                c += np.triu(c, 1).T
            else:
                c = (ad @ b.toarray().astype(dt, copy=False).T).astype(np.float64)
        out.append(c)
    return out


def baseline_als(
    x: np.ndarray, y: np.ndarray, r: np.ndarray, n_x: int, n_y: int,
    reg_x: float = 15.0, reg_y: float = 10.0, n_epochs: int = 10,
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
    pairs = [(b, b), (m, m), (sq, b)] + ([(m, b)] if kind == "pearson" else [])
    freq, prods, sqi, *rest = _dense_products(pairs)
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
        si = rest[0]
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
    m = enc.matrix(item_rows=not user_based)
    residual = None
    if similarity == "pearson_baseline":
        bu, bi = baseline_als(enc.u, enc.i, enc.r, len(enc.users), len(enc.items))
        res = enc.r - enc.r.mean() - bu[enc.u] - bi[enc.i]
        residual = enc.matrix(res, item_rows=not user_based)
    sim = _rating_similarity(m, similarity, check_positive_int(min_support, "min_support", 0), shrinkage, residual)
    labels = enc.users if user_based else enc.items
    return pd.DataFrame(sim, index=labels, columns=labels)


# ---------------------------------------------------------------------------
# Top-N interface shared by every model that can rank items
# ---------------------------------------------------------------------------
def _top_n_indices(scores: np.ndarray, n: int) -> np.ndarray:
    """Column indices of each row's ``n`` highest scores, ties at the cut broken by column order.

    ``argpartition`` alone keeps an arbitrary subset of the items tied with the ``n``-th
    score (a cold user scores many items 0): the list would then depend on numpy's
    selection algorithm. Rows with such a tie are redone with a stable choice: every item
    above the cut, then the tied items with the lowest column indices.
    """
    top = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    cut = np.take_along_axis(scores, top, axis=1).min(axis=1)
    tied_rows = np.flatnonzero((scores >= cut[:, None]).sum(axis=1) > n)
    for r in tied_rows:
        cand = np.flatnonzero(scores[r] >= cut[r])
        top[r] = cand[np.lexsort((cand, -scores[r, cand]))][:n]
    return top


class _TopN:
    """``recommend`` for models that define ``_score(user_codes) -> (len, n_items)`` scores."""

    def _fit_topn(self, enc: _Encoded) -> None:
        self.user_ids_, self.item_ids_ = enc.users, enc.items
        self.seen_ = _binary(enc.matrix())  # users x items, 1 where the user interacted
        self.popularity_ = np.asarray(self.seen_.sum(axis=0)).ravel()

    def recommend(
        self, user_ids: Iterable | None = None, n: int = 10, exclude_seen: bool = True, batch_size: int = 2048
    ) -> pd.DataFrame:
        """Top-``n`` items per user, highest score first.

        Parameters
        ----------
        user_ids : array-like, optional
            Users to recommend for; default every user seen at fit time. Users unseen at
            fit time get the most popular items.
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
            in the order given and then by rank.
        """
        if not hasattr(self, "seen_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call fit(train) first.")
        n = check_positive_int(n, "n")
        users = self.user_ids_ if user_ids is None else pd.Index(pd.unique(np.asarray(list(user_ids))))
        codes = self.user_ids_.get_indexer(users)
        n_items = len(self.item_ids_)
        n = min(n, n_items)
        out_u, out_i, out_s = [], [], []
        for start in range(0, len(codes), batch_size):
            c = codes[start:start + batch_size]
            known = c >= 0
            scores = np.empty((len(c), n_items))
            if known.any():
                scores[known] = self._score(c[known])
            scores[~known] = self.popularity_
            if exclude_seen and known.any():
                seen = self.seen_[c[known]]
                rows = np.flatnonzero(known)[np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr))]
                scores[rows, seen.indices] = -np.inf
            if n < n_items:
                top = _top_n_indices(scores, n)
            else:
                top = np.tile(np.arange(n_items), (len(c), 1))
            top_s = np.take_along_axis(scores, top, axis=1)
            order = np.lexsort((top, -top_s), axis=1)  # by score, ties by item order
            top, top_s = np.take_along_axis(top, order, 1), np.take_along_axis(top_s, order, 1)
            out_u.append(np.repeat(np.arange(start, start + len(c)), n))
            out_i.append(top.ravel())
            out_s.append(top_s.ravel())
        u = np.concatenate(out_u) if out_u else np.zeros(0, dtype=int)
        i = np.concatenate(out_i) if out_i else np.zeros(0, dtype=int)
        s = np.concatenate(out_s) if out_s else np.zeros(0)
        keep = np.isfinite(s)
        frame = pd.DataFrame({USER: users[u[keep]], ITEM: self.item_ids_[i[keep]], "score": s[keep]})
        frame["rank"] = frame.groupby(USER, sort=False).cumcount() + 1
        return frame

    def score_items(self, user_ids: Iterable | None = None) -> pd.DataFrame:
        """The score ``recommend`` ranks by, for every item of the training catalogue.

        Use it to evaluate a ranking beyond the top ``n``, e.g. the rank of a held-out item
        among all items or among sampled ones (:func:`mtrec_lib.metrics.heldout_ranks`).
        Seen items are *not* masked: every (user, item) gets the model's score.

        Parameters
        ----------
        user_ids : array-like, optional
            Users to score, duplicates dropped; default every user seen at fit time. A user
            unseen at fit time gets the item popularity (training users per item), as in
            ``recommend``.

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

        Examples
        --------
        >>> import pandas as pd
        >>> train = pd.DataFrame({"user_id": [1, 2, 2, 3], "item_id": [10, 10, 20, 30]})
        >>> scores = Popularity().fit(train).score_items([1, 99])   # 99: unseen, gets popularity
        >>> scores.shape, scores.columns.tolist(), scores.loc[99].tolist()
        ((2, 3), [10, 20, 30], [2.0, 1.0, 1.0])
        """
        if not hasattr(self, "seen_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(train) first.")
        users = self.user_ids_ if user_ids is None else pd.Index(pd.unique(np.asarray(list(user_ids))))
        codes = self.user_ids_.get_indexer(users)
        known = codes >= 0
        scores = np.empty((len(codes), len(self.item_ids_)))
        if known.any():
            scores[known] = self._score(codes[known])
        scores[~known] = self.popularity_
        return pd.DataFrame(scores, index=pd.Index(users, name=USER), columns=pd.Index(self.item_ids_, name=ITEM))


# ---------------------------------------------------------------------------
# k-NN rating prediction
# ---------------------------------------------------------------------------
class _KNN(_TopN, BaseEstimator):
    _user_based = True

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
    ):
        self.k = k
        self.similarity = similarity
        self.min_support = min_support
        self.min_k = min_k
        self.centered = centered
        self.shrinkage = shrinkage
        self.rating_scale = rating_scale
        self.topn_similarity = topn_similarity

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
        enc = _Encoded(train, with_rating=True)
        self._fit_topn(enc)
        n_u, n_i = len(enc.users), len(enc.items)
        # x: the entity whose neighbours we use (users for UserKNN), y: the other one.
        x, y = (enc.u, enc.i) if self._user_based else (enc.i, enc.u)
        n_x, n_y = (n_u, n_i) if self._user_based else (n_i, n_u)
        self.global_mean_ = float(enc.r.mean())
        self.rating_scale_ = tuple(self.rating_scale) if self.rating_scale is not None else (enc.r.min(), enc.r.max())
        self.means_ = np.bincount(x, enc.r, minlength=n_x) / np.bincount(x, minlength=n_x)
        m = enc.matrix(item_rows=not self._user_based)
        residual = None
        if self.similarity == "pearson_baseline":
            bu, bi = baseline_als(enc.u, enc.i, enc.r, n_u, n_i)
            residual = enc.matrix(enc.r - self.global_mean_ - bu[enc.u] - bi[enc.i], item_rows=not self._user_based)
        self.similarity_ = _rating_similarity(m, self.similarity, self.min_support, self.shrinkage, residual)
        # Candidate neighbours of each y in training-row order: Surprise's trainset lists
        # (ir / ur) keep that order, and heapq.nlargest breaks similarity ties by it.
        order = np.argsort(y, kind="stable")
        self._cand_x, self._cand_r = x[order], enc.r[order]
        self._y_ptr = np.r_[0, np.cumsum(np.bincount(y, minlength=n_y))]
        self._topn_matrix = None
        return self

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Predicted rating for every row of ``df`` (``user_id``, ``item_id``), in row order.

        Returns
        -------
        numpy.ndarray of float, shape (len(df),)
        """
        if not hasattr(self, "similarity_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call fit(train) first.")
        check_frame(df, "predict(df)", required=[USER, ITEM], allow_empty=True)
        u = self.user_ids_.get_indexer(df[USER])
        i = self.item_ids_.get_indexer(df[ITEM])
        est = np.full(len(df), self.global_mean_)
        known = (u >= 0) & (i >= 0)
        xq, yq = (u[known], i[known]) if self._user_based else (i[known], u[known])
        est[known] = self._estimate(xq, yq)
        return np.clip(est, *self.rating_scale_)

    def _estimate(self, xq: np.ndarray, yq: np.ndarray) -> np.ndarray:
        """Weighted average over the k most similar x that rated y, for all queries at once.

        The candidates of a query are every x that rated its y, in training-row order.
        Queries with similar candidate counts are laid out as one padded 2-D block
        (:func:`_length_classes`), whose rows :func:`_topk_rows` cuts to the k most
        similar, ties going to the earlier-listed candidate exactly as ``heapq.nlargest``
        does in Surprise. Memory stays bounded by the block size.
        """
        values = self._cand_r - self.means_[self._cand_x] if self.centered else self._cand_r
        sim_flat, n_x = self.similarity_.ravel(), self.similarity_.shape[1]
        lengths = np.diff(self._y_ptr)[yq]
        num, den, cnt = np.zeros(len(xq)), np.zeros(len(xq)), np.zeros(len(xq))
        for q in _length_classes(lengths):
            pos, valid = _padded_positions(self._y_ptr[yq[q]], lengths[q])
            # One flat gather (faster than 2-D fancy indexing) of sim[x_query, x_candidate].
            s = np.take(sim_flat, xq[q][:, None] * n_x + self._cand_x[pos])
            s[~valid] = -np.inf
            w = np.where(_topk_rows(s, self.k) & (s > 0), s, 0.0)  # positive neighbours only
            num[q] = (w * values[pos]).sum(axis=1)
            den[q] = w.sum(axis=1)
            cnt[q] = (w > 0).sum(axis=1)
        ok = (cnt >= self.min_k) & (den > 0)
        ratio = np.divide(num, den, out=np.zeros_like(num), where=ok)
        if self.centered:
            return self.means_[xq] + ratio  # no usable neighbour: the mean of x itself
        return np.where(ok, ratio, self.global_mean_)

    def _score(self, user_codes: np.ndarray) -> np.ndarray:
        return self._topn_scores(user_codes)


class UserKNN(_KNN):
    """User-based k-nearest-neighbour rating prediction (Surprise ``KNNBasic`` / ``KNNWithMeans``).

    .. math::
        \\hat r_{ui} = \\frac{\\sum_{v \\in N_i^k(u)} \\mathrm{sim}(u, v)\\, r_{vi}}
                            {\\sum_{v \\in N_i^k(u)} \\mathrm{sim}(u, v)}
        \\quad\\text{or, centred,}\\quad
        \\hat r_{ui} = \\mu_u + \\frac{\\sum_{v} \\mathrm{sim}(u, v)\\,(r_{vi} - \\mu_v)}
                                    {\\sum_{v} \\mathrm{sim}(u, v)}

    where :math:`N_i^k(u)` are the ``k`` users most similar to *u* among those who rated
    *i*, of which only those with positive similarity are used.

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

    def _topn_scores(self, user_codes: np.ndarray) -> np.ndarray:
        # User-based top-N: votes of the k most similar users, weighted by similarity.
        if self._topn_matrix is None:
            check_choice(self.topn_similarity, "topn_similarity", ["cosine", "rating"])
            if self.topn_similarity == "rating":
                s = self.similarity_.copy()
            else:  # cosine of the binary "what did they rate" rows
                b = self.seen_
                s = _dense_products([(b, b)])[0]
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
    k, similarity, min_support, min_k, centered, shrinkage, rating_scale
        As in :class:`UserKNN` (``k`` is also the neighbourhood size of ``recommend``).
    topn_similarity : {"cosine", "conditional_probability", "rating"}, default "cosine"
        Item-item similarity used by ``recommend``.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 20, 10, 20, 10],
    ...                       "rating": [5.0, 3.0, 4.0, 2.0, 5.0]})
    >>> m = ItemKNN(k=5, similarity="cosine").fit(train)
    >>> m.recommend([3], n=1)[["user_id", "item_id", "rank"]].to_dict("records")
    [{'user_id': 3, 'item_id': 20, 'rank': 1}]
    """

    _user_based = False

    def _topn_scores(self, user_codes: np.ndarray) -> np.ndarray:
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
        self._fit_topn(enc)
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
            t = _refill(ub, (enc.r - mu - q[enc.i, f])[by_user])
            p = _als_half_pen(ub, t, np.c_[q[:, :f], np.ones(n_i)], cnt_u, pen)
            t = _refill(ib, (enc.r - mu - p[enc.u, f])[by_item])
            q = _als_half_pen(ib, t, np.c_[p[:, :f], np.ones(n_u)], cnt_i, pen)
        self.global_mean_ = mu
        self.user_factors_, self.user_bias_ = p[:, :f], p[:, f]
        self.item_factors_, self.item_bias_ = q[:, :f], q[:, f]
        self.rating_scale_ = tuple(self.rating_scale) if self.rating_scale is not None else (enc.r.min(), enc.r.max())
        return self

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Predicted rating per row of ``df``; unknown users/items keep the known baseline terms."""
        if not hasattr(self, "user_factors_"):
            raise RuntimeError("BiasedMF is not fitted yet; call fit(train) first.")
        check_frame(df, "predict(df)", required=[USER, ITEM], allow_empty=True)
        u = self.user_ids_.get_indexer(df[USER])
        i = self.item_ids_.get_indexer(df[ITEM])
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


def _refill(pattern: sp.csr_matrix, data: np.ndarray) -> sp.csr_matrix:
    return sp.csr_matrix((data, pattern.indices, pattern.indptr), shape=pattern.shape)


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


def _length_classes(lengths: np.ndarray, growth: float = 1.25, max_entries: int = 2_000_000):
    """Yield index arrays of non-empty rows with similar lengths, padded size <= max_entries.

    Padding every row of a group to the group's longest wastes at most ``growth - 1``
    of the memory, and the number of groups grows only with the log of the lengths.
    """
    rows = np.flatnonzero(lengths > 0)
    cls = np.floor(np.log(lengths[rows]) / np.log(growth)).astype(np.int64)
    order = rows[np.argsort(cls, kind="stable")]
    for group in np.split(order, np.flatnonzero(np.diff(np.sort(cls, kind="stable"))) + 1):
        if len(group) == 0:
            continue
        step = max(1, max_entries // int(lengths[group].max()))
        for start in range(0, len(group), step):
            yield group[start:start + step]


def _padded_positions(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, width) positions ``start + j`` of each row's slice, and the mask ``j < length``."""
    col = np.arange(int(lengths.max()))[None, :]
    valid = col < lengths[:, None]
    return starts[:, None] + np.minimum(col, (lengths - 1)[:, None]), valid


def _topk_rows(s: np.ndarray, k: int) -> np.ndarray:
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


def _row_topk(indptr: np.ndarray, data: np.ndarray, k: int) -> np.ndarray:
    """Mask of the k largest entries of every CSR row (ties: the earlier stored entry)."""
    lengths = np.diff(indptr)
    keep = np.zeros(len(data), dtype=bool)
    for rows in _length_classes(lengths):
        pos, valid = _padded_positions(indptr[rows], lengths[rows])
        s = np.where(valid, data[pos], -np.inf)
        keep[pos[valid]] = _topk_rows(s, k)[valid]
    return keep


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
    keep = _row_topk(s.indptr, s.data, k)
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

    def __init__(
        self, k: int = 20, similarity: str = "cosine", alpha: float = 0.5,
        row_normalize: bool = True, normalize: bool = True,
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

    def __init__(self, lam: float = 500.0):
        self.lam = lam

    def fit(self, train: pd.DataFrame):
        """Solve for the item-item weights on ``train`` (``user_id``, ``item_id``); returns self."""
        _check_interactions(train, "train")
        if not self.lam > 0:
            raise ValueError(f"lam must be > 0, got {self.lam!r}.")
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
