"""Evaluation metrics: rating error, classification, top-N ranking and beyond accuracy.

One signature shape for every ranking metric, as in Microsoft Recommenders:
``metric(recs, truth, k=10)`` where

* ``recs`` is a recommendation frame with columns ``user_id``, ``item_id`` and
  ``rank`` (1 = shown first), for example the output of ``ItemKNN.recommend``;
* ``truth`` is a frame with the relevant ``user_id``, ``item_id`` pairs (every row
  is relevant unless ``threshold`` is given, then rows with ``rating >= threshold``).

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

Positions come from sorting each user's rows by ``rank``; only the order matters, so
ranks 1, 2, 5 are positions 1, 2, 3.

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
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from mtrec_lib.data.validate import check_choice, check_frame, check_positive_int

__all__ = [
    "rmse",
    "mae",
    "auc",
    "logloss",
    "precision_at_k",
    "recall_at_k",
    "ndcg_at_k",
    "map_at_k",
    "hit_rate_at_k",
    "ranking_report",
    "catalog_coverage",
    "intra_list_diversity",
    "novelty",
]

USER, ITEM, RANK, RATING = "user_id", "item_id", "rank", "rating"


# ---------------------------------------------------------------------------
# Pointwise metrics on aligned arrays
# ---------------------------------------------------------------------------
def _pair(y_true, y_pred, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two aligned, finite, non-empty float vectors, or a ValueError saying which is wrong."""
    out = []
    for values, name in zip((y_true, y_pred), names):
        try:
            arr = np.asarray(values, dtype=float).ravel()
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must hold numbers ({err}). Convert it with pd.to_numeric.") from None
        if arr.size == 0:
            raise ValueError(f"{name} is empty. Pass at least one value.")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinite values. Drop or fill them first.")
        out.append(arr)
    if out[0].shape != out[1].shape:
        raise ValueError(
            f"{names[0]} has {out[0].size} values but {names[1]} has {out[1].size}; "
            "they must be aligned row by row."
        )
    return out[0], out[1]


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


def _binary_labels(y: np.ndarray, name: str) -> np.ndarray:
    outside = np.setdiff1d(np.unique(y), [0.0, 1.0])
    if outside.size:
        raise ValueError(f"{name} must hold only 0 and 1, found {outside[:5].tolist()}. Threshold it first.")
    return y


def auc(y_true, y_score) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random negative.

    Computed with the Mann-Whitney rank statistic; tied scores count one half, exactly as
    :func:`sklearn.metrics.roc_auc_score`.

    Raises
    ------
    ValueError
        If ``y_true`` is not binary or holds a single class (AUC is undefined then).

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
    large finite amount; ``eps=None`` uses the float64 machine epsilon, as
    :func:`sklearn.metrics.log_loss` does.

    Examples
    --------
    >>> round(logloss([1, 0], [0.9, 0.2]), 6)
    0.164252
    """
    y, p = _pair(y_true, y_prob, ("y_true", "y_prob"))
    _binary_labels(y, "y_true")
    if (p < 0).any() or (p > 1).any():
        raise ValueError("y_prob must be probabilities in [0, 1]. Apply a sigmoid to scores first.")
    eps = np.finfo(float).eps if eps is None else float(eps)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


# ---------------------------------------------------------------------------
# Ranking metrics over recommendation and truth frames
# ---------------------------------------------------------------------------
def _relevant(truth: pd.DataFrame, threshold: float | None, rating_col: str) -> pd.DataFrame:
    """Validated truth rows that count as relevant (user_id, item_id[, rating_col])."""
    numeric = [rating_col] if (threshold is not None or rating_col in truth.columns) else []
    check_frame(truth, "truth", required=[USER, ITEM], numeric=numeric, unique=[USER, ITEM])
    if threshold is not None:
        truth = truth[truth[rating_col] >= threshold]
    return truth


def _positions(recs: pd.DataFrame, k: int) -> pd.DataFrame:
    """The first k rows of each user's list, with their 1-based position."""
    # An empty frame has no rank to check (and often an object dtype from an empty list).
    numeric = [RANK] if len(recs) else []
    check_frame(recs, "recs", required=[USER, ITEM, RANK], numeric=numeric, unique=[USER, ITEM], allow_empty=True)
    ordered = recs[[USER, ITEM, RANK]].sort_values([USER, RANK], kind="stable")
    pos = ordered.groupby(USER, sort=False).cumcount().to_numpy() + 1
    ordered = ordered.assign(position=pos)
    return ordered[ordered["position"] <= k]


