"""The alarms on the `live` alias: errors, error rate and p99 duration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from infra.config.checks import check, check_int_range, is_number


@dataclass(frozen=True, kw_only=True)
class AlarmsConfig:
    """Thresholds and evaluation of the alias alarms. `p99_duration_ms` is bounded by the inference
    function's timeout, so the composed config checks it (infra/config/__init__.py)."""

    PREFIX: ClassVar[str] = "alarm_"

    errors_threshold: int = 5
    """Errors on the alias per alarm period that raise the errors alarm."""
    error_rate_percent: float = 5.0
    p99_duration_ms: int = 1000
    period_seconds: int = 60
    evaluation_periods: int = 3

    def __post_init__(self) -> None:
        check_int_range("alarm_errors_threshold", self.errors_threshold, 1, 1_000_000)
        check(
            is_number(self.error_rate_percent) and 0 < self.error_rate_percent <= 100,
            "alarm_error_rate_percent",
            f"must be a percentage in (0, 100], got {self.error_rate_percent!r}",
        )
        check(
            self.period_seconds in (10, 30)
            or (
                isinstance(self.period_seconds, int)
                and not isinstance(self.period_seconds, bool)
                and self.period_seconds >= 60
                and self.period_seconds % 60 == 0
            ),
            "alarm_period_seconds",
            f"must be 10, 30 or a multiple of 60, got {self.period_seconds!r}",
        )
        check_int_range("alarm_evaluation_periods", self.evaluation_periods, 1, 100)
