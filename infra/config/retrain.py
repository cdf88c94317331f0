"""The retraining workflow: where it trains, on what data, the gate, and how it releases."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

from infra.config.checks import check, check_bool, check_choice, check_int_range, check_schedule, is_number

RetrainCompute = Literal["lambda", "sagemaker"]
RetrainRelease = Literal["shadow", "canary", "shift", "registered"]
RETRAIN_COMPUTES: tuple[str, ...] = get_args(RetrainCompute)
RETRAIN_RELEASES: tuple[str, ...] = get_args(RetrainRelease)
RETRAIN_GATE_METRICS = ("accuracy", "f1_macro", "roc_auc", "log_loss", "mae", "rmse", "r2")
# Errors in the target's own units: their margin is any finite number, not a share.
UNBOUNDED_MARGIN_METRICS = ("mae", "rmse")
# Numbers checked only for their range: (field, low, high).
_RANGES = (
    ("gate_margin", -1.0, 1.0),
    ("max_class_share", 0.01, 1.0),
    ("shadow_sample_percent", 0.0, 100.0),
    ("canary_weight", 0.01, 99.99),
    ("accuracy_alarm_threshold", 0.0, 1.0),
)


@dataclass(frozen=True, kw_only=True)
class RetrainConfig:
    """Every setting of the retraining workflow (docs/retraining.md)."""

    PREFIX: ClassVar[str] = "retrain_"

    compute: RetrainCompute = "lambda"
    """Where the retraining workflow trains: a container-image Lambda, or a SageMaker training job
    (managed scikit-learn image) for data that outgrows one function (docs/retraining.md)."""
    schedule: str = "rate(7 days)"
    schedule_enabled: bool = False
    memory_mb: int = 3008
    timeout_seconds: int = 900
    workflow_timeout_minutes: int = 120
    base_data: str = "sklearn:breast_cancer"
    """`sklearn:<name>` or `s3://bucket/key.csv` (with `retrain_target_column`)."""
    target_column: str = "target"
    pipeline: str = "logistic_regression"
    feedback_lookback_days: int = 30
    min_feedback_rows: int = 0
    gate_metric: str = "accuracy"
    gate_margin: float = 0.01
    max_class_share: float = 0.95
    business_metric: str = ""
    """The candidate may not be worse than production on this business metric on the holdout (a cost
    matrix as JSON or `common.usermetrics.<module>:<function>`; docs/quality-gate.md); empty: none."""
    release: RetrainRelease = "shadow"
    shadow_sample_percent: float = 100.0
    canary_weight: float = 10.0
    canary_bake_seconds: int = 0
    shift_steps: str = "50,100"
    """`shift`: the percentages the release controller moves the traffic through."""
    shift_bake_seconds: int = 300
    """`shift`: the bake after each step, in the release controller (no function timeout applies)."""
    accuracy_alarm_threshold: float = 0.0
    """Start the workflow early when LiveAccuracy over a window falls below this (0 = no alarm)."""
    accuracy_alarm_period_seconds: int = 3600
    sagemaker_instance_type: str = "ml.m5.large"
    sagemaker_image_uri: str = (
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    )

    def __post_init__(self) -> None:
        check_choice("retrain_compute", self.compute, RETRAIN_COMPUTES)
        check_schedule("retrain_schedule", self.schedule, "must be rate(<n> <unit>) or cron(<6 fields>)")
        check_bool("retrain_schedule_enabled", self.schedule_enabled)
        check_int_range("retrain_memory_mb", self.memory_mb, 512, 10_240)
        check_int_range("retrain_timeout_seconds", self.timeout_seconds, 60, 900, hint="Lambda's maximum")
        check_int_range("retrain_workflow_timeout_minutes", self.workflow_timeout_minutes, 5, 1440)
        check(
            isinstance(self.base_data, str)
            and (self.base_data.startswith("sklearn:") or self.base_data.startswith("s3://")),
            "retrain_base_data",
            f"must be sklearn:<name> or s3://bucket/key.csv, got {self.base_data!r}",
        )
        check_int_range("retrain_feedback_lookback_days", self.feedback_lookback_days, 1, 3650)
        check_int_range("retrain_min_feedback_rows", self.min_feedback_rows, 0, 10_000_000)
        check_choice("retrain_gate_metric", self.gate_metric, RETRAIN_GATE_METRICS)
        if self.business_metric:
            from common.business_metric import BusinessMetricError, parse_spec

            try:
                parse_spec(self.business_metric)
            except BusinessMetricError as exc:
                check(False, "retrain_business_metric", str(exc))
        for name, low, high in _RANGES:
            value = getattr(self, name)
            if name == "gate_margin" and self.gate_metric in UNBOUNDED_MARGIN_METRICS:
                check(
                    is_number(value) and math.isfinite(value),
                    f"{self.PREFIX}{name}",
                    f"must be a finite number (in the target's units for {self.gate_metric}), got {value!r}",
                )
                continue
            check(
                is_number(value) and low <= value <= high,
                f"{self.PREFIX}{name}",
                f"must be a number from {low:g} to {high:g}, got {value!r}",
            )
        check_choice("retrain_release", self.release, RETRAIN_RELEASES)
        check_int_range(
            "retrain_canary_bake_seconds",
            self.canary_bake_seconds,
            0,
            self.timeout_seconds - 60,
            hint="the release step must finish within the function's timeout",
        )
        check_int_range("retrain_shift_bake_seconds", self.shift_bake_seconds, 1, 22 * 3600)
        check(
            _percents(self.shift_steps),
            "retrain_shift_steps",
            f"must be like 10,50,100, got {self.shift_steps!r}",
        )
        check(
            isinstance(self.accuracy_alarm_period_seconds, int)
            and self.accuracy_alarm_period_seconds >= 60
            and self.accuracy_alarm_period_seconds % 60 == 0,
            "retrain_accuracy_alarm_period_seconds",
            f"must be a multiple of 60, got {self.accuracy_alarm_period_seconds!r}",
        )
        check(
            self.sagemaker_instance_type.startswith("ml."),
            "retrain_sagemaker_instance_type",
            f"must be a SageMaker instance type such as ml.m5.large, got {self.sagemaker_instance_type!r}",
        )


def _percents(text: object) -> bool:
    """Comma-separated percentages in (0, 100], increasing (a shift's steps)."""
    try:
        values = [float(part) for part in str(text).split(",")]
    except ValueError:
        return False
    return bool(values) and all(0 < v <= 100 for v in values) and values == sorted(set(values))
