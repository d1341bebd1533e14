"""Evaluation metrics: rating error, classification, top-N ranking and beyond accuracy.

Pointwise metrics take two aligned vectors, ``metric(y_true, y_pred)``. Two pandas Series
are paired **by index label**, as pandas arithmetic pairs them: predictions made before
the frame was re-sorted still meet their own rows. Their indexes must hold the same
labels (in any order), else a ``ValueError`` says which labels are missing. Anything else
(lists, arrays, a Series with an array) is paired by position.

Ranking metrics share one signature shape, as in Microsoft Recommenders:
``metric(recs, truth, k=10)`` where

* ``recs`` is a recommendation frame with columns ``user_id``, ``item_id`` and
  ``rank`` (1 = shown first), for example the output of ``ItemKNN.recommend``;
* ``truth`` is a frame with the relevant ``user_id``, ``item_id`` pairs (every row
  is relevant unless ``threshold`` is given, then rows with ``rating >= threshold``).

The id columns of the two frames must be of one kind: ids stored as numbers in one frame
and as text in the other never match, and are refused with the conversion to apply.

Definitions (binary relevance, :math:`\\mathrm{rel}_u` = relevant items of user *u*,
:math:`\\mathrm{hits}_u` = relevant items among the first *k* recommendations):

* precision@k = :math:`|\\mathrm{hits}_u| / k` (k, not the list length: a list shorter
  than *k* cannot reach 1);
* recall@k = :math:`|\\mathrm{hits}_u| / |\\mathrm{rel}_u|`;
* hit_rate@k = 1 if :math:`|\\mathrm{hits}_u| > 0` else 0;
* nDCG@k = DCG/IDCG with gain 1 per hit and discount :math:`1/\\log_2(\\text{position}+1)`;
  IDCG puts :math:`\\min(|\\mathrm{rel}_u|, k)` hits first;
* AP@k = :math:`\\sum_{j} (j / p_j) / D` over the hits, the *j*-th hit being at position
  :math:`p_j`; the denominator *D* is :math:`|\\mathrm{rel}_u|` with
  ``denominator="n_relevant"`` (the default; Microsoft Recommenders' ``map`` and their
  ``map_at_k`` before release 1.2, which produced their published algorithm table) or
  :math:`\\min(|\\mathrm{rel}_u|, k)` with ``denominator="min_k"`` (their ``map_at_k`` from
  1.2 on, Spark's ``meanAveragePrecisionAt`` and the classic ``apk``).

Which users are averaged: every user with at least one relevant item in ``truth``
(``users="truth"``, the default; such a user without any recommendation scores 0), or only
users present in both frames (``users="common"``, Microsoft Recommenders' convention).
Users without a relevant item are excluded from the mean: no ranking can be judged for
them. If no user has a relevant item the metric is undefined and a ``ValueError`` is
raised rather than a silent 0 or nan.

Positions come from sorting each user's rows by ``rank``
(:func:`mtrec_lib.data.frames.rank_within_users`, ties by row order); only the order
matters, so ranks 1, 2, 5 are positions 1, 2, 3.

Examples
--------
>>> import pandas as pd
>>> import mtrec_lib as mt
>>> recs = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [10, 20, 30], "rank": [1, 2, 3]})
>>> truth = pd.DataFrame({"user_id": [1, 1], "item_id": [20, 40]})
>>> mt.metrics.precision_at_k(recs, truth, k=3)  # one hit in three
0.3333333333333333
>>> mt.metrics.recall_at_k(recs, truth, k=3)     # one of two relevant items found
0.5
>>> mt.metrics.map_at_k(recs, truth, k=3)        # (1/2) / 2 relevant
0.25
>>> y = pd.Series([0, 1, 1], index=[2, 0, 1])     # labels re-sorted after predicting
>>> p = pd.Series([0.9, 0.2, 0.8], index=[0, 1, 2])
>>> mt.metrics.auc(y, p)                         # paired by label: the positive 0 scores 0.9
0.5
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from mtrec_lib.data.frames import ITEM, RANK, RATING, USER, rank_within_users
from mtrec_lib.data.validate import check_choice, check_frame, check_positive_int

__all__ = [
    "rmse",
    "mae",
    "auc",
    "logloss",
    "expected_calibration_error",
    "reliability_curve",
    "top_k_accuracy",
    "precision_at_k",
    "recall_at_k",
    "ndcg_at_k",
    "map_at_k",
    "hit_rate_at_k",
    "ranking_report",
    "catalog_coverage",
    "intra_list_diversity",
    "novelty",
    "cosine_similarity",
]


# ---------------------------------------------------------------------------
# Pointwise metrics on aligned vectors
# ---------------------------------------------------------------------------
def _vector(values, name: str) -> np.ndarray:
    """A finite, non-empty float vector, or a ValueError that names ``name``."""
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must hold numbers ({err}). Convert it with pd.to_numeric.") from None
    if arr.size == 0:
        raise ValueError(f"{name} is empty. Pass at least one value.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values. Drop or fill them first.")
    return arr


def _plain(x):
    """A numpy scalar as the Python value, so that messages read ``1``, not ``np.int64(1)``."""
    return x.item() if isinstance(x, np.generic) else x


def _check_same_labels(first: pd.Index, second: pd.Index, names: tuple[str, str]) -> None:
    """Refuse two indexes that cannot pair rows by label: repeated labels, or different label sets."""
    a, b = names
    if first.has_duplicates or second.has_duplicates:
        raise ValueError(
            f"{a} and {b} have different indexes and one of them repeats labels, so their rows cannot "
            f"be paired by label. If they are in the same row order, pass {a}.to_numpy() and {b}.to_numpy(); "
            "else make the index unique (e.g. reset_index() before predicting)."
        )
    only_a, only_b = first[~first.isin(second)], second[~second.isin(first)]
    if len(only_a) or len(only_b):
        example = f"e.g. {_plain(only_a[0] if len(only_a) else only_b[0])!r}"
        raise ValueError(
            f"{a} and {b} are paired by index label, but {len(only_a)} row label(s) are only in {a} and "
            f"{len(only_b)} only in {b} ({example}). Select the same rows in both (e.g. "
            f"{b}.loc[{a}.index] once both hold them), or pass {a}.to_numpy() and {b}.to_numpy() "
            "if they are already in the same row order."
        )


def _pair(y_true, y_pred, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two finite, non-empty float vectors paired row by row, or a ValueError saying which is wrong.

    Every pointwise metric goes through here. Two Series are paired by index label (the
    second reindexed on the first); anything else by position.
    """
    if isinstance(y_true, pd.Series) and isinstance(y_pred, pd.Series) and not y_true.index.equals(y_pred.index):
        _check_same_labels(y_true.index, y_pred.index, names)
        y_pred = y_pred.reindex(y_true.index)
    out = [_vector(values, name) for values, name in zip((y_true, y_pred), names)]
    if out[0].shape != out[1].shape:
        raise ValueError(
            f"{names[0]} has {out[0].size} values but {names[1]} has {out[1].size}; they must be aligned row by row."
        )
    return out[0], out[1]


