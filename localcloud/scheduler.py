"""EventBridge schedules, locally: fire the targets of enabled `rate(...)`/`cron(...)` rules.

moto stores rules and targets but never fires them. The scheduler reads each schedule rule from
moto on every tick (so enabling or disabling it through the API takes effect), and when one is
due it starts the target state machine's execution (in moto, whose interpreter runs it) or
invokes the target function through the local Lambda router, with the event EventBridge sends.
`fire(rule)` runs a rule's targets now, for tests and demos.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from localcloud.background import PeriodicLoop

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_DAY_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTH_NAMES = {
    name: i
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}


class ScheduleError(ValueError):
    pass


def rate_seconds(expression: str) -> int | None:
    match = _RATE.match(expression.strip())
    if not match:
        return None
    amount, unit = int(match.group(1)), match.group(2).rstrip("s")
    if amount <= 0:
        raise ScheduleError(f"{expression}: the rate must be positive")
    return amount * _UNIT_SECONDS[unit]


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """A cron field as the set of allowed values; None means any (`*` or `?`)."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _value(first, names), _value(last, names)
        else:
            start = _value(part, names)
            end = high if "/" in text else start
        if not (low <= start <= high and low <= end <= high):
            raise ScheduleError(f"cron field {text!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def _value(text: str, names: dict[str, int] | None) -> int:
    upper = text.upper()
    if names and upper in names:
        return names[upper]
    if not text.isdigit():
        raise ScheduleError(f"cron value {text!r} is not supported locally (L, W and # are not)")
    return int(text)


def cron_next(expression: str, after: datetime) -> datetime:
    """The first minute after `after` that AWS cron(min hour dom month dow year) matches (UTC)."""
    inner = expression.strip()[len("cron(") : -1]
    fields = inner.split()
    if len(fields) != 6:
        raise ScheduleError(f"{expression}: AWS cron takes 6 fields (minutes hours day month weekday year)")
    minutes = _field(fields[0], 0, 59)
    hours = _field(fields[1], 0, 23)
    days = _field(fields[2], 1, 31)
    months = _field(fields[3], 1, 12, _MONTH_NAMES)
    weekdays = _field(fields[4], 1, 7, _DAY_NAMES)
    years = _field(fields[5], 1970, 2199)
    candidate = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = candidate + timedelta(days=366 * 5)
    while candidate < limit:
        weekday = (candidate.isoweekday() % 7) + 1  # SUN=1 ... SAT=7
        if (
            (years is None or candidate.year in years)
            and (months is None or candidate.month in months)
            and (days is None or candidate.day in days)
            and (weekdays is None or weekday in weekdays)
            and (hours is None or candidate.hour in hours)
            and (minutes is None or candidate.minute in minutes)
        ):
            return candidate
        candidate += timedelta(minutes=1)
    raise ScheduleError(f"{expression} never fires in the next five years")


def next_fire(expression: str, after: datetime) -> datetime:
    seconds = rate_seconds(expression)
    if seconds is not None:
        return after + timedelta(seconds=seconds)
    if expression.startswith("cron("):
        return cron_next(expression, after)
    raise ScheduleError(f"{expression!r} is neither rate(...) nor cron(...)")


def scheduled_event(rule_arn: str, region: str, account: str, when: datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


@dataclass
class _Due:
    rule: str
    expression: str
    next_at: datetime


class Scheduler:
    def __init__(
        self,
        events: Any,
        stepfunctions: Any,
        invoke_lambda: Callable[[str, str, bytes], Any],
        *,
        region: str,
        account: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tick_s: float = 1.0,
    ) -> None:
        self.events = events
        self.stepfunctions = stepfunctions
        self.invoke_lambda = invoke_lambda
        self.region = region
        self.account = account
        self.clock = clock
        self._due: dict[str, _Due] = {}
        self._loop = PeriodicLoop(self.tick, interval_s=tick_s, name="local-scheduler")
        self.fired: list[tuple[str, str]] = []  # (rule, target arn), for status and tests

    def fire(self, rule: str) -> list[str]:
        """Deliver the rule's targets now; returns the execution ARNs / function names reached."""
        description = self.events.describe_rule(Name=rule)
        now = self.clock()
        event = scheduled_event(description["Arn"], self.region, self.account, now)
        reached = []
        for target in self.events.list_targets_by_rule(Rule=rule)["Targets"]:
            payload = target.get("Input") or json.dumps(event)
            arn = target["Arn"]
            if ":states:" in arn:
                # EventBridge names each execution itself; without a name moto would reuse "None" and
                # refuse the second run (ExecutionAlreadyExists).
                name = f"{rule}-{now:%Y%m%dT%H%M%S}-{event['id'][:8]}"[:80]
                execution = self.stepfunctions.start_execution(stateMachineArn=arn, name=name, input=payload)
                reached.append(execution["executionArn"])
            elif ":lambda:" in arn:
                parts = arn.split(":")
                qualifier = parts[7] if len(parts) > 7 else "$LATEST"
                threading.Thread(
                    target=self.invoke_lambda, args=(parts[6], qualifier, payload.encode()), daemon=True
                ).start()
                reached.append(parts[6])
            self.fired.append((rule, arn))
        return reached

    def tick(self) -> None:
        now = self.clock()
        for page in self.events.get_paginator("list_rules").paginate():
            for rule in page["Rules"]:
                expression = rule.get("ScheduleExpression")
                if not expression or rule.get("State") != "ENABLED":
                    self._due.pop(rule["Name"], None)
                    continue
                due = self._due.get(rule["Name"])
                if due is None or due.expression != expression:
                    try:
                        self._due[rule["Name"]] = _Due(rule["Name"], expression, next_fire(expression, now))
                    except ScheduleError:
                        continue
                elif now >= due.next_at:
                    due.next_at = next_fire(expression, now)
                    self.fire(rule["Name"])

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()
