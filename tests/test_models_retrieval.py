"""Tests for mtrec_lib.models.retrieval: the joint retrieval + rating estimator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtrec_lib.models.retrieval import JointRetrievalRating, TwoTowerRatingModel, top_k_accuracy

N_USERS, N_ITEMS, PER_USER = 80, 40, 12
FAST = dict(embedding_dim=8, rating_units=(16,), batch_size=64, learning_rate=0.1, seed=0)


def clustered_ratings(seed: int = 0) -> pd.DataFrame:
    """Two user groups, each interacting only with its own half of the catalogue.

    Who-watched-what is fully explained by the groups (retrieval can learn it), while
    the rating depends only on the item (so rating training teaches nothing about
    which half a user watches).
    """
    rng = np.random.default_rng(seed)
    quality = rng.normal(0, 1, N_ITEMS)
    rows = []
    for u in range(N_USERS):
        half = np.arange(N_ITEMS // 2) + (N_ITEMS // 2) * (u % 2)
        for i in rng.choice(half, PER_USER, replace=False):
            rows.append((f"u{u}", int(i), float(np.clip(np.round(3 + quality[i] + rng.normal(0, 0.5)), 1, 5))))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    df = clustered_ratings()
    test = df.groupby("user_id").tail(2)
    return df.drop(test.index), test


@pytest.fixture(scope="module")
def fitted(data) -> JointRetrievalRating:
    return JointRetrievalRating(epochs=5, **FAST).fit(data[0])


# ---------------------------------------------------------------------------
# The metric against hand-computed examples
# ---------------------------------------------------------------------------
def test_top_k_accuracy_hand_example():
    scores = np.array(
        [
            [0.9, 0.5, 0.1, 0.0],  # true item 1: one item above -> rank 2
            [0.2, 0.3, 0.8, 0.1],  # true item 0: two items above -> rank 3
            [0.4, 0.4, 0.0, 0.4],  # true item 1: three-way tie for first -> rank 1
            [0.1, 0.2, 0.3, 0.4],
        ]
    )  # true item not in catalogue -> miss
    positives = np.array([1, 0, 1, -1])
    assert top_k_accuracy(scores, positives, k=1) == pytest.approx(1 / 4)
    assert top_k_accuracy(scores, positives, k=2) == pytest.approx(2 / 4)
    assert top_k_accuracy(scores, positives, k=3) == pytest.approx(3 / 4)
    assert top_k_accuracy(scores, positives, k=4) == pytest.approx(3 / 4)


def test_top_k_accuracy_matches_argsort_rank():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(200, 30))
    positives = rng.integers(0, 30, 200)
    ranks = (-scores).argsort(axis=1).argsort(axis=1)[np.arange(200), positives]  # 0-based
    for k in (1, 5, 29, 30):
        assert top_k_accuracy(scores, positives, k=k) == pytest.approx(np.mean(ranks < k))


@pytest.mark.parametrize("bad", [dict(k=0), dict(positives=np.array([0, 5])), dict(positives=np.array([0]))])
def test_top_k_accuracy_bad_input(bad):
    args = dict(scores=np.zeros((2, 5)), positives=np.array([0, 1]), k=1) | bad
    with pytest.raises(ValueError):
        top_k_accuracy(**args)


def test_evaluate_top_k_equals_numpy_recomputation(fitted, data):
    test = data[1]
    users = fitted.user_embeddings()[fitted.user_ids_.get_indexer(test["user_id"]) + 1]
    scores = users @ fitted.item_embeddings()[1:].T
    positives = fitted.item_ids_.get_indexer(test["item_id"])
    for k in (1, 5, 20):
        assert fitted.evaluate(test, k=k)[f"top{k}_accuracy"] == pytest.approx(top_k_accuracy(scores, positives, k=k))
    # RMSE is over the same rows the rating head predicts
    want = np.sqrt(np.mean((test["rating"].to_numpy() - fitted.predict_rating(test)) ** 2))
    assert fitted.evaluate(test)["rmse"] == pytest.approx(want)


def test_exclude_seen_never_lowers_accuracy_and_keeps_the_test_item(fitted, data):
    train, test = data
    plain = fitted.evaluate(test, k=5)["top5_accuracy"]
    masked = fitted.evaluate(test, k=5, exclude_seen=True)["top5_accuracy"]
    assert masked >= plain
    # evaluating on training rows with exclude_seen: the true item itself stays a candidate
    assert fitted.evaluate(train, k=N_ITEMS, exclude_seen=True)[f"top{N_ITEMS}_accuracy"] == 1.0


# ---------------------------------------------------------------------------
# Shapes and alignment
# ---------------------------------------------------------------------------
def test_shapes_and_alignment(fitted, data):
    test = data[1]
    pred = fitted.predict_rating(test)
    assert pred.shape == (len(test),) and np.isfinite(pred).all()
    reversed_pred = fitted.predict_rating(test.iloc[::-1])
    np.testing.assert_allclose(reversed_pred[::-1], pred, rtol=1e-5)
    assert fitted.user_embeddings().shape == (N_USERS + 1, 8)
    assert fitted.item_embeddings().shape == (N_ITEMS + 1, 8)
    assert set(fitted.history_) == {"loss", "rating_loss", "retrieval_loss"}
    assert all(len(v) == 5 for v in fitted.history_.values())


def test_recommend_contract(fitted, data):
    train = data[0]
    recs = fitted.recommend(["u0", "u1", "u0"], n=5)
    assert list(recs.columns) == ["user_id", "item_id", "score", "rank"]
    assert recs["user_id"].tolist() == ["u0"] * 5 + ["u1"] * 5
    assert recs.groupby("user_id")["rank"].apply(list).tolist() == [[1, 2, 3, 4, 5]] * 2
    assert (recs.groupby("user_id")["score"].diff().dropna() <= 0).all()
    seen = set(map(tuple, train[["user_id", "item_id"]].to_numpy().tolist()))
    assert not any((u, i) in seen for u, i in zip(recs["user_id"], recs["item_id"]))
    # scores are the dot products of the embeddings
    u = fitted.user_embeddings()[fitted.user_ids_.get_loc("u0") + 1]
    top = recs[recs.user_id == "u0"]
    items = fitted.item_embeddings()[fitted.item_ids_.get_indexer(top["item_id"]) + 1]
    np.testing.assert_allclose(top["score"].to_numpy(), items @ u, rtol=1e-5)
    with_seen = fitted.recommend(["u0"], n=N_ITEMS + 10, exclude_seen=False)
    assert len(with_seen) == N_ITEMS


def test_catalogue_items_and_unknown_ids_use_the_oov_bucket(data):
    train, test = data
    model = JointRetrievalRating(epochs=1, **FAST).fit(train, items=list(range(N_ITEMS + 3)))
    assert len(model.item_ids_) == N_ITEMS + 3  # catalogue-only items are candidates
    odd = pd.DataFrame({"user_id": ["stranger", "u0"], "item_id": [0, 999], "rating": [3.0, 4.0]})
    pred = model.predict_rating(odd)  # no crash: OOV rows
    assert pred.shape == (2,) and np.isfinite(pred).all()
    # an item outside the catalogue can never be a hit
    assert model.evaluate(odd.iloc[[1]], k=N_ITEMS + 3)[f"top{N_ITEMS + 3}_accuracy"] == 0.0
    assert len(model.recommend(["stranger"], n=3)) == 3


# ---------------------------------------------------------------------------
# Determinism and the loss weights
# ---------------------------------------------------------------------------
def test_same_seed_same_numbers(data):
    train, test = data
    a = JointRetrievalRating(epochs=2, **FAST).fit(train)
    b = JointRetrievalRating(epochs=2, **FAST).fit(train)
    # Training is bit for bit the same: weights and predictions.
    np.testing.assert_array_equal(a.user_embeddings(), b.user_embeddings())
    np.testing.assert_array_equal(a.item_embeddings(), b.item_embeddings())
    np.testing.assert_array_equal(a.predict_rating(test), b.predict_rating(test))
    # The logged epoch losses are sums over each batch, and TensorFlow's CPU sum kernels can
    # round the last bit differently depending on where a buffer lands in memory (measured:
    # allocating unrelated tensors between two fits changes the logged loss by 1-2 float32
    # ulps in about a quarter of trials, while weights and predictions stay identical).
    # Their gradients do not depend on the summation order, so training is unaffected.
    assert a.history_.keys() == b.history_.keys()
    for key in a.history_:
        np.testing.assert_allclose(a.history_[key], b.history_[key], rtol=1e-6, err_msg=key)
    c = JointRetrievalRating(epochs=2, **{**FAST, "seed": 1}).fit(train)
    assert not np.allclose(a.predict_rating(test), c.predict_rating(test))


def test_loss_weights_select_the_task(data):
    train, test = data
    chance = 5 / (N_ITEMS - (PER_USER - 2))  # 5 of the items a user has not rated yet
    kw = dict(FAST, epochs=10)
    rating_only = JointRetrievalRating(rating_weight=1, retrieval_weight=0, **kw).fit(train)
    retrieval_only = JointRetrievalRating(rating_weight=0, retrieval_weight=1, **kw).fit(train)
    r, t = (m.evaluate(test, k=5, exclude_seen=True) for m in (rating_only, retrieval_only))
    # retrieval-only learns which half of the catalogue a user watches; rating-only's dot
    # products carry no such signal and stay near chance
    assert t["top5_accuracy"] > 2 * chance
    assert abs(r["top5_accuracy"] - chance) < 0.1
    # rating-only learns the ratings; retrieval-only's rating head never moved (outputs ~ 0)
    assert r["rmse"] < 1.0 < 2.0 < t["rmse"]


def test_zero_weight_head_receives_no_update(data):
    train = data[0]
    short = JointRetrievalRating(rating_weight=0, retrieval_weight=1, epochs=1, **FAST).fit(train)
    long = JointRetrievalRating(rating_weight=0, retrieval_weight=1, epochs=3, **FAST).fit(train)
    for a, b in zip(
        short.model_.rating_mlp.weights + short.model_.rating_out.weights,
        long.model_.rating_mlp.weights + long.model_.rating_out.weights,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.allclose(short.item_embeddings(), long.item_embeddings())


def test_retrieval_only_needs_no_rating_column(data):
    implicit = data[0][["user_id", "item_id"]]
    model = JointRetrievalRating(rating_weight=0, epochs=1, **FAST).fit(implicit)
    assert len(model.recommend(["u3"], n=2)) == 2


# ---------------------------------------------------------------------------
# Bad input and parameters
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "mutate, column",
    [
        (lambda d: d.drop(columns="item_id"), "item_id"),
        (lambda d: d.drop(columns="rating"), "rating"),
        (lambda d: d.assign(rating=np.nan), "rating"),
        (lambda d: d.assign(rating="good"), "rating"),
        (lambda d: d.assign(user_id=d["user_id"].where(d.index != d.index[0])), "user_id"),
    ],
)
def test_bad_frames_name_the_column(data, mutate, column):
    with pytest.raises(ValueError, match=column):
        JointRetrievalRating(epochs=1, **FAST).fit(mutate(data[0]))


def test_bad_frames_at_evaluate_and_predict(fitted, data):
    with pytest.raises(ValueError, match="rating"):
        fitted.evaluate(data[1].drop(columns="rating"))
    with pytest.raises(ValueError, match="user_id"):
        fitted.predict_rating(data[1].drop(columns="user_id"))
    with pytest.raises(ValueError, match="empty"):
        fitted.predict_rating(data[1].iloc[:0])
    with pytest.raises(TypeError):
        fitted.evaluate(data[1].to_numpy())


@pytest.mark.parametrize(
    "params, word",
    [
        (dict(rating_weight=0, retrieval_weight=0), "both 0"),
        (dict(rating_weight=-1), "rating_weight"),
        (dict(retrieval_weight=float("nan")), "retrieval_weight"),
        (dict(embedding_dim=0), "embedding_dim"),
        (dict(epochs=1.5), "epochs"),
        (dict(learning_rate=0), "learning_rate"),
        (dict(optimizer="rmsprop"), "optimizer"),
    ],
)
def test_bad_parameters(data, params, word):
    with pytest.raises(ValueError, match=word):
        JointRetrievalRating(**{**FAST, "epochs": 1, **params}).fit(data[0])


def test_unfitted_and_params():
    model = JointRetrievalRating(embedding_dim=4)
    from sklearn.exceptions import NotFittedError

    for call in (
        lambda: model.recommend(["u0"]),
        model.user_embeddings,
        model.item_embeddings,
        lambda: model.predict_rating(pd.DataFrame({"user_id": [1], "item_id": [1]})),
        lambda: model.evaluate(pd.DataFrame({"user_id": [1], "item_id": [1], "rating": [3.0]})),
    ):
        with pytest.raises(NotFittedError, match="JointRetrievalRating is not fitted yet: call fit first"):
            call()
    assert model.get_params()["embedding_dim"] == 4
    assert model.set_params(epochs=7) is model and model.epochs == 7
    with pytest.raises(ValueError, match="Invalid parameter 'epoch'"):
        model.set_params(epoch=7)
    assert "embedding_dim=4" in repr(model)


def test_keras_model_config_round_trip():
    net = TwoTowerRatingModel(n_users=3, n_items=4, embedding_dim=2, rating_units=(4,), retrieval_weight=0.5)
    cfg = net.get_config()
    clone = TwoTowerRatingModel.from_config(cfg)
    assert (clone.n_items, clone.embedding_dim, clone.retrieval_weight) == (4, 2, 0.5)


# ---------------------------------------------------------------------------
# The losses, against numpy
# ---------------------------------------------------------------------------
def _softmax_ce_sum(logits: np.ndarray) -> float:
    logits = logits - logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-np.trace(log_p))


def test_in_batch_softmax_and_logq_correction_match_numpy():
    log_q = np.log(np.array([1.0, 0.5, 0.3, 0.15, 0.05]))  # row 0: OOV bucket
    plain = TwoTowerRatingModel(n_users=3, n_items=4, embedding_dim=3, rating_units=(4,))
    corrected = TwoTowerRatingModel(n_users=3, n_items=4, embedding_dim=3, rating_units=(4,), item_log_q=log_q)
    x = {"user": np.array([1, 2, 3, 1]), "item": np.array([1, 2, 4, 3])}
    y = np.array([4.0, 3.0, 5.0, 1.0], dtype="float32")
    for net in (plain, corrected):
        net(x)
    for name in ("user_embedding", "item_embedding", "rating_mlp", "rating_out"):
        getattr(corrected, name).set_weights(getattr(plain, name).get_weights())
    out = plain(x)
    u, i = np.asarray(out["user"]), np.asarray(out["item"])
    rating_loss, retrieval_loss = plain.task_losses(x, y, out)
    assert float(rating_loss) == pytest.approx(np.mean((y - np.asarray(out["rating"]).ravel()) ** 2), rel=1e-5)
    assert float(retrieval_loss) == pytest.approx(_softmax_ce_sum(u @ i.T), rel=1e-5)
    _, corrected_loss = corrected.task_losses(x, y, corrected(x))
    assert float(corrected_loss) == pytest.approx(_softmax_ce_sum(u @ i.T - log_q[x["item"]][None, :]), rel=1e-5)


def test_eval_data_records_learning_curves(data):
    train, test = data
    model = JointRetrievalRating(epochs=2, logq_correction=True, **FAST).fit(train, eval_data=test)
    assert len(model.history_["top100_accuracy"]) == 2 and len(model.history_["rmse"]) == 2
    assert model.history_["rmse"][-1] == pytest.approx(model.evaluate(test)["rmse"])


def test_missing_ratings_train_retrieval_only(data):
    train, test = data
    sparse_train = train.assign(rating=train["rating"].where(np.arange(len(train)) % 4 == 0))
    model = JointRetrievalRating(epochs=1, **FAST).fit(sparse_train)
    assert np.isfinite(model.history_["rating_loss"]).all()
    # the rating loss of a batch is the mean over its rated rows only
    x = {"user": np.array([1, 2, 3]), "item": np.array([1, 2, 3])}
    out = model.model_(x)
    y = np.array([4.0, np.nan, 2.0], dtype="float32")
    pred = np.asarray(out["rating"]).ravel()
    rating_loss, _ = model.model_.task_losses(x, y, out)
    assert float(rating_loss) == pytest.approx(((4 - pred[0]) ** 2 + (2 - pred[2]) ** 2) / 2, rel=1e-5)
    # evaluate scores every row for retrieval, only rated rows for RMSE
    half = test.assign(rating=test["rating"].where(np.arange(len(test)) % 2 == 0))
    rated = half[half["rating"].notna()]
    assert model.evaluate(half)["rmse"] == pytest.approx(model.evaluate(rated)["rmse"])
    assert model.evaluate(half, k=5)["top5_accuracy"] == pytest.approx(model.evaluate(test, k=5)["top5_accuracy"])


def test_doctests():
    import doctest

    from mtrec_lib.models import retrieval

    assert doctest.testmod(retrieval).failed == 0


# ---------------------------------------------------------------------------
# The chapter notebook (executed by the book build)
# ---------------------------------------------------------------------------
NOTEBOOK = "notebooks/ch03_experiments/03_joint_retrieval_rating"


@pytest.mark.slow
def test_notebook_numbers(built_site):
    from conftest import notebook_results, toc_files

    if NOTEBOOK not in toc_files():
        pytest.skip(f"{NOTEBOOK} is not listed in book/_toc.yml yet")
    r = notebook_results(NOTEBOOK + ".ipynb")
    # "the joint model meets the goal on both tasks" (TFRS published joint: 0.235 / 1.110)
    assert r["goal_met"] is True
    assert r["joint"]["top100"] >= 0.235 and r["joint"]["rmse"] <= 1.110
    # "rating-only ranks no better than chance (100 / 1682)"
    assert abs(r["rating_only"]["top100"] - 100 / 1682) < 0.03
    # "retrieval-only's rating head never trains: RMSE above 3.5"
    assert r["retrieval_only"]["rmse"] > 3.5
    # "joint retrieves about as well as retrieval-only, rates nearly as well as rating-only"
    assert abs(r["joint"]["top100"] - r["retrieval_only"]["top100"]) < 0.02
    assert r["rating_only"]["rmse"] <= r["joint"]["rmse"] < r["rating_only"]["rmse"] + 0.1