def _binary_labels(y: np.ndarray, name: str) -> np.ndarray:
    outside = np.setdiff1d(np.unique(y), [0.0, 1.0])
    if outside.size:
        raise ValueError(f"{name} must hold only 0 and 1, found {outside[:5].tolist()}. Threshold it first.")
    return y


def _probabilities(p: np.ndarray, name: str) -> np.ndarray:
    if (p < 0).any() or (p > 1).any():
        raise ValueError(
            f"{name} must be probabilities in [0, 1], found values in [{p.min():g}, {p.max():g}]. "
            "Apply a sigmoid to raw scores first."
        )
    return p


def rmse(y_true, y_pred) -> float:
    """Root mean squared error :math:`\\sqrt{\\frac1n\\sum (y-\\hat y)^2}`.

    Examples
    --------
    >>> rmse([1, 2, 3], [1, 2, 5])
    1.1547005383792515
    """
    y, yhat = _pair(y_true, y_pred, ("y_true", "y_pred"))
    return float(np.sqrt(np.mean((y - yhat) ** 2)))


def mae(y_true, y_pred) -> float:
    """Mean absolute error :math:`\\frac1n\\sum |y-\\hat y|`.

    Examples
    --------
    >>> mae([1, 2, 3], [1, 2, 5])
    0.6666666666666666
    """
    y, yhat = _pair(y_true, y_pred, ("y_true", "y_pred"))
    return float(np.mean(np.abs(y - yhat)))


def auc(y_true, y_score) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random negative.

    Computed with the Mann-Whitney rank statistic; tied scores count one half, exactly as
    :func:`sklearn.metrics.roc_auc_score`.

    Raises
    ------
    ValueError
        If ``y_true`` is not binary or holds a single class (AUC is undefined then; a
        caller that evaluates many slices catches it and reports nan).

    Examples
    --------
    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    from scipy.stats import rankdata

    y, s = _pair(y_true, y_score, ("y_true", "y_score"))
    _binary_labels(y, "y_true")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("y_true holds a single class; AUC needs at least one 0 and one 1.")
    ranks = rankdata(s)  # average ranks: ties count one half
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def logloss(y_true, y_prob, eps: float | None = None) -> float:
    """Mean binary cross-entropy :math:`-\\frac1n\\sum y\\log p + (1-y)\\log(1-p)`.

    Probabilities are clipped to ``[eps, 1 - eps]`` so that a confident mistake costs a
    large finite amount (about 36 nats at the default) instead of infinity;
    ``eps=None`` uses the float64 machine epsilon, as :func:`sklearn.metrics.log_loss` does.

    Examples
    --------
    >>> round(logloss([1, 0], [0.9, 0.2]), 6)
    0.164252
    """
    y, p = _pair(y_true, y_prob, ("y_true", "y_prob"))
    _binary_labels(y, "y_true")
    _probabilities(p, "y_prob")
    eps = np.finfo(float).eps if eps is None else float(eps)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


# ---------------------------------------------------------------------------
# Calibration: do predicted probabilities match observed frequencies?
# ---------------------------------------------------------------------------
def _calibration_bins(y_true, y_prob, n_bins: int, strategy: str) -> pd.DataFrame:
    """The one binning behind :func:`reliability_curve` and :func:`expected_calibration_error`.

    Bin *k* is the half-open interval ``[edge_k, edge_{k+1})``; the last bin is closed,
    ``[edge_{n-1}, edge_n]``, so a probability of exactly 1 (or the largest prediction, for
    quantile bins) falls in the last bin. Uniform edges are ``k / n_bins`` and a prediction's
    bin is ``floor(p * n_bins)``, so a prediction on an edge (0.6 with 5 bins) opens the bin
    above it. Empty bins get no row.
    """
    y, p = _pair(y_true, y_prob, ("y_true", "y_prob"))
    n_bins = check_positive_int(n_bins, "n_bins")
    check_choice(strategy, "strategy", ["uniform", "quantile"])
    _probabilities(p, "y_prob")
    if (y < 0).any() or (y > 1).any():
        raise ValueError(
            f"y_true must hold 0/1 labels or true probabilities in [0, 1], found values in [{y.min():g}, {y.max():g}]."
        )
    if strategy == "uniform":
        # floor(p * n) rather than a search in np.linspace edges: linspace's 0.6000000000000001
        # would put a prediction of exactly 0.6 in the bin below its edge.
        edges = np.arange(n_bins + 1) / n_bins
        k = n_bins
        idx = np.minimum(np.floor(p * n_bins).astype(np.int64), k - 1)
    else:
        # Equal-count bins; tied predictions cannot be split, so repeated edges merge bins.
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
        if edges.size == 1:  # every prediction equal: one bin holding all of them
            edges = np.array([edges[0], edges[0]])
        k = edges.size - 1
        idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, k - 1)
    count = np.bincount(idx, minlength=k)
    sum_p = np.bincount(idx, weights=p, minlength=k)
    sum_y = np.bincount(idx, weights=y, minlength=k)
    keep = count > 0
    return pd.DataFrame(
        {
            "bin_lower": edges[:-1][keep],
            "bin_upper": edges[1:][keep],
            "mean_predicted": sum_p[keep] / count[keep],
            "fraction_positive": sum_y[keep] / count[keep],
            "count": count[keep],
        }
    )


def reliability_curve(y_true, y_prob, n_bins: int = 10, strategy: str = "uniform") -> pd.DataFrame:
    """Mean prediction and observed frequency per probability bin: the reliability diagram's points.

    A calibrated model (校准的模型) has ``fraction_positive == mean_predicted`` in every
    bin: of the rows predicted at 0.2, a fifth are positive.

    Parameters
    ----------
    y_true : array-like
        0/1 labels, or the true probabilities of a simulation (then ``fraction_positive``
        is the mean true probability of the bin).
    y_prob : array-like
        Predicted probabilities in [0, 1], aligned row by row with ``y_true`` (two
        Series: by index label).
    n_bins : int, default 10
        Number of bins before empty ones are dropped.
    strategy : {"uniform", "quantile"}, default "uniform"
        ``"uniform"``: equal-width bins on [0, 1]. ``"quantile"``: edges at the
        quantiles of ``y_prob``, so bins hold (nearly) equal counts; tied predictions
        stay together, which can leave fewer bins.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin: ``bin_lower, bin_upper, mean_predicted,
        fraction_positive, count``. Bins are ``[bin_lower, bin_upper)``, the last one
        closed on the right, so every row is counted once and ``count`` sums to n.

    Examples
    --------
    >>> y = [0, 0, 1, 0, 1, 1]
    >>> p = [0.1, 0.2, 0.3, 0.6, 0.7, 0.9]
    >>> reliability_curve(y, p, n_bins=2)
       bin_lower  bin_upper  mean_predicted  fraction_positive  count
    0        0.0        0.5        0.200000           0.333333      3
    1        0.5        1.0        0.733333           0.666667      3
    >>> reliability_curve(y, p, n_bins=3, strategy="quantile")["count"].tolist()
    [2, 2, 2]
    """
    return _calibration_bins(y_true, y_prob, n_bins, strategy)


