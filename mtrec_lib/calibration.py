"""Calibration (校准): turn a model's scores into probabilities that match observed frequencies.

A ranking model only needs the *order* of its scores to be right, but a multi-task ranker's
outputs are multiplied (:func:`mtrec_lib.pipeline.fuse_scores`), multiplied by prices, or
compared with thresholds, and for that the numbers themselves must be right: among
impressions predicted at 0.1, one in ten should be clicked. A calibrator is a monotone map
fitted on held-out rows (never on the rows the model was trained on, where it is
over-confident) from predicted to observed frequency:

* ``"platt"``: Platt scaling (Platt 1999), a logistic regression on the logit
  of the prediction, :math:`\\sigma(\\alpha\\,\\mathrm{logit}(p) + \\beta)`. Two parameters,
  so it needs few rows; it corrects over- or under-confidence (:math:`\\alpha`) and a
  shifted base rate (:math:`\\beta`), but only those.
* ``"isotonic"``: isotonic regression (Zadrozny and Elkan 2002), the best
  non-decreasing step function in squared error. Any monotone distortion, but it needs
  more rows and its steps tie neighbouring predictions.

Both are fitted with scikit-learn. Measure the result with
:func:`mtrec_lib.metrics.expected_calibration_error` and
:func:`mtrec_lib.metrics.reliability_curve`.

Examples
--------
>>> import numpy as np
>>> import mtrec_lib as mt
>>> rng = np.random.default_rng(0)
>>> p = rng.uniform(0.01, 0.99, 5_000)
>>> y = (rng.random(5_000) < p ** 2).astype(int)        # the model is too optimistic
>>> cal = Calibrator("isotonic").fit(p, y)
>>> before = mt.metrics.expected_calibration_error(y, p)
>>> after = mt.metrics.expected_calibration_error(y, cal.predict(p))
>>> bool(after < before / 5)
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from mtrec_lib.data.validate import check_choice, check_frame
from mtrec_lib.metrics import _binary_labels, _check_same_labels, _pair, _probabilities, _vector

__all__ = ["Calibrator", "TaskCalibrator", "METHODS"]

#: The calibration maps :class:`Calibrator` offers.
METHODS = ("platt", "isotonic")

# Calibrated probabilities are kept strictly inside (0, 1): a fused score takes their log,
# and a calibrated 0 would veto an item whatever its other tasks say.
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


class Calibrator(BaseEstimator):
    """A monotone map from predicted probabilities to calibrated ones, fitted on held-out labels.

    Parameters
    ----------
    method : {"platt", "isotonic"}, default "isotonic"
        ``"platt"``: scikit-learn's ``LogisticRegression`` on the single feature
        :math:`\\mathrm{logit}(p)` (Platt scaling). On the logit because a network's
        probability is :math:`\\sigma(z)` of a logit *z*: a logistic regression on *z*
        rescales and shifts the network's own last layer, :math:`\\sigma(\\alpha z +
        \\beta)`, and :math:`\\alpha = 1, \\beta = 0` is the identity; on *p* itself the
        identity would not even be reachable. Fitted without a penalty.
        ``"isotonic"``: scikit-learn's ``IsotonicRegression(out_of_bounds="clip",
        y_min=0, y_max=1)``: a non-decreasing step function; predictions outside the
        fitted range get the value of the nearest end.

    Attributes
    ----------
    estimator_ : LogisticRegression or IsotonicRegression
        The fitted scikit-learn model.
    slope_, intercept_ : float
        Platt only: :math:`\\alpha` and :math:`\\beta` above. :math:`\\alpha < 1` means the
        model was over-confident (its probabilities too extreme), :math:`\\alpha > 1`
        under-confident.
    n_samples_ : int
        Rows the calibrator was fitted on.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> p = rng.uniform(0.02, 0.98, 20_000)
    >>> z = np.log(p / (1 - p))
    >>> y = (rng.random(20_000) < 1 / (1 + np.exp(-(2 * z + 1)))).astype(int)
    >>> cal = Calibrator("platt").fit(p, y)
    >>> round(cal.slope_, 1), round(cal.intercept_, 1)          # recovers 2 * logit + 1
    (2.0, 1.0)
    >>> Calibrator("isotonic").fit([0.1, 0.4, 0.6, 0.9], [0, 1, 0, 1]).predict([0.1, 0.5, 0.9]).round(3).tolist()
    [0.0, 0.5, 1.0]
    """

    def __init__(self, method: str = "isotonic"):
        self.method = method

    def fit(self, y_prob, y_true) -> Calibrator:
        """Fit the map on predictions ``y_prob`` and 0/1 labels ``y_true`` of held-out rows.

        Parameters
        ----------
        y_prob : array-like of float in [0, 1]
            The model's predicted probabilities.
        y_true : array-like of 0/1
            What happened, row by row (two Series are paired by index label).

        Returns
        -------
        Calibrator
            ``self``.
        """
        check_choice(self.method, "method", METHODS)
        p, y = _pair(y_prob, y_true, ("y_prob", "y_true"))  # two Series: paired by index label
        _probabilities(p, "y_prob")
        _binary_labels(y, "y_true")
        if np.unique(y).size < 2:
            raise ValueError(
                f"y_true holds a single class ({int(y[0])}); a calibrator needs held-out rows with "
                "both outcomes. Use a longer calibration period."
            )
        if self.method == "platt":
            # No penalty: with one feature and thousands of rows there is nothing to regularise,
            # and a penalty would pull the slope toward 0 (every row to the base rate).
            self.estimator_ = LogisticRegression(C=np.inf).fit(_logit(p)[:, None], y.astype(int))
            self.slope_ = float(self.estimator_.coef_[0, 0])
            self.intercept_ = float(self.estimator_.intercept_[0])
        else:
            self.estimator_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, y)
        self.n_samples_ = int(p.size)
        return self

    def predict(self, y_prob) -> np.ndarray:
        """Calibrated probabilities of ``y_prob``, clipped into [1e-6, 1 - 1e-6]."""
        if not hasattr(self, "estimator_"):
            raise NotFittedError("Calibrator is not fitted yet; call fit first (fit(y_prob, y_true) on held-out rows).")
        p = _probabilities(_vector(y_prob, "y_prob"), "y_prob")
        if self.method == "platt":
            out = self.estimator_.predict_proba(_logit(p)[:, None])[:, 1]
        else:
            out = self.estimator_.predict(p)
        return np.clip(out, _EPS, 1 - _EPS)


class TaskCalibrator(BaseEstimator):
    """One :class:`Calibrator` per task column of a predictions frame.

    Parameters
    ----------
    method : {"platt", "isotonic"} or dict, default "isotonic"
        One method for every task, or a dict task -> method.
    tasks : list of str, optional
        The task columns to calibrate; ``None``: every column of the predictions given
        to ``fit``. Other columns pass through :meth:`transform` unchanged.

    Attributes
    ----------
    calibrators_ : dict
        Task -> fitted :class:`Calibrator`.
    tasks_ : list of str

    Examples
    --------
    >>> import pandas as pd
    >>> pred = pd.DataFrame({"click": [0.1, 0.4, 0.6, 0.9], "purchase": [0.01, 0.02, 0.2, 0.3]})
    >>> labels = pd.DataFrame({"click": [0, 1, 0, 1], "purchase": [0, 0, 1, 1]})
    >>> tc = TaskCalibrator("isotonic").fit(pred, labels)
    >>> tc.transform(pred).round(3)
       click  purchase
    0    0.0       0.0
    1    0.5       0.0
    2    0.5       1.0
    3    1.0       1.0
    """

    def __init__(self, method: str | Mapping[str, str] = "isotonic", tasks: Iterable[str] | None = None):
        self.method = method
        self.tasks = tasks

    def _method(self, task: str) -> str:
        if isinstance(self.method, Mapping):
            if task not in self.method:
                raise KeyError(
                    f"method: no calibration method for task {task!r}; give one, e.g. "
                    f"method={{..., {task!r}: 'isotonic'}}."
                )
            return self.method[task]
        return self.method

    def fit(self, predictions: pd.DataFrame, labels: pd.DataFrame) -> TaskCalibrator:
        """Fit one calibrator per task on held-out ``predictions`` and the 0/1 ``labels`` frame.

        ``labels`` holds one column per task, named as in ``predictions``, with the same
        index labels (e.g. ``model.predict(val)`` and ``val``); rows are paired by label.
        """
        if not isinstance(predictions, pd.DataFrame):
            raise ValueError(
                "predictions must be a DataFrame with one probability column per task, "
                "e.g. MultiTaskLearning.predict(df)."
            )
        tasks = list(predictions.columns) if self.tasks is None else list(self.tasks)
        if not tasks:
            raise ValueError("tasks: nothing to calibrate; pass a predictions frame with task columns.")
        check_frame(predictions, "predictions", required=tasks, numeric=tasks)
        check_frame(labels, "labels", required=tasks, binary=tasks)
        if not labels.index.equals(predictions.index):  # paired by index label, as the metrics pair Series
            _check_same_labels(predictions.index, labels.index, ("predictions", "labels"))
            labels = labels.reindex(predictions.index)
        self.calibrators_ = {}
        for t in tasks:
            cal = Calibrator(self._method(t))
            try:
                cal.fit(predictions[t], labels[t])
            except ValueError as err:
                raise ValueError(f"task {t!r}: {err}") from None
            self.calibrators_[t] = cal
        self.tasks_ = tasks
        return self

    def transform(self, predictions: pd.DataFrame) -> pd.DataFrame:
        """The same frame (index and columns) with every fitted task column calibrated."""
        if not hasattr(self, "calibrators_"):
            raise NotFittedError("TaskCalibrator is not fitted yet; call fit first (fit(predictions, labels)).")
        check_frame(predictions, "predictions", required=self.tasks_, numeric=self.tasks_, allow_empty=True)
        out = predictions.copy()
        for t, cal in self.calibrators_.items():
            if len(out):
                out[t] = cal.predict(predictions[t].to_numpy())
        return out