def _per_user(
    recs: pd.DataFrame,
    truth: pd.DataFrame,
    k: int,
    threshold: float | None,
    users: str,
    rating_col: str = RATING,
    gain: str = "binary",
) -> pd.DataFrame:
    """One row per evaluated user: n_rel, hits, dcg, idcg, ap sums (the shared core)."""
    k = check_positive_int(k, "k")
    check_choice(users, "users", ["truth", "common"])
    rel = _relevant(truth, threshold, rating_col)
    top = _positions(recs, k)
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
        rel_gain = np.ones(len(rel))
    else:
        if rating_col not in rel.columns:
            raise ValueError(f"truth: gain={gain!r} needs a {rating_col!r} column with graded relevance.")
        g = rel[rating_col].to_numpy(dtype=float)
        rel_gain = g if gain == "linear" else 2.0**g - 1.0
    rel = pd.DataFrame({USER: rel[USER].to_numpy(), ITEM: rel[ITEM].to_numpy(), "gain": rel_gain})

    user_index = pd.Index(pd.unique(rel[USER]))
    n_users = len(user_index)
    rel_u = user_index.get_indexer(rel[USER])
    n_rel = np.bincount(rel_u, minlength=n_users)

    # Ideal DCG: a user's gains sorted descending, the first k of them at positions 1..k.
    order = np.lexsort((-rel["gain"].to_numpy(), rel_u))
    sorted_u = rel_u[order]
    starts = np.r_[0, np.cumsum(n_rel)[:-1]]
    ideal_pos = np.arange(len(order)) - starts[sorted_u] + 1
    keep = ideal_pos <= k
    idcg = np.bincount(
        sorted_u[keep], weights=rel["gain"].to_numpy()[order][keep] / np.log2(ideal_pos[keep] + 1), minlength=n_users
    )

    hits = top.merge(rel, on=[USER, ITEM], how="inner").sort_values([USER, "position"], kind="stable")
    hit_u = user_index.get_indexer(hits[USER])
    pos = hits["position"].to_numpy(dtype=float)
    n_hits = np.bincount(hit_u, minlength=n_users)
    dcg = np.bincount(hit_u, weights=hits["gain"].to_numpy() / np.log2(pos + 1), minlength=n_users)
    # j-th hit of a user (1-based) at position p contributes precision j / p to the AP sum.
    j = hits.groupby(USER, sort=False).cumcount().to_numpy() + 1
    ap_sum = np.bincount(hit_u, weights=j / pos, minlength=n_users)
    return pd.DataFrame(
        {"n_rel": n_rel, "hits": n_hits, "dcg": dcg, "idcg": idcg, "ap_sum": ap_sum}, index=user_index
    )


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
    t = _per_user(recs, truth, k, threshold, users)
    return float((t["hits"] / k).mean())


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
    t = _per_user(recs, truth, k, threshold, users)
    return float((t["hits"] / t["n_rel"]).mean())


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
    t = _per_user(recs, truth, k, threshold, users)
    return float((t["hits"] > 0).mean())


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
    t = _per_user(recs, truth, k, threshold, users, gain=gain)
    # A user whose relevant items all have gain 0 has IDCG 0: counted as 0, not nan.
    ndcg = np.divide(t["dcg"], t["idcg"], out=np.zeros(len(t)), where=t["idcg"].to_numpy() > 0)
    return float(np.mean(ndcg))


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
    t = _per_user(recs, truth, k, threshold, users)
    denom = t["n_rel"] if denominator == "n_relevant" else np.minimum(t["n_rel"], k)
    return float((t["ap_sum"] / denom).mean())


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
    ndcg = np.divide(t["dcg"], t["idcg"], out=np.zeros(len(t)), where=t["idcg"].to_numpy() > 0)
    return {
        f"p@{k}": float((t["hits"] / k).mean()),
        f"recall@{k}": float((t["hits"] / t["n_rel"]).mean()),
        f"ndcg@{k}": float(ndcg.mean()),
        "map": float((t["ap_sum"] / t["n_rel"]).mean()),
        f"map@{k}": float((t["ap_sum"] / np.minimum(t["n_rel"], k)).mean()),
        f"hit@{k}": float((t["hits"] > 0).mean()),
        "n_users": int(len(t)),
    }


