"""The heuristic baseline every model must beat on its holdout.

A baseline is a prediction rule that needs no learning beyond a count or an average:

- classifiers: the training share's majority class (labels), and its class prior as the
  probabilities of every row (for log loss and ROC AUC);
- regressors: the training share's mean;
- or the user's rule, `module:function` or `path/file.py:function`, loaded like a user's pipeline
  and called as `rule(X, feature_names)`: X is the holdout's feature rows, a 2-D float64 numpy
  array of shape (n, n_features) holding the float32 values serving sees, columns in
  `feature_names` order; it returns one prediction per row (class labels for a classifier,
  numbers for a regressor). A user's rule gives labels only, so a classifier's baseline has no
  probability metrics (log_loss, roc_auc) then.

The baseline is scored with the same metrics as the model on the same holdout, and compared on
one primary metric per task: accuracy (higher is better) for classifiers, rmse (lower is better)
for regressors. The model beats its baseline when its improvement on that metric, in the metric's
own units and direction, is greater than the margin (0.0: strictly better).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from training.pipelines import PipelineSpecError, load_function
from training.task import CLASSIFICATION, Task

Policy = Literal["refuse", "warn"]
POLICIES: tuple[Policy, ...] = ("refuse", "warn")
DEFAULT_MARGIN = 0.0
PRIMARY_METRIC: dict[str, tuple[str, bool]] = {
    "classification": ("accuracy", True),
    "regression": ("rmse", False),
}
"""The metric a model is compared with its baseline on, per task, and whether higher is better."""

BaselineRule = Callable[[np.ndarray, list[str]], Any]


class BaselineError(ValueError):
    """The baseline rule cannot be loaded or returned unusable predictions."""


class BaselineNotBeatenError(BaselineError):
    """The model does not beat its baseline by the margin on the holdout, and the policy refuses it."""


@dataclass(frozen=True)
class BaselineSpec:
    """Which baseline to fit and what to do when the model does not beat it."""

    rule: str | None = None
    """None for the default (majority class / mean), else `module:function` or `file.py:function`."""
    margin: float = DEFAULT_MARGIN
    policy: Policy = "refuse"

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise BaselineError(f"baseline policy {self.policy!r} is not one of {', '.join(POLICIES)}")
        if not np.isfinite(self.margin) or self.margin < 0:
            raise BaselineError(f"baseline margin {self.margin!r} must be a finite number >= 0")


@dataclass(frozen=True)
class BaselinePredictions:
    kind: str
    labels: np.ndarray
    """Class labels (classifier) or numbers (regressor), one per holdout row."""
    probabilities: np.ndarray | None
    """Class probabilities in the model's class order, or None when the rule gives labels only."""
    detail: dict[str, Any]


def load_rule(spec: str) -> BaselineRule:
    """The user's rule function, loaded the way a user's pipeline factory is."""
    try:
        return load_function(spec, what="baseline")
    except PipelineSpecError as exc:
        raise BaselineError(str(exc)) from exc


def default_predictions(
    task: Task, y_train: np.ndarray, classes: np.ndarray | None, rows: int
) -> BaselinePredictions:
    """Majority class and class prior of the training share (classifier), or its mean (regressor)."""
    if task == CLASSIFICATION:
        assert classes is not None
        counts = np.array([np.sum(y_train == c) for c in classes], dtype=np.float64)
        majority = classes[int(np.argmax(counts))]
        prior = counts / counts.sum()
        return BaselinePredictions(
            kind="majority_class",
            labels=np.full(rows, majority, dtype=classes.dtype),
            probabilities=np.tile(prior, (rows, 1)),
            detail={"class": _plain(majority), "prior": [float(p) for p in prior]},
        )
    mean = float(np.mean(y_train))
    return BaselinePredictions(
        kind="mean", labels=np.full(rows, mean), probabilities=None, detail={"value": mean}
    )


def rule_predictions(
    spec: str, task: Task, X: np.ndarray, feature_names: list[str], classes: np.ndarray | None
) -> BaselinePredictions:
    """Run the user's rule on the holdout rows and check what it returns."""
    rule = load_rule(spec)
    try:
        raw = rule(X, list(feature_names))
    except Exception as exc:
        raise BaselineError(f"baseline {spec!r} failed: {type(exc).__name__}: {exc}") from exc
    labels = validate_predictions(spec, task, raw, len(X), classes)
    return BaselinePredictions(kind=f"custom:{spec}", labels=labels, probabilities=None, detail={})


def validate_predictions(
    spec: str, task: Task, raw: Any, rows: int, classes: np.ndarray | None
) -> np.ndarray:
    """One prediction per row: labels among the training classes (classifier) or finite numbers
    (regressor), as a 1-D array (a column of shape (n, 1) is accepted)."""
    try:
        values = np.asarray(raw)
    except Exception as exc:
        raise BaselineError(
            f"baseline {spec!r} returned {type(raw).__name__}, not an array of predictions"
        ) from exc
    if values.ndim == 2 and values.shape[1] == 1:
        values = values.reshape(-1)
    if values.ndim != 1 or len(values) != rows:
        raise BaselineError(
            f"baseline {spec!r} returned shape {values.shape}: it must return one prediction per row, "
            f"shape ({rows},) for the {rows} holdout rows"
        )
    if task == CLASSIFICATION:
        assert classes is not None
        known = {_plain(c) for c in classes}
        unknown = [v for v in values.tolist() if v not in known]
        if unknown:
            raise BaselineError(
                f"baseline {spec!r} returned {unknown[0]!r}, which is not a class label of the "
                f"training data (classes: {', '.join(repr(c) for c in sorted(known, key=str))})"
            )
        return np.asarray(values.tolist(), dtype=classes.dtype)
    if values.dtype.kind not in "iuf":
        raise BaselineError(
            f"baseline {spec!r} returned {values.dtype} values: a regressor's baseline must return numbers"
        )
    numbers = values.astype(np.float64)
    if not np.isfinite(numbers).all():
        raise BaselineError(f"baseline {spec!r} returned non-finite values (NaN or infinity)")
    return numbers


def compare(
    task: Task, model_metrics: dict[str, float], baseline_metrics: dict[str, float], spec: BaselineSpec
) -> dict[str, Any]:
    """Model vs baseline on the task's primary metric. `improvement` is in the metric's units,
    positive when the model is better; the model beats the baseline when it exceeds the margin."""
    metric, higher_is_better = PRIMARY_METRIC[task]
    model = float(model_metrics[metric])
    baseline = float(baseline_metrics[metric])
    improvement = model - baseline if higher_is_better else baseline - model
    return {
        "metric": metric,
        "higher_is_better": higher_is_better,
        "model": model,
        "baseline": baseline,
        "improvement": improvement,
        "margin": spec.margin,
        "beats_baseline": bool(improvement > spec.margin),
        "policy": spec.policy,
    }


def describe_comparison(kind: str, comparison: dict[str, Any]) -> str:
    """One line naming both figures, for a refusal or a warning."""
    direction = "higher" if comparison["higher_is_better"] else "lower"
    return (
        f"the model does not beat its baseline ({kind}) on the holdout: {comparison['metric']} "
        f"{comparison['model']:.4f} vs baseline {comparison['baseline']:.4f} ({direction} is better; "
        f"improvement {comparison['improvement']:+.4f}, margin required > {comparison['margin']:g})"
    )


def _plain(value: Any) -> Any:
    """A numpy scalar as its Python value (JSON-ready and comparable with tolist() values)."""
    return value.item() if isinstance(value, np.generic) else value
