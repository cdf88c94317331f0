"""What the classifier and the regression statistics of the shadow report count alike, per record:
the window and validity tallies, de-duplication by record id, requests (part 0) and messages, rows,
the live and shadow latencies, the models and function versions, and the per-hour sums of these.
Each builder adds its own per-row statistics (`stats.ReportBuilder`, `regression.RegressionReportBuilder`)."""

from __future__ import annotations

import itertools
import math
from array import array
from collections import Counter
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from modelctl.reports.shadow.window import Window

REPORT_SCHEMA_VERSION = 1
Z_95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a binomial proportion; None when there are no trials."""
    if trials <= 0:
        return None
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def quantiles(values: array[float], points: tuple[float, ...]) -> dict[str, float] | None:
    if len(values) == 0:
        return None
    data = np.frombuffer(values, dtype=np.float64)
    found = np.percentile(data, [q * 100 for q in points])
    named = {f"p{round(q * 100):d}": float(v) for q, v in zip(points, found, strict=True)}
    return {**named, "mean": float(data.mean()), "max": float(data.max()), "count": len(values)}


@dataclass(slots=True)
class HourCounts:
    requests: int = 0
    rows: int = 0
    live_ms_sum: float = 0.0
    live_ms_count: int = 0
    shadow_ms_sum: float = 0.0
    shadow_ms_count: int = 0


Hour = TypeVar("Hour", bound=HourCounts)


class RecordCounts(Generic[Hour]):
    def __init__(self, window: Window, *, top: int, bins: int, hour: type[Hour]) -> None:
        self.window = window
        self._since = window.since_text
        self._until = window.until_text
        self._top_size = top
        self._bins = bins
        self._new_hour = hour
        self._seen: set[str] = set()
        self._tiebreak = itertools.count()
        self.records = 0
        self.duplicates = 0
        self.outside_window = 0
        self.invalid = 0
        self.requests = 0
        self.request_minutes: Counter[tuple[str, str]] = Counter()
        """Requests per (live function version, minute of the request): the report's coverage."""
        self.rows = 0
        self._live_ms: array[float] = array("d")
        self._shadow_ms: array[float] = array("d")
        self._hours: dict[str, Hour] = {}
        self._live_models: Counter[str] = Counter()
        self._shadow_models: Counter[str] = Counter()
        self._live_functions: Counter[str] = Counter()

    def _timestamp(self, record: dict[str, Any]) -> str | None:
        """The record's timestamp when it is text within the window; else None, counted as invalid
        or as outside the window."""
        timestamp = record.get("timestamp")
        if not isinstance(timestamp, str):
            self.invalid += 1
            return None
        if not self._since <= timestamp < self._until:
            self.outside_window += 1
            return None
        return timestamp

    def _count(
        self,
        record_id: str,
        timestamp: str,
        first_part: bool,
        live: dict[str, Any],
        shadow: dict[str, Any],
        rows: int,
        live_ms: float,
        shadow_ms: float,
    ) -> Hour | None:
        """Count a valid record read by the general path; None (counted as a duplicate) when its
        id was seen already, else its hour's sums, for the builder's per-row statistics."""
        if record_id in self._seen:
            self.duplicates += 1
            return None
        self._seen.add(record_id)
        self.records += 1
        hour = self._hours.get(timestamp[:13])
        if hour is None:
            hour = self._hours[timestamp[:13]] = self._new_hour()
        if first_part:
            self.requests += 1
            hour.requests += 1
            self.request_minutes[(str(live.get("function_version")), timestamp[:16])] += 1
            self._live_ms.append(live_ms)
            hour.live_ms_sum += live_ms
            hour.live_ms_count += 1
        self._shadow_ms.append(shadow_ms)
        hour.shadow_ms_sum += shadow_ms
        hour.shadow_ms_count += 1
        self._live_models[str(live.get("model_version"))] += rows
        self._shadow_models[str(shadow.get("model_version"))] += rows
        self._live_functions[str(live.get("function_version"))] += rows
        self.rows += rows
        hour.rows += rows
        return hour

    def _head(
        self,
        source: dict[str, Any] | None,
        live_models: Counter[str],
        shadow_models: Counter[str],
        live_functions: Counter[str],
    ) -> dict[str, Any]:
        """The document's window, source, counts and models sections."""
        return {
            "window": {"since": self._since, "until": self._until},
            "source": {
                **(source or {}),
                "records": self.records,
                "duplicates_dropped": self.duplicates,
                "outside_window": self.outside_window,
                "invalid_records": self.invalid,
            },
            "counts": {"requests": self.requests, "messages": self.records, "rows": self.rows},
            "models": {
                "live": dict(live_models.most_common()),
                "shadow": dict(shadow_models.most_common()),
                "live_function_versions": dict(live_functions.most_common()),
            },
        }

    def _latency(self) -> dict[str, Any]:
        return {
            "measure": "model inference time as measured by each function",
            "live": quantiles(self._live_ms, (0.5, 0.99)),
            "shadow": quantiles(self._shadow_ms, (0.5, 0.99)),
        }

    def _top_sorted(self, top: list[tuple[Any, int, dict[str, Any]]]) -> list[dict[str, Any]]:
        """The listed rows, highest score first; among equal scores the first seen first."""
        return [entry for _, _, entry in sorted(top, key=lambda item: (item[0], -item[1]), reverse=True)]


def hour_sums(name: str, hour: HourCounts, **figures: Any) -> dict[str, Any]:
    """An hour of the document: its requests and rows, the builder's `figures`, the mean latencies."""
    return {
        "hour": f"{name}:00Z",
        "requests": hour.requests,
        "rows": hour.rows,
        **figures,
        "live_mean_ms": hour.live_ms_sum / hour.live_ms_count if hour.live_ms_count else None,
        "shadow_mean_ms": hour.shadow_ms_sum / hour.shadow_ms_count if hour.shadow_ms_count else None,
    }