# ---------------------------------------------------------------------------
# Beyond accuracy: coverage, diversity, novelty
# ---------------------------------------------------------------------------
def _item_set(catalog) -> pd.Index:
    if isinstance(catalog, pd.DataFrame):
        check_frame(catalog, "catalog", required=[ITEM])
        return pd.Index(pd.unique(catalog[ITEM]))
    items = pd.Index(pd.unique(np.asarray(list(catalog))))
    if len(items) == 0:
        raise ValueError("catalog is empty. Pass the items that could be recommended, e.g. train.")
    return items


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
    if k is not None:
        recs = _positions(recs, check_positive_int(k, "k"))
    else:
        check_frame(recs, "recs", required=[USER, ITEM], allow_empty=True)
    shown = pd.unique(recs[ITEM])
    return float(items.isin(shown).sum() / len(items))


def _user_lists(recs: pd.DataFrame, k: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Item ids of each list padded into a (n_users, L) array, with a validity mask."""
    if RANK in recs.columns or k is not None:
        top = _positions(recs, check_positive_int(k, "k") if k is not None else max(len(recs), 1))
    else:  # no rank column: the rows' order is the list order
        check_frame(recs, "recs", required=[USER, ITEM], unique=[USER, ITEM], allow_empty=True)
        top = recs
    users = pd.Index(pd.unique(top[USER]))
    u = users.get_indexer(top[USER])
    col = top.groupby(USER, sort=False).cumcount().to_numpy()
    width = int(col.max()) + 1 if len(col) else 0
    ids = np.empty((len(users), width), dtype=object)
    mask = np.zeros((len(users), width), dtype=bool)
    ids[u, col] = top[ITEM].to_numpy()
    mask[u, col] = True
    return ids, mask


def intra_list_diversity(
    recs: pd.DataFrame,
    item_features: pd.DataFrame | None = None,
    similarity: pd.DataFrame | None = None,
    k: int | None = None,
) -> float:
    """Mean over users of the average pairwise dissimilarity ``1 - sim(i, j)`` inside a list.

    Give either ``item_features`` (index ``item_id``, one numeric column per feature;
    similarity is the cosine of the feature vectors) or ``similarity`` (a square frame with
    item ids as index and columns). Lists with fewer than two items have no pairs and
    are left out of the mean.

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
    ids, mask = _user_lists(recs, k)
    counts = mask.sum(1)
    ids, mask, counts = ids[counts >= 2], mask[counts >= 2], counts[counts >= 2]
    if len(counts) == 0:
        raise ValueError("recs: no user has two or more items; diversity inside a list is undefined.")
    lookup = item_features.index if item_features is not None else similarity.index
    flat = pd.Index(lookup).get_indexer(ids[mask])
    if (flat < 0).any():
        missing = ids[mask][flat < 0][0]
        raise ValueError(f"item {missing!r} is recommended but has no row in the item features / similarity.")
    idx = np.zeros(mask.shape, dtype=np.int64)
    idx[mask] = flat
    if item_features is not None:
        check_frame(item_features.reset_index(drop=True), "item_features", numeric=list(item_features.columns))
        f = item_features.to_numpy(dtype=float)
        norm = np.linalg.norm(f, axis=1, keepdims=True)
        f = np.divide(f, norm, out=np.zeros_like(f), where=norm > 0)
        v = f[idx]  # (users, L, d)
        sim = np.einsum("uld,umd->ulm", v, v)
    else:
        s = similarity.reindex(columns=similarity.index).to_numpy(dtype=float)
        sim = s[idx[:, :, None], idx[:, None, :]]
    pair = mask[:, :, None] & mask[:, None, :]
    pair &= ~np.eye(mask.shape[1], dtype=bool)[None]
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
    if k is not None:
        recs = _positions(recs, check_positive_int(k, "k"))
    else:
        check_frame(recs, "recs", required=[USER, ITEM], allow_empty=True)
    n_users = train[USER].nunique()
    users_per_item = train.drop_duplicates([USER, ITEM])[ITEM].value_counts()
    p = recs[ITEM].map(users_per_item / n_users).dropna().to_numpy(dtype=float)
    if p.size == 0:
        raise ValueError("recs: none of the recommended items appears in train; novelty is undefined.")
    return float(np.mean(-np.log2(p)))