def expected_calibration_error(y_true, y_prob, n_bins: int = 10, strategy: str = "uniform") -> float:
    """Expected calibration error (ECE, 期望校准误差): the count-weighted gap of the reliability curve.

    .. math::

        \\mathrm{ECE} = \\sum_b \\frac{n_b}{n} \\left| \\bar y_b - \\bar p_b \\right|

    over the non-empty bins *b* of :func:`reliability_curve` (Naeini et al. 2015; Guo et
    al. 2017), with :math:`\\bar y_b` the bin's observed frequency and :math:`\\bar p_b`
    its mean prediction. 0 means calibrated at this binning. With labels the estimate
    has a noise floor (a calibrated model scores above 0 on a finite sample, more so
    with many small bins); with true probabilities as ``y_true`` it measures the gap
    to the truth, without that label noise.

    Parameters
    ----------
    y_true, y_prob, n_bins, strategy
        As in :func:`reliability_curve` (bins ``[lower, upper)``, the last one closed).

    Returns
    -------
    float

    Examples
    --------
    >>> y = [0, 0, 1, 0, 1, 1]
    >>> p = [0.1, 0.2, 0.3, 0.6, 0.7, 0.9]
    >>> round(expected_calibration_error(y, p, n_bins=2), 6)   # (3 * 0.133333 + 3 * 0.066667) / 6
    0.1
    >>> expected_calibration_error([0, 1, 1, 0], [0.5, 0.5, 0.5, 0.5])   # right on average
    0.0
    """
    bins = _calibration_bins(y_true, y_prob, n_bins, strategy)
    gap = (bins["fraction_positive"] - bins["mean_predicted"]).abs()
    return float((bins["count"] * gap).sum() / bins["count"].sum())


# ---------------------------------------------------------------------------
# Retrieval: the true item's rank among the whole catalogue
# ---------------------------------------------------------------------------
def _top_k_hits(scores: np.ndarray, positives: np.ndarray, k: int) -> np.ndarray:
    """Per query, whether fewer than ``k`` candidates score strictly above the true one (-1: a miss)."""
    known = positives >= 0
    pos_score = scores[np.arange(len(positives)), np.where(known, positives, 0)]
    n_better = (scores > pos_score[:, None]).sum(axis=1)
    return known & (n_better < k)


def top_k_accuracy(scores, positives, k: int = 100) -> float:
    """Share of queries whose true candidate ranks in the top ``k`` of all candidates.

    This is TFRS's ``FactorizedTopK`` (top-k categorical accuracy over the whole
    catalogue): a query is a hit when fewer than ``k`` candidates score *strictly*
    higher than its true candidate, so ties never count against the true candidate.

    Parameters
    ----------
    scores : array of shape (n_queries, n_candidates)
        Score of every candidate for every query. ``-inf`` is allowed (a candidate masked
        out, e.g. an item the user has already seen); NaN is refused.
    positives : array of int, shape (n_queries,)
        Column of each query's true candidate; ``-1`` means the true candidate is not
        in the catalogue, which counts as a miss.
    k : int, default 100

    Returns
    -------
    float
        Hits divided by ``n_queries``.

    Examples
    --------
    >>> import numpy as np
    >>> scores = np.array([[0.9, 0.5, 0.1],    # true item 1 ranks 2nd
    ...                    [0.2, 0.3, 0.8],    # true item 0 ranks 3rd
    ...                    [0.4, 0.4, 0.0]])   # true item 1 ties for 1st
    >>> top_k_accuracy(scores, np.array([1, 0, 1]), k=2)
    0.6666666666666666
    """
    try:
        scores = np.asarray(scores, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"scores must hold numbers ({err}).") from None
    positives = np.asarray(positives).astype(np.int64, copy=False).ravel()
    k = check_positive_int(k, "k")
    if scores.ndim != 2 or scores.shape[0] != positives.shape[0]:
        raise ValueError(
            f"scores must be (n_queries, n_candidates) with one row per positive; got "
            f"scores {scores.shape} and {positives.shape[0]} positives."
        )
    if scores.shape[0] == 0:
        raise ValueError("top_k_accuracy: no queries. Pass at least one row.")
    if (positives >= scores.shape[1]).any() or (positives < -1).any():
        raise ValueError("positives must be candidate columns in [0, n_candidates) or -1 (not in catalogue).")
    if np.isnan(scores).any():
        # A NaN compares False with everything: its query would silently count as a hit.
        raise ValueError("scores contains NaN. Give every candidate a score (-inf to mask one out).")
    return float(_top_k_hits(scores, positives, k).mean())


# ---------------------------------------------------------------------------
# Ranking metrics over recommendation and truth frames
# ---------------------------------------------------------------------------
def _id_kind(values) -> tuple[str, str] | None:
    """("number" or "text", the astype argument that converts to it), None if empty or neither."""
    if len(values) == 0:
        return None
    if isinstance(values.dtype, pd.CategoricalDtype):  # a categorical compares as its categories
        values = pd.Index(values).categories
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_numeric_dtype(values):
        return ("number", "int" if pd.api.types.is_integer_dtype(values) else "float")
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    return {"string": ("text", "str"), "integer": ("number", "int"), "floating": ("number", "float")}.get(inferred)


def _check_ids(values, frame: str, col: str, reference, reference_name: str) -> None:
    """Refuse ids that can never equal the reference ids: numbers on one side, text on the other.

    pandas would otherwise refuse the merge with a suggestion to use ``pd.concat`` (the wrong
    fix), or ``isin``/``get_indexer`` would silently match nothing.
    """
    kind, ref_kind = _id_kind(values), _id_kind(reference)
    if kind is None or ref_kind is None or kind[0] == ref_kind[0]:
        return
    raise ValueError(
        f"{frame}: column {col!r} holds {kind[0]}s (dtype {values.dtype}) but {reference_name} holds "
        f"{ref_kind[0]}s (dtype {reference.dtype}), so no id would ever match. Store the ids the same "
        f"way in both, e.g. {frame}[{col!r}] = {frame}[{col!r}].astype({ref_kind[1]})."
    )


def _lists(recs: pd.DataFrame, k: int | None = None, by_rank: bool = True) -> pd.DataFrame:
    """Each user's first ``k`` recommendations (all if None): ``user_id, item_id, position`` (1-based).

    The one place list positions are computed: :func:`rank_within_users` orders each user's
    rows by ``rank`` (ties by row order); with ``by_rank=False`` the row order is the list
    order. Rows come grouped by user, each user's by position.
    """
    cols = [USER, ITEM, RANK] if by_rank else [USER, ITEM]
    # An empty frame has no rank to check (and often an object dtype from an empty list).
    numeric = [RANK] if by_rank and len(recs) else None
    check_frame(recs, "recs", required=cols, numeric=numeric, unique=[USER, ITEM], allow_empty=True)
    rank = recs[RANK].to_numpy(dtype=float) if by_rank else np.zeros(len(recs))
    order, position, _ = rank_within_users(recs[USER], -rank)
    keep = position < k if k is not None else np.ones(len(order), dtype=bool)
    out = recs[[USER, ITEM]].iloc[order[keep]].reset_index(drop=True)
    out["position"] = position[keep] + 1
    return out


