"""Which scikit-learn pipeline to train: a built-in one by name, or a user's factory function.

Built-in names are listed in BUILTIN; classifiers and regressors share the one namespace (the
regressors' names say so). The task is read from the built estimator (training.task), never from
the name.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from training.task import CLASSIFICATION, REGRESSION, TaskError, likely_task, task_of

DEFAULT_PIPELINE = "logistic_regression"
DEFAULT_REGRESSION_PIPELINE = "ridge"


class PipelineSpecError(ValueError):
    """The pipeline factory cannot be found or does not build a classifier or a regressor."""


def _logistic_regression() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def _random_forest() -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0)


def _gradient_boosting() -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(random_state=0)


def _ridge() -> Any:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), Ridge(alpha=1.0))


def _random_forest_regressor() -> Any:
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=100, max_depth=8, random_state=0)


def _gradient_boosting_regressor() -> Any:
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(random_state=0)


BUILTIN: dict[str, Callable[[], Any]] = {
    "logistic_regression": _logistic_regression,
    "random_forest": _random_forest,
    "gradient_boosting": _gradient_boosting,
    "ridge": _ridge,
    "random_forest_regressor": _random_forest_regressor,
    "gradient_boosting_regressor": _gradient_boosting_regressor,
}


def default_pipeline(y: np.ndarray) -> str:
    """The built-in pipeline used when the user names none: `ridge` for a target that looks
    continuous (training.task.likely_task), `logistic_regression` otherwise."""
    return DEFAULT_REGRESSION_PIPELINE if likely_task(y) == REGRESSION else DEFAULT_PIPELINE


def load_function(spec: str, *, what: str = "pipeline") -> Callable[..., Any]:
    """The function named by `module:function` or `path/to/file.py:function` (`what` names it in
    errors: a pipeline factory, a baseline rule)."""
    if ":" not in spec:
        known = f"neither built in ({', '.join(BUILTIN)}) nor" if what == "pipeline" else "not"
        raise PipelineSpecError(
            f"{what} {spec!r} is {known} of the form 'module:function' or 'path/to/file.py:function'"
        )
    target, _, attribute = spec.rpartition(":")
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise PipelineSpecError(f"{what} file {path} does not exist")
            module_spec = importlib.util.spec_from_file_location(f"user_{what}_{path.stem}", path)
            if module_spec is None or module_spec.loader is None:
                raise PipelineSpecError(f"cannot import {path}")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except PipelineSpecError:
        raise
    except Exception as exc:
        raise PipelineSpecError(f"cannot import {target!r}: {type(exc).__name__}: {exc}") from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        raise PipelineSpecError(f"{target!r} has no callable {attribute!r}")
    return function  # type: ignore[no-any-return]


def build_pipeline(spec: str = DEFAULT_PIPELINE) -> Any:
    """Return an unfitted scikit-learn classifier or regressor (usually a Pipeline) for `spec`."""
    factory = BUILTIN.get(spec) or load_function(spec)
    try:
        estimator = factory()
    except Exception as exc:
        raise PipelineSpecError(f"pipeline factory {spec!r} failed: {type(exc).__name__}: {exc}") from exc
    if not hasattr(estimator, "fit") or not hasattr(estimator, "predict"):
        raise PipelineSpecError(
            f"pipeline factory {spec!r} returned {type(estimator).__name__}, which is not a scikit-learn "
            "classifier with predict_proba or a regressor"
        )
    try:
        task = task_of(estimator)
    except TaskError as exc:
        raise PipelineSpecError(f"pipeline factory {spec!r} returned {describe(estimator)}: {exc}") from exc
    if task == CLASSIFICATION and not hasattr(estimator, "predict_proba"):
        raise PipelineSpecError(
            f"pipeline factory {spec!r} returned {type(estimator).__name__}, which is not a scikit-learn "
            "classifier with predict_proba (serving answers probabilities; for SVC pass probability=True)"
        )
    return estimator


def describe(estimator: Any) -> str:
    steps = getattr(estimator, "steps", None)
    if steps:
        return " -> ".join(type(step).__name__ for _, step in steps)
    return type(estimator).__name__
