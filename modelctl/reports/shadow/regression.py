"""The report's statistics for a regression pair (live and shadow answer one number per row), in
one pass over the records (`RegressionReportBuilder.add` per record).

Memory: per row the live and the shadow prediction (two floats, for exact quantiles and the
correlation), per message one or two latencies, one record id per record (de-duplication), small
per-hour sums and a heap of the `top` rows that differ most.

Definitions (also in docs/shadow.md), with d = shadow - live per row:
- requests, messages, rows, latency and the per-hour counts: as the classifier report
  (`modelctl.reports.shadow.stats`);
- difference: d's mean, quantiles (linear interpolation, numpy's default), min and max; a histogram of
  `bins` equal bins from min(p1, 0) to max(p99, 0), with the rows below and above that range counted;
- mean absolute difference: mean |d|; mean relative difference: mean |d| / |live| over the rows whose
  live prediction is not 0 (how many is reported);
- within tolerance: |d| <= absolute + relative x |live| (numpy.isclose(shadow, live, rtol=relative,
  atol=absolute)); its share of rows with a 95% Wilson score interval;
- correlation: Pearson's r between the live and the shadow predictions (None when there are fewer
  than two rows or either side is constant);
- rows that differ most: by |d|, largest first.
"""

from __future__ import annotations

import heapq
import math
from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelctl.reports.shadow.counts import (
    REPORT_SCHEMA_VERSION,
    HourCounts,
    RecordCounts,
    hour_sums,
    wilson_interval,
)
from modelctl.reports.shadow.window import Window

REGRESSION = "regression"
DIFFERENCE_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass(frozen=True)
class Tolerance:
    """When a shadow prediction counts as the live one: |shadow - live| <= absolute + relative x |live|.

    `absolute` is in the target's units, `relative` a fraction of the live prediction (0.05 = 5%);
    either may be 0 (both 0: only equal predictions)."""

    absolute: float = 0.0
    relative: float = 0.05

    def __post_init__(self) -> None:
        for name in ("absolute", "relative"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"the {name} tolerance must be a finite number >= 0, got {value}")

    def within(self, live: float, difference: float) -> bool:
        return abs(difference) <= self.absolute + self.relative * abs(live)

    def describe(self) -> str:
        return f"|shadow - live| <= {self.absolute:g} + {self.relative:g} x |live|"


def is_regression_record(record: Any) -> bool:
    """Whether a parsed record holds a regressor's answers: its live predictions are JSON numbers with
    a fraction or an exponent (floats), which a regressor's always are (Python writes 150.0, never
    150) and a classifier's never are (its labels are integers or text)."""
    live = record.get("live") if isinstance(record, dict) else None
    predictions = live.get("predictions") if isinstance(live, dict) else None
    return isinstance(predictions, list) and bool(predictions) and type(predictions[0]) is float


def _numbers(values: Any, rows: int) -> list[float]:
    """`rows` finite floats (a regressor's answers; an integer is a class label); ValueError
    otherwise."""
    if not isinstance(values, list) or len(values) != rows:
        raise ValueError("rows do not line up")
    for value in values:
        if type(value) is not float or not math.isfinite(value):
            raise ValueError("a prediction is not a finite float")
    return values


@dataclass(slots=True)
class _Hour(HourCounts):
    within: int = 0
    difference_sum: float = 0.0
    absolute_sum: float = 0.0


