"""Where things live in the log bucket: one hour partition per prefix, by UTC hour.

    records/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz       shadow records (common.mirror.record)
    predictions/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz   live-only prediction records (the prediction log)
    feedback/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz      ground-truth labels (common.observe.feedback)

Numpy-free, so readers that need no model (the monitor and feedback functions) can import it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

RECORDS_PREFIX = "records/"
PREDICTIONS_PREFIX = "predictions/"
FEEDBACK_PREFIX = "feedback/"
OBJECT_SUFFIX = ".jsonl.gz"


def hour_prefix(hour: datetime, prefix: str = RECORDS_PREFIX) -> str:
    """`<prefix>dt=YYYY-MM-DD/hour=HH/` of the hour holding `hour` (UTC)."""
    moment = hour.astimezone(UTC)
    return f"{prefix}dt={moment:%Y-%m-%d}/hour={moment:%H}/"


def hour_prefixes(start: datetime, end: datetime, prefix: str = RECORDS_PREFIX) -> list[str]:
    """Every hour partition under `prefix` that can hold an object for a moment in [start, end)."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    prefixes = []
    while hour < end:
        prefixes.append(hour_prefix(hour, prefix))
        hour += timedelta(hours=1)
    return prefixes


def partition_prefixes(start: datetime, end: datetime, prefix: str = RECORDS_PREFIX) -> list[str]:
    """The partitions of `hour_prefixes`, with every whole UTC day in [start, end) listed as one day
    prefix (`<prefix>dt=YYYY-MM-DD/`): the same objects with 1 listing per day instead of 24 (a
    30-day window is about 30 listings instead of 720)."""
    result: list[str] = []
    hours = hour_prefixes(start, end, prefix)
    index = 0
    while index < len(hours):
        day = hours[index][: hours[index].index("/hour=") + 1]
        same_day = [h for h in hours[index : index + 24] if h.startswith(day)]
        result.extend([day] if len(same_day) == 24 else same_day)
        index += len(same_day)
    return result
