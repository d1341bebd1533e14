"""A student follows ``MultiTaskLearning.fit`` from a DataFrame to Keras' ``fit`` through three modules."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

import mtrec_lib as mt

LIBRARY = str(Path(mt.__file__).parent) + "/"


def _library_module(filename: str) -> str | None:
    return filename[len(LIBRARY) :] if filename.startswith(LIBRARY) else None


def _calls_until_keras_fit(run) -> tuple[set[tuple[str, str, str]], str]:
    """(caller module, callee module, callee function) of calls between library modules until
    Keras' own ``fit`` starts, and the module that calls it."""
    edges: set[tuple[str, str, str]] = set()
    reached = []

    def profile(frame, event, arg):
        if reached or event != "call":
            return
        code = frame.f_code
        if "/keras/" in code.co_filename and code.co_name == "fit":
            caller = frame.f_back
            while caller is not None and "/keras/" in caller.f_code.co_filename:
                caller = caller.f_back  # Keras' own wrappers (traceback filtering)
            reached.append(_library_module(caller.f_code.co_filename) if caller else None)
            return
        callee = _library_module(code.co_filename)
        if callee is None:
            return
        caller = frame.f_back
        while caller is not None and _library_module(caller.f_code.co_filename) is None:
            caller = caller.f_back
        if caller is not None and _library_module(caller.f_code.co_filename) != callee:
            edges.add((_library_module(caller.f_code.co_filename), callee, code.co_name))

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    assert reached, "Keras' fit was never called"
    return edges, reached[0]


def test_fit_reaches_keras_through_estimator_features_and_architectures():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"user_id": rng.integers(0, 20, 400), "price": rng.normal(size=400)})
    df["click"] = (rng.random(400) < 0.5).astype(int)
    df["purchase"] = df["click"] * (rng.random(400) < 0.3)
    model = mt.MultiTaskLearning(tasks={"click": "binary", "purchase": "binary"}, seed=0)

    edges, hands_over = _calls_until_keras_fit(lambda: model.fit(df, epochs=1, verbose=0))
    # The path: estimator.py checks the frame and asks features.py to encode it, then
    # architectures.py builds the network and the model that trains it, whose fit is Keras'.
    assert hands_over == "models/architectures.py"
    from_estimator = {(callee, function) for caller, callee, function in edges if caller == "models/estimator.py"}
    modules = {callee for callee, _ in from_estimator}
    assert {"models/features.py", "models/architectures.py"} <= modules
    # Besides those two, the estimator only calls checks of its input and parameters.
    others = {(m, f) for m, f in from_estimator if m not in {"models/features.py", "models/architectures.py"}}
    assert all(f.startswith("check_") or m == "data/validate.py" for m, f in others), sorted(others)
