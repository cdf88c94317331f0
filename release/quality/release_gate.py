"""The quality gate of a release: which metric, margin, minimum labels and longest wait; the arms of
the two versions from joined rows; and the gate's decision on them (release.quality.gate.decide).

Metrics: `accuracy` (classifiers, per row 1/0), `mae` (regressors, per row |error|), `rmse`
(regressors, per row the squared error: the test compares mean squared errors, and a margin given
in the target's units m becomes (r + m)^2 - r^2 at the primary's current RMSE r), or `business`
(the configured business metric, per row: common.business_metric). Plain JSON in and out, so the
in-process runner and the release controller's Lambda share it (release/gates.py runs it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from common.business_metric import BusinessAccumulator, BusinessMetric, BusinessMetricError
from common.observe.feedback import Feedback
from common.observe.prediction_log import PredictionRow
from release.errors import RefusedError
from release.quality.arms import ArmSummary, Direction
from release.quality.gate import DEFAULT_MARGIN, DEFAULT_MIN_LABELS, GateDecision, QualityGateConfig, decide
from release.quality.join import Metric, row_metric

GATE_METRICS = ("accuracy", "mae", "rmse", "business")
DEFAULT_MAX_WAIT_S = 3600.0


@dataclass(frozen=True)
class QualityGateSpec:
    """What `--quality-gate METRIC --quality-margin M --quality-min-labels N --quality-max-wait 1h`
    asks for; `log_bucket` is where the prediction log and feedback are (the shadow stack's)."""

    metric: str
    margin: float = DEFAULT_MARGIN
    min_labels: int = DEFAULT_MIN_LABELS
    max_wait_s: float = DEFAULT_MAX_WAIT_S
    log_bucket: str = ""
    business: Mapping[str, Any] | None = None
    config_extra: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.metric not in GATE_METRICS:
            raise RefusedError(f"--quality-gate {self.metric!r} is not one of {', '.join(GATE_METRICS)}")
        if self.metric == "business" and not self.business:
            raise RefusedError("--quality-gate business needs a business metric (--business-metric ...)")
        if not (math.isfinite(self.max_wait_s) and self.max_wait_s > 0):
            raise RefusedError(f"--quality-max-wait must be positive, got {self.max_wait_s:g}s")
        try:
            self.config()
        except ValueError as exc:
            raise RefusedError(f"quality gate: {exc}") from None
        if self.business:
            try:
                BusinessMetric.from_dict(self.business)
            except BusinessMetricError as exc:
                raise RefusedError(str(exc)) from None

    def config(self, margin: float | None = None) -> QualityGateConfig:
        extra: dict[str, Any] = dict(self.config_extra)
        if "burn_in" in extra:
            extra["burn_in"] = int(extra["burn_in"])
        return QualityGateConfig(
            margin=self.margin if margin is None else margin, min_labels=self.min_labels, **extra
        )

    def direction(self) -> Direction:
        if self.metric == "accuracy":
            return Direction.HIGHER_IS_BETTER
        if self.metric == "business":
            assert self.business is not None
            higher = BusinessMetric.from_dict(self.business).higher_is_better
            return Direction.HIGHER_IS_BETTER if higher else Direction.LOWER_IS_BETTER
        return Direction.LOWER_IS_BETTER

    def describe(self) -> str:
        return (
            f"quality gate: {self.metric}, margin {self.margin:g}, at least {self.min_labels} labelled rows "
            f"of the new version, waiting at most {self.max_wait_s:g}s for labels after each bake"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "margin": self.margin,
            "min_labels": self.min_labels,
            "max_wait_s": self.max_wait_s,
            "log_bucket": self.log_bucket,
            "business": dict(self.business) if self.business else None,
            "config_extra": dict(self.config_extra),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QualityGateSpec:
        return cls(
            metric=str(data["metric"]),
            margin=float(data.get("margin", DEFAULT_MARGIN)),
            min_labels=int(data.get("min_labels", DEFAULT_MIN_LABELS)),
            max_wait_s=float(data.get("max_wait_s", DEFAULT_MAX_WAIT_S)),
            log_bucket=str(data.get("log_bucket") or ""),
            business=data.get("business") or None,
            config_extra={k: float(v) for k, v in (data.get("config_extra") or {}).items()},
        )

    def with_log_bucket(self, bucket: str) -> QualityGateSpec:
        return replace(self, log_bucket=bucket)


@dataclass
class _Arm:
    values: list[float] = field(default_factory=list)
    labelled: int = 0
    business: BusinessAccumulator | None = None


def gate_arms(
    rows: Iterable[tuple[PredictionRow, Feedback | None]], spec: QualityGateSpec, base: str, candidate: str
) -> tuple[ArmSummary, ArmSummary, dict[str, Any]]:
    """The primary's and the new version's summaries of the gate's per-row metric, and the counts
    (labelled rows, predictions per version) the history shows beside the decision."""
    business = BusinessMetric.from_dict(spec.business) if spec.business else None
    arms = {base: _Arm(), candidate: _Arm()}
    predictions = dict.fromkeys(arms, 0)
    for row, feedback in rows:
        arm = arms.get(row.function_version)
        if arm is None:
            continue
        predictions[row.function_version] += 1
        if feedback is None:
            continue
        arm.labelled += 1
        value = _row_value(spec.metric, feedback, row)
        if spec.metric == "business":
            assert business is not None
            value = business.row_value(
                feedback.label,
                row.predicted,
                getattr(row, "probabilities", None),
                getattr(feedback, "reward", None),
            )
        if value is not None:
            arm.values.append(value)
    binary = spec.metric == "accuracy"
    summaries = tuple(
        ArmSummary.of_counts(round(sum(arm.values)), len(arm.values))
        if binary
        else ArmSummary.of(arm.values, binary=False)
        for arm in (arms[base], arms[candidate])
    )
    counts = {
        "predictions": {"primary": predictions[base], "new": predictions[candidate]},
        "labelled": {"primary": arms[base].labelled, "new": arms[candidate].labelled},
    }
    return summaries[0], summaries[1], counts


def _row_value(metric: str, feedback: Feedback, row: PredictionRow) -> float | None:
    if metric == "accuracy":
        return row_metric(Metric.ACCURACY, feedback.label, row.predicted)
    if metric in ("mae", "rmse"):
        error = row_metric(Metric.ABSOLUTE_ERROR, feedback.label, row.predicted)
        return None if error is None else (error if metric == "mae" else error * error)
    return None


def gate_decision(
    rows: Iterable[tuple[PredictionRow, Feedback | None]],
    spec: QualityGateSpec,
    *,
    base: str,
    candidate: str,
    previous_p_value: float | None = None,
) -> tuple[GateDecision, dict[str, Any]]:
    """The gate's decision on every labelled row so far, and its JSON for the release history."""
    primary, new, counts = gate_arms(rows, spec, base, candidate)
    margin = spec.margin
    if spec.metric == "rmse" and primary.n > 0:  # margin in target units -> on the MSE scale
        rmse = math.sqrt(max(primary.mean, 0.0))
        margin = (rmse + spec.margin) ** 2 - rmse**2
    decision = decide(
        primary, new, spec.config(margin), direction=spec.direction(), previous_p_value=previous_p_value
    )
    document = {
        "metric": spec.metric,
        **decision.to_dict(),
        **counts,
        "primary_version": base,
        "new_version": candidate,
    }
    if spec.metric == "rmse":
        document["margin_rmse"] = spec.margin
    return decision, document