def _per_user(
    recs: pd.DataFrame,
    truth: pd.DataFrame,
    k: int,
    threshold: float | None,
    users: str,
    rating_col: str = RATING,
    gain: str = "binary",
) -> pd.DataFrame:
    """One row per evaluated user: n_rel, hits, dcg, idcg, ap_sum (the shared core)."""
    k = check_positive_int(k, "k")
    check_choice(users, "users", ["truth", "common"])
    numeric = [rating_col] if (threshold is not None or rating_col in truth.columns) else []
    check_frame(truth, "truth", required=[USER, ITEM], numeric=numeric, unique=[USER, ITEM])
    rel = truth if threshold is None else truth[truth[rating_col] >= threshold]  # the relevant rows
    top = _lists(recs, k)
    for col in (USER, ITEM):
        _check_ids(truth[col], "truth", col, recs[col], f"recs[{col!r}]")
    if users == "common":
        rel = rel[rel[USER].isin(top[USER].unique())]
    if len(rel) == 0:
        raise ValueError(
            "truth: no user has a relevant item"
            + (f" with {rating_col} >= {threshold}" if threshold is not None else "")
            + (" among the users that have recommendations" if users == "common" else "")
            + "; the metric is undefined. Check the split or the threshold."
        )
    if gain == "binary":
        gains = np.ones(len(rel))
    else:
        if rating_col not in rel.columns:
            raise ValueError(f"truth: gain={gain!r} needs a {rating_col!r} column with graded relevance.")
        g = rel[rating_col].to_numpy(dtype=float)
        gains = g if gain == "linear" else 2.0**g - 1.0

    # Ideal DCG: each user's relevant items ranked by gain, the same per-user ranking as the lists.
    order, position, n_rel = rank_within_users(rel[USER], gains)
    user_index = pd.Index(pd.unique(rel[USER]))  # the users in rank_within_users' order
    n_users = len(user_index)
    keep = position < k
    ideal_user = np.repeat(np.arange(n_users), n_rel)[keep]
    idcg = np.bincount(ideal_user, weights=gains[order][keep] / np.log2(position[keep] + 2), minlength=n_users)

    # An inner merge keeps the left order: hits stay grouped by user, each user's by position.
    rel = pd.DataFrame({USER: rel[USER].to_numpy(), ITEM: rel[ITEM].to_numpy(), "gain": gains})
    hits = top.merge(rel, on=[USER, ITEM], how="inner")
    hit_u = user_index.get_indexer(hits[USER])
    pos = hits["position"].to_numpy(dtype=float)
    n_hits = np.bincount(hit_u, minlength=n_users)
    dcg = np.bincount(hit_u, weights=hits["gain"].to_numpy() / np.log2(pos + 1), minlength=n_users)
    # j-th hit of a user (1-based) at position p contributes precision j / p to the AP sum.
    j = hits.groupby(USER, sort=False).cumcount().to_numpy() + 1
    ap_sum = np.bincount(hit_u, weights=j / pos, minlength=n_users)
    return pd.DataFrame({"n_rel": n_rel, "hits": n_hits, "dcg": dcg, "idcg": idcg, "ap_sum": ap_sum}, index=user_index)


def _user_values(t: pd.DataFrame, k: int) -> dict[str, np.ndarray]:
    """Every list metric per user, from :func:`_per_user`'s table: the module's definitions, written once."""
    # A user whose relevant items all have gain 0 has IDCG 0: counted as 0, not nan.
    ndcg = np.divide(t["dcg"], t["idcg"], out=np.zeros(len(t)), where=t["idcg"].to_numpy() > 0)
    return {
        "p": t["hits"] / k,
        "recall": t["hits"] / t["n_rel"],
        "ndcg": ndcg,
        "map": t["ap_sum"] / t["n_rel"],
        "map@k": t["ap_sum"] / np.minimum(t["n_rel"], k),
        "hit": (t["hits"] > 0).astype(float),
    }


def _mean(recs, truth, k, threshold, users, metric: str, **kwargs) -> float:
    return float(np.mean(_user_values(_per_user(recs, truth, k, threshold, users, **kwargs), k)[metric]))


_DOC_PARAMS = """
    Parameters
    ----------
    recs : pandas.DataFrame
        Recommendations: ``user_id``, ``item_id``, ``rank`` (1 = first).
    truth : pandas.DataFrame
        Relevant pairs: ``user_id``, ``item_id`` and optionally ``rating``.
    k : int, default 10
        Cut-off: only the first ``k`` recommendations of each user count.
    threshold : float, optional
        If given, only truth rows with ``rating >= threshold`` are relevant.
    users : {"truth", "common"}, default "truth"
        Average over users with a relevant item (``"truth"``) or over users present in
        both frames (``"common"``, Microsoft Recommenders' convention).
"""


def precision_at_k(
    recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10, threshold: float | None = None, users: str = "truth"
) -> float:
    """Mean over users of hits in the top k divided by k.
    {params}
    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({{"user_id": [1, 1], "item_id": [5, 6], "rank": [1, 2]}})
    >>> precision_at_k(recs, pd.DataFrame({{"user_id": [1], "item_id": [6]}}), k=2)
    0.5
    """
    return _mean(recs, truth, k, threshold, users, "p")


def recall_at_k(
    recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10, threshold: float | None = None, users: str = "truth"
) -> float:
    """Mean over users of hits in the top k divided by the user's number of relevant items.
    {params}
    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({{"user_id": [1, 1], "item_id": [5, 6], "rank": [1, 2]}})
    >>> recall_at_k(recs, pd.DataFrame({{"user_id": [1, 1], "item_id": [6, 7]}}), k=2)
    0.5
    """
    return _mean(recs, truth, k, threshold, users, "recall")


def hit_rate_at_k(
    recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10, threshold: float | None = None, users: str = "truth"
) -> float:
    """Share of users with at least one relevant item in their top k.
    {params}
    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({{"user_id": [1, 2], "item_id": [5, 5], "rank": [1, 1]}})
    >>> hit_rate_at_k(recs, pd.DataFrame({{"user_id": [1, 2], "item_id": [5, 6]}}), k=1)
    0.5
    """
    return _mean(recs, truth, k, threshold, users, "hit")


