"""The partitions a query names are exactly the hour partitions of its window
(`common.layout.hour_prefixes`, what the in-process reader lists): none missing, none extra."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from common.layout import hour_prefixes
from modelctl.reports.query.sql import partition_filter

START = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (datetime(2026, 12, 5, 10, 17, tzinfo=UTC), datetime(2026, 12, 7, 9, 43, tzinfo=UTC)),
        (datetime(2026, 12, 5, 10, 0, tzinfo=UTC), datetime(2026, 12, 5, 11, 0, tzinfo=UTC)),
        (datetime(2026, 12, 5, 23, 59, 59, tzinfo=UTC), datetime(2026, 12, 6, 0, 0, 0, 1, tzinfo=UTC)),
        (datetime(2026, 11, 30, 0, 0, tzinfo=UTC), datetime(2026, 12, 2, 0, 0, tzinfo=UTC)),
        (datetime(2026, 12, 1, 5, 30, tzinfo=UTC), datetime(2026, 12, 1, 5, 31, tzinfo=UTC)),
    ],
)
def test_partition_filter_names_the_windows_hours(since: datetime, until: datetime) -> None:
    hours = [START + timedelta(hours=h) for h in range(24 * 14)]
    connection = duckdb.connect()
    connection.execute("CREATE TABLE p (dt VARCHAR, hour INTEGER)")
    connection.executemany("INSERT INTO p VALUES (?, ?)", [(f"{h:%Y-%m-%d}", h.hour) for h in hours])
    found = connection.execute(
        f"SELECT dt, hour FROM p WHERE {partition_filter(since, until)} ORDER BY 1, 2"
    ).fetchall()
    expected = [prefix.removeprefix("records/") for prefix in hour_prefixes(since, until)]
    assert [f"dt={dt}/hour={hour:02d}/" for dt, hour in found] == expected
