"""What kind of model is being trained, read from the estimator itself, and how its holdout is split.

The task is never a flag: a pipeline whose final step is a scikit-learn classifier is a
classification model, one whose final step is a regressor is a regression model. Everything that
differs between the two (target parsing, split, export, parity, metrics) asks this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Task = Literal["classification", "regression"]
CLASSIFICATION: Task = "classification"
REGRESSION: Task = "regression"


class TaskError(ValueError):
    """The estimator is neither a classifier nor a regressor, or the target does not fit its task."""


def final_step(estimator: Any) -> Any:
    """The estimator that makes the predictions: the last step of a Pipeline, else the estimator."""
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def task_of(estimator: Any) -> Task:
    """`classification` or `regression`, from scikit-learn's own estimator type of the final step."""
    from sklearn.base import is_classifier, is_regressor

    last = final_step(estimator)
    if is_classifier(last):
        return CLASSIFICATION
    if is_regressor(last):
        return REGRESSION
    raise TaskError(
        f"{type(last).__name__} is neither a scikit-learn classifier nor a regressor: "
        "only classifiers and regressors are supported"
    )


def target_for(task: Task, y: np.ndarray) -> np.ndarray:
    """The target as the task trains on it.

    Regression: float64 numbers, one column (a multi-output target is refused, naming its shape).
    Classification: labels as parsed, except float labels, which become their text ("1.0"): class
    labels are compared and served as strings or integers, never as floats.
    """
    values = np.asarray(y)
    if values.ndim > 1 and not (values.ndim == 2 and values.shape[1] == 1):
        raise TaskError(
            f"the target has shape {values.shape}: multi-output models are not supported; "
            "train one model per target column"
        )
    values = values.reshape(-1)
    if task == REGRESSION:
        if values.dtype.kind not in "iuf":
            sample = next((str(v) for v in values.tolist() if not _is_number(v)), str(values[0]))
            raise TaskError(
                f"a regressor needs a numeric target, and this one has non-numbers (e.g. {sample!r}); "
                "choose a classifier pipeline or encode the target as numbers"
            )
        result = values.astype(np.float64)
        if not np.isfinite(result).all():
            raise TaskError("the regression target has non-finite values (NaN or infinity)")
        return result
    if values.dtype.kind == "f":
        return values.astype(str)
    return values


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


CONTINUOUS_MIN_DISTINCT = 20
"""A numeric integer target with more distinct values than this is taken as continuous."""


def likely_task(y: np.ndarray) -> Task:
    """The task a target looks like, for choosing a default pipeline when the user names none.

    A numeric target is continuous (regression) when it has a fractional value or more than
    CONTINUOUS_MIN_DISTINCT distinct values; anything else (text labels, a few integer codes) is
    classification.
    """
    values = np.asarray(y).reshape(-1)
    if values.dtype.kind not in "iuf" or values.size == 0:
        return CLASSIFICATION
    as_float = values.astype(np.float64)
    if values.dtype.kind == "f" and not np.array_equal(as_float, np.round(as_float)):
        return REGRESSION
    return REGRESSION if len(np.unique(values)) > CONTINUOUS_MIN_DISTINCT else CLASSIFICATION


@dataclass(frozen=True)
class HoldoutSplit:
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    test_index: np.ndarray
    """The data row (0-based, in the order loaded) of each holdout row."""
    stratified: bool


def split_holdout(X: np.ndarray, y: np.ndarray, *, task: Task, test_size: float, seed: int) -> HoldoutSplit:
    """The train/holdout split: stratified by class for classification (when there are several
    classes), plain for regression, whose continuous target has no classes to stratify by."""
    from sklearn.model_selection import train_test_split

    classes, counts = np.unique(y, return_counts=True)
    stratify = y if task == CLASSIFICATION and len(classes) > 1 else None
    if stratify is not None and counts.min() < 2:
        raise TaskError(
            f"the target has {len(classes)} classes and class {str(classes[np.argmin(counts)])!r} has a "
            "single row: a classifier needs at least two rows per class"
        )
    try:
        X_train, X_test, y_train, y_test, _, test_index = train_test_split(
            X, y, np.arange(len(y)), test_size=test_size, random_state=seed, stratify=stratify
        )
    except ValueError as exc:
        raise TaskError(f"cannot split a holdout of {test_size:g} of {len(y)} rows: {exc}") from exc
    return HoldoutSplit(X_train, X_test, y_train, y_test, test_index, stratified=stratify is not None)
