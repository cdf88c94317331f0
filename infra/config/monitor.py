"""Live quality: the prediction log the inference function samples, and the scheduled monitor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from infra.config.checks import check, check_choice, check_int_range, check_schedule, is_number

# The metrics common.observe.classification_metrics and regression_metrics compute (a unit test keeps
# them equal).
CLASSIFICATION_MONITOR_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "precision_macro",
    "recall_macro",
)
REGRESSION_MONITOR_METRICS = ("mae", "rmse", "mean_error")
MONITOR_METRICS = CLASSIFICATION_MONITOR_METRICS + REGRESSION_MONITOR_METRICS


@dataclass(frozen=True, kw_only=True)
class PredictionLogConfig:
    """Which live requests are logged for monitoring, and for how long the log is kept."""

    PREFIX: ClassVar[str] = "prediction_log_"

    sample_percent: float = 10.0
    """Share of live requests (0..100) logged for monitoring even without a shadow (docs/monitoring.md);
    feedback can only be joined to logged requests."""
    expiration_days: int = 90
    """Logged predictions (`predictions/`) and feedback (`feedback/`) expire after this many days."""
    query_scan_cutoff_gb: int = 100
    """Athena cancels a report's query past this many GB scanned (the reports' workgroup, docs/queries.md)."""

    def __post_init__(self) -> None:
        percent = self.sample_percent
        check(
            is_number(percent) and 0 <= percent <= 100,
            "prediction_log_sample_percent",
            f"must be a percentage from 0 to 100, got {percent!r}",
        )
        check_int_range("prediction_log_expiration_days", self.expiration_days, 1, 3650)
        check_int_range("prediction_log_query_scan_cutoff_gb", self.query_scan_cutoff_gb, 1, 1_000_000)


@dataclass(frozen=True, kw_only=True)
class MonitorConfig:
    """When the monitor function runs and over which window it reports accuracy and drift."""

    PREFIX: ClassVar[str] = "monitor_"

    schedule: str = "rate(1 hour)"
    """How often the monitor function publishes LiveAccuracy and FeatureDrift (EventBridge expression)."""
    window_hours: int = 24
    """The window (ending now) over which the monitor computes accuracy and drift."""
    metric: str = "f1_macro"
    """The quality metric reported beside accuracy (accuracy, balanced_accuracy, f1_macro, ...)."""
    min_labelled: int = 20
    """Labelled predictions a window needs before the monitor publishes LiveAccuracy for it."""
    business_metric: str = ""
    """The business metric published per function version (docs/quality-gate.md): `reward` (sent with
    the feedback), `common.usermetrics.<module>:<function>` (`!` before it: lower is better), or a cost
    matrix as JSON; empty: none."""

    def __post_init__(self) -> None:
        check_schedule(
            "monitor_schedule", self.schedule, "must be an EventBridge rate(...) or cron(...) expression"
        )
        check_int_range("monitor_window_hours", self.window_hours, 1, 24 * 90)
        check_choice("monitor_metric", self.metric, MONITOR_METRICS)
        check_int_range("monitor_min_labelled", self.min_labelled, 1, 1_000_000)
        if self.business_metric:
            from common.business_metric import BusinessMetricError, parse_spec

            try:
                parse_spec(self.business_metric)
            except BusinessMetricError as exc:
                check(False, "monitor_business_metric", str(exc))
