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

from mtrec_lib import _quiet_tensorflow

# Silent even when mtrec_lib.models is the first thing imported (see mtrec_lib/_quiet_tensorflow.py).
_quiet_tensorflow.install()
import tensorflow  # noqa: E402, F401

from mtrec_lib.models import gradients  # noqa: E402
from mtrec_lib.models.architectures import (  # noqa: E402
    ARCHITECTURES,
    DEFAULT_HYPERPARAMETERS,
    MultiTaskModel,  # noqa: E402
    build_network,
)
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
