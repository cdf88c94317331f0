"""Listing partitions: whole days coalesced into one prefix cover exactly the hours of the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.log_keys import FEEDBACK_PREFIX, hour_prefixes, partition_prefixes

START = datetime(2026, 3, 1, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "length", "expected_count"),
    [
        (START, timedelta(hours=3), 4),  # within a day: hours only (05..08)
        (START.replace(hour=0, minute=0), timedelta(days=1), 1),  # exactly one day
        (START, timedelta(days=30), 19 + 29 + 6),  # 19 hours, 29 whole days, 6 hours (05:00..05:59 open)
        (START, timedelta(0), 1),  # as hour_prefixes: the hour holding an empty window
    ],
)
def test_partitions_cover_exactly_the_hours_of_the_window(
    start: datetime, length: timedelta, expected_count: int
) -> None:
    end = start + length
    partitions = partition_prefixes(start, end, FEEDBACK_PREFIX)
    hours = hour_prefixes(start, end, FEEDBACK_PREFIX)
    assert len(partitions) == expected_count
    covered = [hour for hour in hours for partition in partitions if hour.startswith(partition)]
    assert covered == hours  # every hour under exactly one partition, in order
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    outside = hour_prefixes(start - timedelta(days=2), first_hour, FEEDBACK_PREFIX) + hour_prefixes(
        end + timedelta(hours=1), end + timedelta(days=2), FEEDBACK_PREFIX
    )
    assert not [hour for hour in outside if any(hour.startswith(p) for p in partitions)]


def test_a_whole_day_is_one_listing() -> None:
    day = datetime(2026, 3, 2, tzinfo=UTC)
    assert partition_prefixes(day, day + timedelta(days=1), "records/") == ["records/dt=2026-03-02/"]
