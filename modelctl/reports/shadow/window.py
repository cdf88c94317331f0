"""The report's time window: `--since 24h` / `--since 2026-01-02T13:00Z`, `--until now`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from common.mirror.message import format_timestamp
from release.errors import ShadowError

_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    @property
    def since_text(self) -> str:
        return format_timestamp(self.since.timestamp())

    @property
    def until_text(self) -> str:
        return format_timestamp(self.until.timestamp())


def parse_duration(text: str) -> timedelta | None:
    """`90m`, `24h`, `7d`, `1h30m`, `45s` -> timedelta; None when `text` is not a duration."""
    match = _DURATION_RE.fullmatch(text.strip().lower())
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def parse_moment(text: str, *, now: datetime, name: str) -> datetime:
    """A duration ago, `now`, or an ISO 8601 timestamp (UTC when it has no offset)."""
    if text.strip().lower() == "now":
        return now
    duration = parse_duration(text)
    if duration is not None:
        return now - duration
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ShadowError(
            f"{name} {text!r} is neither a duration (30m, 24h, 7d, 1h30m) nor an ISO 8601 time "
            "(2026-01-02T13:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_window(since: str, until: str, *, now: datetime) -> Window:
    start = parse_moment(since, now=now, name="--since")
    end = parse_moment(until, now=now, name="--until")
    if start >= end:
        raise ShadowError(
            f"--since ({format_timestamp(start.timestamp())}) must be before --until "
            f"({format_timestamp(end.timestamp())})"
        )
    return Window(start, end)