def ndcg_at_k(
    recs: pd.DataFrame,
    truth: pd.DataFrame,
    k: int = 10,
    threshold: float | None = None,
    users: str = "truth",
    gain: str = "binary",
) -> float:
    """Normalised discounted cumulative gain, discount :math:`1/\\log_2(\\text{{position}}+1)`.
    {params}    gain : {{"binary", "linear", "exp"}}, default "binary"
        Gain of a relevant item: 1, its ``rating`` (as :func:`sklearn.metrics.ndcg_score`)
        or ``2**rating - 1``.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({{"user_id": [1, 1], "item_id": [5, 6], "rank": [1, 2]}})
    >>> round(ndcg_at_k(recs, pd.DataFrame({{"user_id": [1], "item_id": [6]}}), k=2), 4)  # 1/log2(3)
    0.6309
    """
    check_choice(gain, "gain", ["binary", "linear", "exp"])
    return _mean(recs, truth, k, threshold, users, "ndcg", gain=gain)


def map_at_k(
    recs: pd.DataFrame,
    truth: pd.DataFrame,
    k: int = 10,
    threshold: float | None = None,
    users: str = "truth",
    denominator: str = "n_relevant",
) -> float:
    """Mean average precision of the top k.
    {params}    denominator : {{"n_relevant", "min_k"}}, default "n_relevant"
        Divide a user's summed precisions by the number of relevant items (Microsoft
        Recommenders' ``map``, the definition behind their published table) or by
        ``min(n_relevant, k)`` (their ``map_at_k`` since 1.2, Spark, ``ml_metrics.apk``).

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({{"user_id": [1, 1, 1], "item_id": [5, 6, 7], "rank": [1, 2, 3]}})
    >>> truth = pd.DataFrame({{"user_id": [1] * 4, "item_id": [5, 7, 8, 9]}})
    >>> map_at_k(recs, truth, k=3)                 # (1/1 + 2/3) / 4
    0.41666666666666663
    >>> map_at_k(recs, truth, k=3, denominator="min_k")  # (1/1 + 2/3) / 3
    0.5555555555555555
    """
    check_choice(denominator, "denominator", ["n_relevant", "min_k"])
    return _mean(recs, truth, k, threshold, users, "map" if denominator == "n_relevant" else "map@k")


for _f in (precision_at_k, recall_at_k, hit_rate_at_k, ndcg_at_k, map_at_k):
    _f.__doc__ = _f.__doc__.format(params=_DOC_PARAMS)


def ranking_report(
    recs: pd.DataFrame, truth: pd.DataFrame, k: int = 10, threshold: float | None = None, users: str = "truth"
) -> dict:
    """All ranking metrics at once (one pass): precision, recall, ndcg, map, hit rate.

    Keys are ``"p@k"``, ``"recall@k"``, ``"ndcg@k"``, ``"map"`` (``denominator="n_relevant"``),
    ``"map@k"`` (``denominator="min_k"``) and ``"hit@k"`` with the actual ``k`` substituted.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user_id": [1, 1], "item_id": [5, 6], "rank": [1, 2]})
    >>> ranking_report(recs, pd.DataFrame({"user_id": [1], "item_id": [5]}), k=2)["p@2"]
    0.5
    """
    t = _per_user(recs, truth, k, threshold, users)
    names = {
        "p": f"p@{k}",
        "recall": f"recall@{k}",
        "ndcg": f"ndcg@{k}",
        "map": "map",
        "map@k": f"map@{k}",
        "hit": f"hit@{k}",
    }
    out = {names[m]: float(np.mean(v)) for m, v in _user_values(t, k).items()}
    return {**out, "n_users": int(len(t))}


# ---------------------------------------------------------------------------
# Beyond accuracy: coverage, diversity, novelty
# ---------------------------------------------------------------------------
def _unit_rows(features: np.ndarray) -> np.ndarray:
    """Rows (along the last axis) scaled to unit length; all-zero rows stay zero.

    The library's one row normalisation: :func:`cosine_similarity`,
    :func:`intra_list_diversity` and :mod:`mtrec_lib.rerank` all go through it.
    """
    norm = np.linalg.norm(features, axis=-1, keepdims=True)
    return np.divide(features, norm, out=np.zeros_like(features), where=norm > 0)


def cosine_similarity(features) -> np.ndarray:
    """Cosine similarity of the rows of ``features``, with a diagonal of 1.

    An all-zero row (an item without features) has similarity 0 to every other row and 1
    to itself, so the matrix stays positive semi-definite (a valid DPP kernel for
    :mod:`mtrec_lib.rerank`) and the item counts as unlike everything else. Off the
    diagonal this is the similarity :func:`intra_list_diversity` uses for ``item_features``.

    Examples
    --------
    >>> import numpy as np
    >>> cosine_similarity(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])).round(3)
    array([[1.   , 0.707, 0.   ],
           [0.707, 1.   , 0.   ],
           [0.   , 0.   , 1.   ]])
    """
    f = _unit_rows(np.asarray(features, dtype=float))
    s = f @ f.T
    np.fill_diagonal(s, 1.0)
    return s


def _item_set(catalog) -> pd.Index:
    if isinstance(catalog, pd.DataFrame):
        check_frame(catalog, "catalog", required=[ITEM])
        return pd.Index(pd.unique(catalog[ITEM]))
    items = pd.Index(pd.unique(np.asarray(list(catalog))))
    if len(items) == 0:
        raise ValueError("catalog is empty. Pass the items that could be recommended, e.g. train.")
    return items


def _listed(recs: pd.DataFrame, k: int | None) -> pd.DataFrame:
    """``recs`` cut to each user's first ``k`` (which needs ``rank``), or all rows if ``k`` is None."""
    if k is not None:
        return _lists(recs, check_positive_int(k, "k"))
    check_frame(recs, "recs", required=[USER, ITEM], allow_empty=True)
    return recs


def catalog_coverage(recs: pd.DataFrame, catalog: pd.DataFrame | Iterable, k: int | None = None) -> float:
    """Share of the catalogue that appears in at least one user's list.

    Parameters
    ----------
    recs : pandas.DataFrame
        Recommendations with ``user_id``, ``item_id`` (and ``rank`` if ``k`` is given).
    catalog : pandas.DataFrame or array-like
        The items that could be recommended: a frame with ``item_id`` (e.g. the training
        interactions) or the item ids themselves.
    k : int, optional
        Only the first ``k`` of each list count.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"user_id": [1, 2], "item_id": [5, 5], "rank": [1, 1]})
    >>> catalog_coverage(recs, [5, 6, 7, 8])
    0.25
    """
    items = _item_set(catalog)
    recs = _listed(recs, k)
    _check_ids(recs[ITEM], "recs", ITEM, items, "the catalog's item ids")
    return float(items.isin(pd.unique(recs[ITEM])).sum() / len(items))


