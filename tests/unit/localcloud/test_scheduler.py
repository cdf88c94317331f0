"""EventBridge schedule expressions as the local scheduler reads them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from localcloud.scheduler import ScheduleError, cron_next, next_fire, rate_seconds

T0 = datetime(2026, 11, 22, 10, 17, 30, tzinfo=UTC)  # a Sunday


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200), ("rate(7 days)", 604800)],
)
def test_rates(expression: str, seconds: int) -> None:
    assert rate_seconds(expression) == seconds


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 3 * * ? *)", datetime(2026, 11, 23, 3, 0, tzinfo=UTC)),
        ("cron(*/15 * * * ? *)", datetime(2026, 11, 22, 10, 30, tzinfo=UTC)),
        ("cron(0 9 ? * MON-FRI *)", datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),
        ("cron(30 2 1 * ? *)", datetime(2026, 12, 1, 2, 30, tzinfo=UTC)),
        ("cron(0 0 ? * SUN *)", datetime(2026, 11, 29, 0, 0, tzinfo=UTC)),
        ("cron(0 12 15 JAN ? 2027)", datetime(2027, 1, 15, 12, 0, tzinfo=UTC)),
    ],
)
def test_cron_next(expression: str, expected: datetime) -> None:
    assert cron_next(expression, T0) == expected


@pytest.mark.parametrize(
    "expression", ["cron(0 3 L * ? *)", "cron(0 3 * *)", "every day", "cron(0 25 * * ? *)"]
)
def test_unsupported_or_invalid_expressions_are_clear_errors(expression: str) -> None:
    with pytest.raises(ScheduleError):
        next_fire(expression, T0)
