"""mtrec_lib.cf at its boundary: not fitted, one id for a list, ids of the wrong type, unseen ids."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from mtrec_lib import cf

TRAIN = pd.DataFrame(
    {
        "user_id": [1, 1, 2, 2, 3, 3, 12, 12],
        "item_id": [10, 20, 10, 30, 20, 30, 10, 40],
        "rating": [5.0, 3.0, 4.0, 2.0, 5.0, 4.0, 1.0, 3.0],
    }
)
ALL_MODELS = [cf.Popularity, cf.ItemTopN, cf.EASE, cf.UserKNN, cf.ItemKNN, cf.BiasedMF]
RATING_MODELS = [cf.UserKNN, cf.ItemKNN, cf.BiasedMF]


def _ids(model):
    return model.__name__


@pytest.mark.parametrize("model", ALL_MODELS, ids=_ids)
def test_not_fitted_is_sklearns_error_everywhere(model):
    calls = [lambda m: m.recommend([1]), lambda m: m.score_items([1]), lambda m: m.recommend()]
    if model in RATING_MODELS:
        calls.append(lambda m: m.predict(TRAIN))
    for call in calls:
        with pytest.raises(NotFittedError, match=f"{model.__name__} is not fitted yet; call fit first"):
            call(model())


@pytest.mark.parametrize("model", ALL_MODELS, ids=_ids)
def test_one_id_means_one_user(model):
    fitted = model().fit(TRAIN)
    # An int: was "'int' object is not iterable".
    pd.testing.assert_frame_equal(fitted.recommend(12, n=2), fitted.recommend([12], n=2))
    pd.testing.assert_frame_equal(fitted.recommend(np.int64(12), n=2), fitted.recommend([12], n=2))
    pd.testing.assert_frame_equal(fitted.score_items(12), fitted.score_items([12]))
    assert fitted.recommend(12, n=2)["user_id"].tolist() == [12, 12]
    # A str: was split into its characters, 'u', '1', '2'.
    named = model().fit(TRAIN.assign(user_id="u" + TRAIN["user_id"].astype(str)))
    recs = named.recommend("u12", n=2)
    assert recs["user_id"].unique().tolist() == ["u12"]
    pd.testing.assert_frame_equal(recs, named.recommend(["u12"], n=2))
    assert named.score_items("u12").index.tolist() == ["u12"]


def test_bad_user_ids_containers():
    model = cf.Popularity().fit(TRAIN)
    with pytest.raises(TypeError, match=r"user_ids is a DataFrame; pass its user column, e.g. df\['user_id'\]"):
        model.recommend(TRAIN)
    with pytest.raises(ValueError, match=r"user_ids must be one id or a 1-D list of ids, got shape \(2, 2\)"):
        model.recommend(np.array([[1, 2], [3, 12]]))


@pytest.mark.parametrize("model", RATING_MODELS, ids=_ids)
def test_predict_with_ids_of_another_type_is_an_error(model):
    fitted = model().fit(TRAIN)
    as_str = TRAIN.astype({"user_id": str})
    with pytest.raises(
        ValueError,
        match=rf"{model.__name__}.predict\(df\): column 'user_id' has dtype str but the "
        r"model was fitted on int64 ids.*df\['user_id'\] = df\['user_id'\]"
        r"\.astype\('int64'\)",
    ):
        fitted.predict(as_str)
    with pytest.raises(ValueError, match=r"column 'item_id' has dtype str .* int64"):
        fitted.predict(TRAIN.astype({"item_id": str}))
    # The other way round: fitted on str ids, asked with ints.
    fitted = model().fit(as_str)
    with pytest.raises(
        ValueError,
        match=r"column 'user_id' has dtype int64 but the model was fitted on str ids"
        r".*astype\('str'\)",
    ):
        fitted.predict(TRAIN)
    # After the suggested conversion, the predictions are the int-fitted ones.
    np.testing.assert_allclose(fitted.predict(as_str), model().fit(TRAIN).predict(TRAIN))


@pytest.mark.parametrize("model", ALL_MODELS, ids=_ids)
def test_recommend_with_ids_of_another_type_is_an_error(model):
    fitted = model().fit(TRAIN)
    for method in ("recommend", "score_items"):
        with pytest.raises(
            ValueError,
            match=rf"{method}: user_ids has dtype str but the model was fitted on int64 "
            r"ids.*2 would match.*pd.Index\(user_ids\).astype\('int64'\)",
        ):
            getattr(fitted, method)(["1", "12"])
    # Ids that match nothing after conversion either are unseen users (the popular items), not an error.
    assert len(fitted.recommend(["new user"], n=2)) == 2


@pytest.mark.parametrize("model", RATING_MODELS, ids=_ids)
def test_unseen_ids_give_one_warning_with_counts(model):
    fitted = model().fit(TRAIN)
    test = pd.DataFrame({"user_id": [1, 7, 7, 8, 2, 2], "item_id": [10, 10, 20, 99, 99, 30]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = fitted.predict(test)
    assert len(caught) == 1 and caught[0].category is UserWarning
    msg = str(caught[0].message)
    assert msg.startswith(
        f"{model.__name__}.predict(df): 3 of 6 rows have a user_id not seen in fit (2 users) "
        "and 2 of 6 rows have an item_id not seen in fit (1 item); they get "
    )
    assert caught[0].filename == __file__  # points at the caller's line
    assert np.isfinite(pred).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # known ids only: no warning
        fitted.predict(TRAIN)
        fitted.predict(test.iloc[:0])