def intra_list_diversity(
    recs: pd.DataFrame,
    item_features: pd.DataFrame | None = None,
    similarity: pd.DataFrame | None = None,
    k: int | None = None,
) -> float:
    """Mean over users of the average pairwise dissimilarity ``1 - sim(i, j)`` inside a list.

    Give either ``item_features`` (index ``item_id``, one numeric column per feature;
    similarity is the cosine of the feature vectors, :func:`cosine_similarity`) or
    ``similarity`` (a square frame with item ids as index and columns). Lists with fewer
    than two items have no pairs and are left out of the mean. Without a ``rank`` column
    the rows' order is the list order.

    Examples
    --------
    >>> import pandas as pd
    >>> feats = pd.DataFrame({"action": [1, 1, 0], "comedy": [0, 0, 1]}, index=[10, 20, 30])
    >>> recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 20, 10, 30], "rank": [1, 2, 1, 2]})
    >>> intra_list_diversity(recs, item_features=feats)  # user 1: 0, user 2: 1
    0.5
    """
    if (item_features is None) == (similarity is None):
        raise ValueError("pass exactly one of item_features or similarity.")
    by_rank = k is not None or RANK in getattr(recs, "columns", ())
    top = _lists(recs, None if k is None else check_positive_int(k, "k"), by_rank=by_rank)
    lookup = pd.Index(item_features.index if item_features is not None else similarity.index)
    _check_ids(top[ITEM], "recs", ITEM, lookup, "the index of item_features / similarity")
    # Lists with two or more items, each as a row of a padded (users, longest list) matrix.
    top = top[top.groupby(USER, sort=False)[ITEM].transform("size").to_numpy() >= 2]
    if len(top) == 0:
        raise ValueError("recs: no user has two or more items; diversity inside a list is undefined.")
    u, _ = pd.factorize(top[USER])
    counts = np.bincount(u)
    codes = lookup.get_indexer(top[ITEM])
    if (codes < 0).any():
        missing = top[ITEM].to_numpy()[codes < 0][0]
        raise ValueError(f"item {missing!r} is recommended but has no row in the item features / similarity.")
    col = top["position"].to_numpy() - 1
    idx = np.zeros((len(counts), counts.max()), dtype=np.int64)
    mask = np.zeros(idx.shape, dtype=bool)
    idx[u, col], mask[u, col] = codes, True
    if item_features is not None:
        check_frame(item_features.reset_index(drop=True), "item_features", numeric=list(item_features.columns))
        v = _unit_rows(item_features.to_numpy(dtype=float))[idx]  # (users, L, d)
        sim = np.einsum("uld,umd->ulm", v, v)
    else:
        s = similarity.reindex(columns=similarity.index).to_numpy(dtype=float)
        sim = s[idx[:, :, None], idx[:, None, :]]
    pair = mask[:, :, None] & mask[:, None, :] & ~np.eye(mask.shape[1], dtype=bool)[None]
    dissim = np.where(pair, 1.0 - sim, 0.0).sum((1, 2)) / (counts * (counts - 1))
    return float(dissim.mean())


def novelty(recs: pd.DataFrame, train: pd.DataFrame, k: int | None = None) -> float:
    """Mean self-information :math:`-\\log_2 p_i` of the recommended items, in bits.

    :math:`p_i` is the share of training users who interacted with item *i*; recommending
    only what everybody already has gives 0 bits. The mean is over all (user, item)
    recommendation rows. Items absent from ``train`` have no popularity estimate (their
    self-information would be infinite) and are left out.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user_id": [1, 2, 3, 4], "item_id": [5, 5, 5, 6]})
    >>> recs = pd.DataFrame({"user_id": [1, 2], "item_id": [5, 6], "rank": [1, 1]})
    >>> round(novelty(recs, train), 4)  # (-log2 3/4 - log2 1/4) / 2
    1.2075
    """
    check_frame(train, "train", required=[USER, ITEM])
    recs = _listed(recs, k)
    _check_ids(recs[ITEM], "recs", ITEM, train[ITEM], "train['item_id']")
    n_users = train[USER].nunique()
    users_per_item = train.drop_duplicates([USER, ITEM])[ITEM].value_counts()
    p = recs[ITEM].map(users_per_item / n_users).dropna().to_numpy(dtype=float)
    if p.size == 0:
        raise ValueError("recs: none of the recommended items appears in train; novelty is undefined.")
    return float(np.mean(-np.log2(p)))


# ---------------------------------------------------------------------------
# Sampled versus full ranking: the rank of each held-out item (Krichene & Rendle 2020)
# ---------------------------------------------------------------------------
__all__ += ["heldout_ranks", "rank_metrics"]

RANK_TIES = ("expected", "pessimistic", "optimistic")
_RANK_BATCH = 512  # held-out rows compared with the catalogue at once: memory ~ 512 x n_items


def _score_matrix(scores: pd.DataFrame) -> tuple[pd.Index, pd.Index, np.ndarray]:
    """Users, items and the float score matrix of a wide score frame, validated."""
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(
            f"scores: expected a pandas DataFrame (users as index, items as columns), got "
            f"{type(scores).__name__}. Build one with model.score_items(users) or "
            "pd.DataFrame(matrix, index=user_ids, columns=item_ids)."
        )
    if scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError(f"scores: the frame is empty (shape {scores.shape}). Score at least one user and item.")
    for what, labels in (("index (users)", scores.index), ("columns (items)", scores.columns)):
        if labels.has_duplicates:
            dup = labels[labels.duplicated()][0]
            raise ValueError(f"scores: {what} repeats {dup!r}; each user and item may appear once.")
    try:
        s = scores.to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"scores must hold numbers ({err}). Convert it with scores.astype(float).") from None
    if not np.isfinite(s).all():
        raise ValueError(
            "scores contains NaN or infinite values. Give every (user, item) a finite score; "
            "the items a user has seen are excluded through `seen`, not by a score of -inf."
        )
    return pd.Index(scores.index), pd.Index(scores.columns), s


def _pairs_mask(df: pd.DataFrame, users: pd.Index, items: pd.Index) -> np.ndarray:
    """Boolean (len(users), len(items)) matrix, True at the (user, item) pairs of ``df`` found in both."""
    u, i = users.get_indexer(df[USER]), items.get_indexer(df[ITEM])
    ok = (u >= 0) & (i >= 0)
    mask = np.zeros((len(users), len(items)), dtype=bool)
    mask[u[ok], i[ok]] = True
    return mask


