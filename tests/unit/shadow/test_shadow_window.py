"""`--since` / `--until`: durations ago, `now`, ISO timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelctl.reports.shadow.window import parse_duration, parse_window
from release.errors import ShadowError

NOW = datetime(2026, 1, 2, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("90m", timedelta(minutes=90)),
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("2H", timedelta(hours=2)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "24", "1w", "-1h", "now"])
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_window_from_a_duration_to_now() -> None:
    window = parse_window("24h", "now", now=NOW)
    assert (window.since, window.until) == (NOW - timedelta(hours=24), NOW)
    assert (window.since_text, window.until_text) == ("2026-01-01T13:00:00.000Z", "2026-01-02T13:00:00.000Z")


def test_iso_times_with_and_without_offset() -> None:
    window = parse_window("2026-01-02T10:00:00Z", "2026-01-02T12:30:00+01:00", now=NOW)
    assert window.since == datetime(2026, 1, 2, 10, tzinfo=UTC)
    assert window.until == datetime(2026, 1, 2, 11, 30, tzinfo=UTC)
    assert parse_window("2026-01-02T10:00:00", "now", now=NOW).since.tzinfo == UTC


def test_bad_windows_are_one_line_errors() -> None:
    with pytest.raises(ShadowError, match="--since 'yesterday' is neither a duration"):
        parse_window("yesterday", "now", now=NOW)
    with pytest.raises(ShadowError, match="must be before --until"):
        parse_window("1h", "2h", now=NOW)
