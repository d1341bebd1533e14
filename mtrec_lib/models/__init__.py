"""Multi-task models in Keras 3 (TensorFlow backend).

* :class:`MultiTaskLearning` - the estimator: ``fit``/``predict``/``evaluate`` on DataFrames;
  :class:`LabelLeakWarning` when a feature gives a label away.
* Layers, reusable on their own: :class:`MMoE`, :class:`CGC`, :class:`PLE`,
  :class:`ExpertGroup`, :class:`MLP`, :class:`Tower`.
* Loss weighting: :class:`FixedWeights`, :class:`UncertaintyWeighting`, :class:`GradNorm`,
  :class:`DynamicWeightAverage`; combining task gradients (PCGrad, MGDA):
  :mod:`mtrec_lib.models.gradients`.
* :func:`build_network` builds any of :data:`ARCHITECTURES` as a functional model.

Examples
--------
>>> import mtrec_lib as mt
>>> mt.models.ARCHITECTURES
('single_task', 'shared_bottom', 'omoe', 'mmoe', 'cgc', 'ple', 'esmm')
"""

from __future__ import annotations

import os
import sys


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up lines (oneDNN, CUDA probing) kept off stderr.

    TensorFlow 2.21 prints them through absl before ``TF_CPP_MIN_LOG_LEVEL`` applies, and a
    book page would show them under the first cell that touches a model. Python errors
    still surface: only file descriptor 2 is muted, and only during the import.
    """
    if "tensorflow" in sys.modules or os.environ.get("MTREC_VERBOSE_TF"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no usable stderr descriptor (some embedded interpreters)
        return
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()  # platform probing prints too: do it now
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()

from mtrec_lib.models import gradients  # noqa: E402
from mtrec_lib.models.architectures import ARCHITECTURES, DEFAULT_HYPERPARAMETERS, build_network  # noqa: E402
from mtrec_lib.models.estimator import TASK_TYPES, MultiTaskLearning  # noqa: E402
from mtrec_lib.models.features import LABEL_COLUMNS, TIME_COLUMNS, FeatureSpec, LabelLeakWarning  # noqa: E402
from mtrec_lib.models.layers import (  # noqa: E402
    CGC,
    MLP,
    PLE,
    ExpertGroup,
    LogitShift,
    MMoE,
    PositionBias,
    ProductLayer,
    Tower,
)
from mtrec_lib.models.losses import (  # noqa: E402
    DynamicWeightAverage,
    FixedWeights,
    GradNorm,
    UncertaintyWeighting,
    task_loss,
)
from mtrec_lib.models.retrieval import JointRetrievalRating, TwoTowerRatingModel, top_k_accuracy  # noqa: E402
from mtrec_lib.models.training import MultiTaskModel  # noqa: E402

__all__ = [
    "MultiTaskLearning",
    "MultiTaskModel",
    "ARCHITECTURES",
    "TASK_TYPES",
    "DEFAULT_HYPERPARAMETERS",
    "build_network",
    "FeatureSpec",
    "LabelLeakWarning",
    "LABEL_COLUMNS",
    "TIME_COLUMNS",
    "MMoE",
    "CGC",
    "PLE",
    "ExpertGroup",
    "MLP",
    "Tower",
    "ProductLayer",
    "PositionBias",
    "LogitShift",
    "FixedWeights",
    "UncertaintyWeighting",
    "GradNorm",
    "DynamicWeightAverage",
    "task_loss",
    "gradients",
    "JointRetrievalRating",
    "TwoTowerRatingModel",
    "top_k_accuracy",
]