def _above_tied(s: np.ndarray, target: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: candidates scored strictly above the row's target score, and candidates tied with it."""
    t = target[:, None]
    return (candidates & (s > t)).sum(axis=1), (candidates & (s == t)).sum(axis=1)


def heldout_ranks(
    scores: pd.DataFrame,
    heldout: pd.DataFrame,
    seen: pd.DataFrame,
    n_negatives: int = 100,
    seed: int = 0,
    negatives: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Rank of every held-out item in the full ranking and among sampled negatives.

    The protocol of many papers ("HR@10 of the held-out item among 100 sampled items the
    user has not interacted with") next to the full ranking it approximates, from one
    score matrix, as studied by Krichene & Rendle (KDD 2020).

    For a held-out row (user *u*, item *i*) the *negatives* (负样本) of *u* are every item
    of the catalogue (the columns of ``scores``) that *u* has no row for in ``seen`` nor
    in ``heldout``; so a user's other held-out items never count against it.

    * full: *i* is ranked against all of *u*'s negatives;
    * sampled: *i* is ranked against ``n_negatives`` of them, drawn uniformly without
      replacement, one draw per user shared by that user's held-out rows (or the
      negatives given in ``negatives``).

    Ties are kept explicit instead of being broken silently: ``*_rank`` is the *mid rank*
    :math:`1 + \\text{above} + \\text{tied}/2` (the expected rank when ties are broken at
    random) and ``*_tied`` the number of negatives with exactly the held-out item's
    score. :func:`rank_metrics` turns these into metrics; a model that scores every
    item equally then scores exactly what a random ranking scores in expectation,
    never a perfect 1.

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per user (index: user ids), one column per catalogue item (columns: item
        ids), finite scores, higher = ranked first; e.g. ``model.score_items(users)``.
    heldout : pandas.DataFrame
        The test interactions, ``user_id`` and ``item_id``, each pair once. Every user
        must be a row of ``scores`` and every item a column.
    seen : pandas.DataFrame
        The training interactions (``user_id``, ``item_id``): never negatives of that
        user. Pairs outside ``scores`` are ignored. Pass an empty frame with the two
        columns to rank against the whole catalogue.
    n_negatives : int, default 100
        Negatives sampled per user. A user with fewer negatives than this raises a
        ``ValueError`` (the sampled metric would silently use another denominator).
    seed : int, default 0
        Seed of the draw: the same inputs and seed give the same sample. Users draw in
        the order in which they first appear in ``heldout``.
    negatives : pandas.DataFrame, optional
        A fixed sample instead of a random one (``user_id``, ``item_id``), e.g. a
        published evaluation file; each pair must be a negative of its user.
        ``n_negatives`` and ``seed`` are then unused.

    Returns
    -------
    pandas.DataFrame
        One row per held-out row, in its order: ``user_id``, ``item_id``, ``full_rank``,
        ``full_tied``, ``n_full`` (number of negatives), ``sampled_rank``,
        ``sampled_tied``, ``n_sampled``.

    Raises
    ------
    ValueError
        Missing columns, an unknown user or item, non-finite scores, a held-out item
        that the user has also ``seen``, or fewer negatives than ``n_negatives``.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame([[0.9, 0.8, 0.7, 0.6, 0.6, 0.1]], index=[1], columns=list("abcdef"))
    >>> heldout = pd.DataFrame({"user_id": [1], "item_id": ["d"]})
    >>> seen = pd.DataFrame({"user_id": [1], "item_id": ["a"]})
    >>> sample = pd.DataFrame({"user_id": [1, 1], "item_id": ["e", "f"]})
    >>> heldout_ranks(scores, heldout, seen, negatives=sample).iloc[0].to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'user_id': 1, 'item_id': 'd', 'full_rank': 3.5, 'full_tied': 1, 'n_full': 4,
     'sampled_rank': 1.5, 'sampled_tied': 1, 'n_sampled': 2}
    """
    users, items, s = _score_matrix(scores)
    check_frame(heldout, "heldout", required=[USER, ITEM], unique=[USER, ITEM])
    check_frame(seen, "seen", required=[USER, ITEM], allow_empty=True)
    if negatives is None:
        n_negatives = check_positive_int(n_negatives, "n_negatives")
        check_positive_int(seed, "seed", 0)
    else:
        check_frame(negatives, "negatives", required=[USER, ITEM], unique=[USER, ITEM])
    for name, df in (("heldout", heldout), ("seen", seen), ("negatives", negatives)):
        if df is not None:  # e.g. seen pairs with ids of the wrong type would be silently ignored
            _check_ids(df[USER], name, USER, users, "scores.index (users)")
            _check_ids(df[ITEM], name, ITEM, items, "scores.columns (items)")
    u = users.get_indexer(heldout[USER])
    i = items.get_indexer(heldout[ITEM])
    for codes, col, where in ((u, USER, "index (users)"), (i, ITEM, "columns (items)")):
        if (codes < 0).any():
            missing = heldout[col].to_numpy()[codes < 0]
            raise ValueError(
                f"heldout: {len(pd.unique(missing))} {col} value(s) are not in the {where} of scores, "
                f"e.g. {_plain(missing[0])!r}. Score them too, or drop those rows first "
                f"(e.g. heldout[heldout.{col}.isin(scores.{'index' if col == USER else 'columns'})])."
            )
    # Only the users with a held-out row matter: one row each, in order of first appearance.
    rows = pd.Index(pd.unique(heldout[USER]))
    row_of = rows.get_indexer(heldout[USER])
    s_rows = s[users.get_indexer(rows)]
    seen_mask = _pairs_mask(seen, rows, items)
    if seen_mask[row_of, i].any():
        first = heldout[seen_mask[row_of, i]].iloc[0]
        raise ValueError(
            f"heldout: the pair (user_id={_plain(first[USER])!r}, item_id={_plain(first[ITEM])!r}) is also in "
            "seen; a test item the user interacted with in training cannot be ranked. Remove it from one of the two."
        )
    candidates = ~seen_mask & ~_pairs_mask(heldout, rows, items)
    n_pool = candidates.sum(axis=1)

    if negatives is None:
        short = n_pool < n_negatives
        if short.any():
            j = int(np.argmax(short))
            raise ValueError(
                f"n_negatives={n_negatives} but user {_plain(rows[j])!r} has only {n_pool[j]} items it has not "
                f"interacted with (smallest pool: {n_pool.min()}). Lower n_negatives to at most {n_pool.min()}."
            )
        # A uniform sample without replacement: the n smallest of i.i.d. uniform keys
        # over the user's negatives (keys of non-negatives pushed to +inf).
        rng = np.random.default_rng(seed)
        keys = rng.random(candidates.shape)
        keys[~candidates] = np.inf
        pick = np.argpartition(keys, n_negatives - 1, axis=1)[:, :n_negatives]
        sampled = np.zeros_like(candidates)
        np.put_along_axis(sampled, pick, True, axis=1)
    else:
        nu, ni = rows.get_indexer(negatives[USER]), items.get_indexer(negatives[ITEM])
        bad = (nu < 0) | (ni < 0)
        bad[~bad] = ~candidates[nu[~bad], ni[~bad]]
        if bad.any():
            first = negatives[bad].iloc[0]
            raise ValueError(
                f"negatives: (user_id={_plain(first[USER])!r}, item_id={_plain(first[ITEM])!r}) is not a negative "
                "of that user (the user has no held-out row, the item is not a column of scores, or the user has "
                "it in seen or heldout). Sample negatives only from items the user has not interacted with."
            )
        sampled = _pairs_mask(negatives, rows, items)

    n = len(heldout)
    full_above, full_tied = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    samp_above, samp_tied = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    for start in range(0, n, _RANK_BATCH):
        b = slice(start, start + _RANK_BATCH)
        r = row_of[b]
        target = s_rows[r, i[b]]
        full_above[b], full_tied[b] = _above_tied(s_rows[r], target, candidates[r])
        samp_above[b], samp_tied[b] = _above_tied(s_rows[r], target, sampled[r])
    return pd.DataFrame(
        {
            USER: heldout[USER].to_numpy(),
            ITEM: heldout[ITEM].to_numpy(),
            "full_rank": 1.0 + full_above + full_tied / 2.0,
            "full_tied": full_tied,
            "n_full": n_pool[row_of],
            "sampled_rank": 1.0 + samp_above + samp_tied / 2.0,
            "sampled_tied": samp_tied,
            "n_sampled": sampled.sum(axis=1)[row_of],
        }
    )


def _rank_values(rank: np.ndarray, tied: np.ndarray, n_neg: np.ndarray, k: int, ties: str) -> dict:
    """Per-row hit@k, ndcg@k, reciprocal rank and AUC of one relevant item with the given mid rank."""
    from scipy.special import digamma

    above = rank - 1.0 - tied / 2.0  # exact: tied / 2 is a multiple of 0.5
    if ties != "expected":
        r = above + 1.0 + (tied if ties == "pessimistic" else 0.0)
        auc = (n_neg - (r - 1.0)) / n_neg
        return {
            "hit": (r <= k).astype(float),
            "ndcg": np.where(r <= k, 1.0 / np.log2(r + 1.0), 0.0),
            "rr": 1.0 / r,
            "auc": auc,
        }
    # Random tie-breaking: the item lands on each of ranks above+1 .. above+1+tied with
    # probability 1/(tied+1); every metric below is the exact mean over those ranks.
    m = tied + 1.0
    hit = np.clip((k - above) / m, 0.0, 1.0)
    disc = np.r_[0.0, np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))]  # disc[j] = DCG of ranks 1..j
    hi, lo = np.minimum(above + m, k).astype(np.int64), np.minimum(above, k).astype(np.int64)
    ndcg = (disc[hi] - disc[lo]) / m
    rr = (digamma(above + m + 1.0) - digamma(above + 1.0)) / m  # (H(above + m) - H(above)) / m
    auc = (n_neg - above - tied / 2.0) / n_neg
    return {"hit": hit, "ndcg": ndcg, "rr": rr, "auc": auc}


def rank_metrics(
    ranks: pd.DataFrame, k: int = 10, ties: str = "expected", per_row: bool = False
) -> dict | pd.DataFrame:
    """HR@k, nDCG@k, MRR and AUC of the held-out items, on the full ranking and on the sample.

    Each row of ``ranks`` (from :func:`heldout_ranks`) has one relevant item, at rank
    *r* among its negatives. With a single relevant item the list metrics of this module
    reduce to functions of *r*, and this function evaluates exactly those:

    * hit@k = 1 if :math:`r \\le k` (equal to :func:`hit_rate_at_k`, and to
      :func:`recall_at_k`, on the top-k list of the same scores);
    * ndcg@k = :math:`1/\\log_2(r+1)` if :math:`r \\le k`, else 0 (IDCG = 1; equal to
      :func:`ndcg_at_k` with binary gain);
    * mrr = :math:`1/r` (average precision with one relevant item; no cut-off);
    * auc = share of the negatives ranked below the item (ties count one half).

    Going through ranks rather than top-k lists is what lets one score matrix give the
    full and the sampled value at once (a list of the sampled candidates would need a
    second recommendation call per user and seed); the test suite checks that hit@k
    and ndcg@k agree with :func:`hit_rate_at_k` and :func:`ndcg_at_k` on the lists.
    Means are over the rows of ``ranks`` (held-out items); with one held-out item per
    user, as in leave-last-out, that is the mean over users.

    Parameters
    ----------
    ranks : pandas.DataFrame
        Output of :func:`heldout_ranks`.
    k : int, default 10
        Cut-off of hit@k and ndcg@k.
    ties : {"expected", "pessimistic", "optimistic"}, default "expected"
        How negatives with the same score as the held-out item count. ``"expected"``:
        the exact expectation when ties are broken uniformly at random (a model that
        scores all items equally gets hit@k = k / (number of candidates), like a random
        ranking); ``"pessimistic"``: every tied negative ranks first; ``"optimistic"``:
        the held-out item ranks first among its ties (a constant model then looks
        perfect: shown only to measure how much ties matter).
    per_row : bool, default False
        Return each row's values instead of the means (for a bootstrap or a paired test).

    Returns
    -------
    dict or pandas.DataFrame
        ``{"full": {...}, "sampled": {...}}``, each with keys ``"hit@k"``, ``"ndcg@k"``
        (the actual ``k`` substituted), ``"mrr"``, ``"auc"`` and ``"n"`` (rows averaged);
        with ``per_row=True`` a frame aligned with ``ranks``: ``user_id``, ``item_id`` and
        the columns ``full_hit@k``, ``full_ndcg@k``, ``full_mrr``, ``full_auc`` and the
        same with ``sampled_``.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame([[0.9, 0.8, 0.7, 0.6, 0.6, 0.1]], index=[1], columns=list("abcdef"))
    >>> ranks = heldout_ranks(scores, pd.DataFrame({"user_id": [1], "item_id": ["d"]}),
    ...                       pd.DataFrame({"user_id": [1], "item_id": ["a"]}),
    ...                       negatives=pd.DataFrame({"user_id": [1, 1], "item_id": ["e", "f"]}))
    >>> m = rank_metrics(ranks, k=3)   # full: 3 or 4 at random (b, c above, e tied)
    >>> m["full"]["hit@3"], m["sampled"]["hit@3"]
    (0.5, 1.0)
    >>> rank_metrics(ranks, k=3, ties="pessimistic")["full"]["hit@3"]
    0.0
    """
    check_frame(
        ranks, "ranks", numeric=["full_rank", "full_tied", "n_full", "sampled_rank", "sampled_tied", "n_sampled"]
    )  # numeric columns are required too
    k = check_positive_int(k, "k")
    check_choice(ties, "ties", RANK_TIES)
    out, rows = {}, {}
    for which in ("full", "sampled"):
        n_neg = ranks[f"n_{which}"].to_numpy(dtype=float)
        if (n_neg < 1).any():
            raise ValueError(
                f"ranks: some rows have n_{which} = 0 negatives; their rank says nothing. Drop them first."
            )
        v = _rank_values(
            ranks[f"{which}_rank"].to_numpy(dtype=float), ranks[f"{which}_tied"].to_numpy(dtype=float), n_neg, k, ties
        )
        out[which] = {
            f"hit@{k}": float(v["hit"].mean()),
            f"ndcg@{k}": float(v["ndcg"].mean()),
            "mrr": float(v["rr"].mean()),
            "auc": float(v["auc"].mean()),
            "n": int(len(ranks)),
        }
        rows.update(
            {
                f"{which}_hit@{k}": v["hit"],
                f"{which}_ndcg@{k}": v["ndcg"],
                f"{which}_mrr": v["rr"],
                f"{which}_auc": v["auc"],
            }
        )
    if per_row:
        keys = {c: ranks[c].to_numpy() for c in (USER, ITEM) if c in ranks.columns}
        return pd.DataFrame({**keys, **rows}, index=ranks.index)
    return out