class RegressionReportBuilder(RecordCounts[_Hour]):
    def __init__(
        self, window: Window, *, top: int = 10, bins: int = 20, tolerance: Tolerance | None = None
    ) -> None:
        super().__init__(window, top=top, bins=bins, hour=_Hour)
        self.tolerance = tolerance or Tolerance()
        self.within = 0
        self._live: array[float] = array("d")
        self._shadow: array[float] = array("d")
        self._top: list[tuple[float, int, dict[str, Any]]] = []

    def add(self, record: dict[str, Any]) -> None:
        timestamp = self._timestamp(record)
        if timestamp is None:
            return
        try:
            record_id = str(record.get("record_id") or f"{record['request_id']}#{record['part']}")
            live, shadow = record["live"], record["shadow"]
            rows = len(live["predictions"])
            if not rows:
                raise ValueError("no rows")
            live_values = _numbers(live["predictions"], rows)
            shadow_values = _numbers(shadow["predictions"], rows)
            live_ms, shadow_ms = float(live["inference_ms"]), float(shadow["inference_ms"])
            first_part = int(record.get("part", 0)) == 0
        except (KeyError, TypeError, ValueError):
            self.invalid += 1
            return
        hour = self._count(record_id, timestamp, first_part, live, shadow, rows, live_ms, shadow_ms)
        if hour is None:
            return
        self._live.extend(live_values)
        self._shadow.extend(shadow_values)
        tolerance = self.tolerance
        for index, (live_value, shadow_value) in enumerate(zip(live_values, shadow_values, strict=True)):
            difference = shadow_value - live_value
            within = tolerance.within(live_value, difference)
            self.within += within
            hour.within += within
            hour.difference_sum += difference
            hour.absolute_sum += abs(difference)
            if self._top_size and (len(self._top) < self._top_size or abs(difference) > self._top[0][0]):
                self._push_top(
                    abs(difference), self._top_entry(record, index, live_value, shadow_value, within)
                )

    @staticmethod
    def _top_entry(
        record: dict[str, Any], index: int, live: float, shadow: float, within: bool
    ) -> dict[str, Any]:
        difference = shadow - live
        return {
            "request_id": record.get("request_id"),
            "row": int(record.get("row_offset", 0)) + index,
            "timestamp": record["timestamp"],
            "live": live,
            "shadow": shadow,
            "difference": difference,
            "relative_difference": abs(difference) / abs(live) if live else None,
            "within_tolerance": within,
            "inputs": (record.get("inputs") or [None] * (index + 1))[index],
        }

    def _push_top(self, score: float, entry: dict[str, Any]) -> None:
        item = (score, next(self._tiebreak), entry)
        if len(self._top) < self._top_size:
            heapq.heappush(self._top, item)
        else:
            heapq.heapreplace(self._top, item)

    # -- the report ---------------------------------------------------------------------------------

    def result(self, *, source: dict[str, Any] | None = None) -> dict[str, Any]:
        live = np.frombuffer(self._live, dtype=np.float64)
        shadow = np.frombuffer(self._shadow, dtype=np.float64)
        interval = wilson_interval(self.within, self.rows)
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "task": REGRESSION,
            **self._head(source, self._live_models, self._shadow_models, self._live_functions),
            "difference": difference_section(live, shadow, self._bins),
            "tolerance": {
                "absolute": self.tolerance.absolute,
                "relative": self.tolerance.relative,
                "rule": self.tolerance.describe(),
                "rows": self.rows,
                "within": self.within,
                "outside": self.rows - self.within,
                "rate": self.within / self.rows if self.rows else None,
                "ci95": list(interval) if interval else None,
                "method": "Wilson score interval, 95%",
            },
            "correlation": {
                "measure": "Pearson's r of live and shadow predictions",
                "pearson": pearson(live, shadow),
            },
            "predictions": {"live": _spread(live), "shadow": _spread(shadow)},
            "latency_ms": self._latency(),
            "hourly": [_hour_dict(name, hour) for name, hour in sorted(self._hours.items())],
            "top_differences": self._top_sorted(self._top),
        }


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson's r; None with fewer than two rows or a constant side (r is undefined)."""
    if len(x) < 2:
        return None
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(np.dot(dx, dx)) * float(np.dot(dy, dy)))
    if denominator == 0.0 or not math.isfinite(denominator):
        return None
    return max(-1.0, min(1.0, float(np.dot(dx, dy)) / denominator))


def difference_section(live: np.ndarray, shadow: np.ndarray, bins: int) -> dict[str, Any]:
    difference = shadow - live
    absolute = np.abs(difference)
    nonzero = live != 0
    section: dict[str, Any] = {
        "measure": "shadow - live per row",
        "summary": None,
        "mean_absolute": float(absolute.mean()) if len(live) else None,
        "mean_relative": float((absolute[nonzero] / np.abs(live[nonzero])).mean()) if nonzero.any() else None,
        "relative_rows": int(nonzero.sum()),
        "histogram": {"edges": [], "counts": [], "below": 0, "above": 0},
    }
    if not len(live):
        return section
    points = np.percentile(difference, [q * 100 for q in DIFFERENCE_QUANTILES])
    section["summary"] = {
        **{_quantile_name(q): float(v) for q, v in zip(DIFFERENCE_QUANTILES, points, strict=True)},
        "mean": float(difference.mean()),
        "min": float(difference.min()),
        "max": float(difference.max()),
        "count": len(difference),
    }
    low, high = min(float(points[0]), 0.0), max(float(points[-1]), 0.0)
    if low == high:  # every difference is 0: numpy's own choice for a degenerate range
        low, high = low - 0.5, high + 0.5
    counts, edges = np.histogram(difference, bins=bins, range=(low, high))
    section["histogram"] = {
        "edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
        "below": int((difference < low).sum()),
        "above": int((difference > high).sum()),
    }
    return section


def _quantile_name(q: float) -> str:
    return f"p{round(q * 100):d}"


def _spread(values: np.ndarray) -> dict[str, float] | None:
    if not len(values):
        return None
    return {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}


def _hour_dict(name: str, hour: _Hour) -> dict[str, Any]:
    rows = hour.rows
    return hour_sums(
        name,
        hour,
        mean_difference=hour.difference_sum / rows if rows else None,
        mean_absolute_difference=hour.absolute_sum / rows if rows else None,
        within_tolerance=hour.within / rows if rows else None,
    )
