"""Which scikit-learn pipeline to train: ours by default, or a user's factory function."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_PIPELINE = "logistic_regression"


class PipelineSpecError(ValueError):
    """The pipeline factory cannot be found or does not build a classifier."""


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


BUILTIN: dict[str, Callable[[], Any]] = {
    "logistic_regression": _logistic_regression,
    "random_forest": _random_forest,
    "gradient_boosting": _gradient_boosting,
}


def _load_factory(spec: str) -> Callable[[], Any]:
    if ":" not in spec:
        raise PipelineSpecError(
            f"pipeline {spec!r} is neither built in ({', '.join(BUILTIN)}) nor of the form "
            "'module:function' or 'path/to/file.py:function'"
        )
    target, _, attribute = spec.rpartition(":")
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise PipelineSpecError(f"pipeline file {path} does not exist")
            module_spec = importlib.util.spec_from_file_location(f"user_pipeline_{path.stem}", path)
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
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise PipelineSpecError(f"{target!r} has no callable {attribute!r}")
    return factory  # type: ignore[no-any-return]


def build_pipeline(spec: str = DEFAULT_PIPELINE) -> Any:
    """Return an unfitted scikit-learn classifier (usually a Pipeline) for `spec`."""
    from sklearn.base import is_classifier

    factory = BUILTIN.get(spec) or _load_factory(spec)
    try:
        estimator = factory()
    except Exception as exc:
        raise PipelineSpecError(f"pipeline factory {spec!r} failed: {type(exc).__name__}: {exc}") from exc
    if not hasattr(estimator, "fit") or not hasattr(estimator, "predict_proba"):
        raise PipelineSpecError(
            f"pipeline factory {spec!r} returned {type(estimator).__name__}, which is not a scikit-learn "
            "classifier with predict_proba"
        )
    if not is_classifier(estimator):
        raise PipelineSpecError(
            f"pipeline factory {spec!r} returned a {type(estimator).__name__}: only classifiers are supported"
        )
    return estimator


def describe(estimator: Any) -> str:
    steps = getattr(estimator, "steps", None)
    if steps:
        return " -> ".join(type(step).__name__ for _, step in steps)
    return type(estimator).__name__
