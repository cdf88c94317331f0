"""The report's statistics, computed in one pass over the records (`ReportBuilder.add` per record).

Memory is bounded by the window, not by the records: per row one float (the probability
difference), per message one or two latencies (8 bytes each, kept in `array`s for exact
quantiles), one record id per record for de-duplication, small per-hour and per-label counters, and
a heap of the `top` most disagreeing rows.

Definitions (also in docs/shadow.md):
- requests: records with part 0 (a request split into several messages counts once); rows: rows
  scored by both models; records are de-duplicated by `record_id` (SQS delivers at least once);
- agreement: share of rows whose labels are equal, with a 95% Wilson score interval;
- confusion matrix: rows = live label, columns = shadow label;
- probability difference of a row: max over classes of |p_shadow - p_live| (for two classes, the
  difference of either class's probability); for two classes also the mean signed difference of
  the second class (shadow - live), which shows a systematic shift;
- latency: model inference time in milliseconds as each function measured it (live once per
  request, shadow once per message); quantiles by linear interpolation (numpy's default);
- most disagreeing rows: label disagreements first, then by probability difference.
"""

from __future__ import annotations

import heapq
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from modelctl.reports.shadow.counts import (
    REPORT_SCHEMA_VERSION,
    HourCounts,
    RecordCounts,
    hour_sums,
    quantiles,
    wilson_interval,
)
from modelctl.reports.shadow.records import ReportRecord, load_line
from modelctl.reports.shadow.window import Window

if TYPE_CHECKING:
    from modelctl.reports.shadow.typed_records import TypedRecord


def label_key(label: Any) -> tuple[int, float, str]:
    """Numbers first (numerically), then text."""
    text = str(label)
    try:
        return 0, float(text), text
    except ValueError:
        return 1, 0.0, text


@dataclass(slots=True)
class _Hour(HourCounts):
    agree: int = 0
    difference_sum: float = 0.0
    differences: int = 0


class ReportBuilder(RecordCounts[_Hour]):
    def __init__(self, window: Window, *, top: int = 10, bins: int = 20) -> None:
        super().__init__(window, top=top, bins=bins, hour=_Hour)
        self.agree = 0
        self.incomparable_rows = 0
        self._confusion: Counter[tuple[str, str]] = Counter()
        self._differences: array[float] = array("d")
        self._signed_sum = 0.0
        self._signed_count = 0
        self._top: list[tuple[tuple[int, float], int, dict[str, Any]]] = []
        # Typed records count raw values, turned into the text keys above by `result` (one dict
        # update per record instead of three, no `str()` per label); the text keys are still
        # inserted when first seen (`_first_versions`), so ties in `most_common` keep their order.
        self._typed_versions: dict[tuple[str | None, str | None, str | None], int] = {}
        self._typed_pairs: Counter[tuple[int | str, int | str]] = Counter()

    # -- one record --------------------------------------------------------------------------------

    def add_report_records(self, items: Iterable[ReportRecord]) -> None:
        """Records as `RecordReader.report_records` hands them out: typed, or the general dict."""
        add, add_typed = self.add, self.add_typed
        for typed, payload in items:
            if typed is None:
                add(payload)
            else:
                add_typed(typed, payload)

    def add(self, record: dict[str, Any]) -> None:
        timestamp = self._timestamp(record)
        if timestamp is None:
            return
        try:
            record_id = str(record.get("record_id") or f"{record['request_id']}#{record['part']}")
            live, shadow = record["live"], record["shadow"]
            live_labels, shadow_labels = live["predictions"], shadow["predictions"]
            live_probabilities, shadow_probabilities = live["probabilities"], shadow["probabilities"]
            live_ms, shadow_ms = float(live["inference_ms"]), float(shadow["inference_ms"])
            first_part = int(record.get("part", 0)) == 0
            rows = len(live_labels)
            if not rows or len(shadow_labels) != rows or len(live_probabilities) != rows:
                raise ValueError("rows do not line up")
            if len(shadow_probabilities) != rows:
                raise ValueError("rows do not line up")
        except (KeyError, TypeError, ValueError):
            self.invalid += 1
            return
        hour = self._count(record_id, timestamp, first_part, live, shadow, rows, live_ms, shadow_ms)
        if hour is None:
            return
        for index in range(rows):
            self._add_row(
                record, index, hour, live_labels, shadow_labels, live_probabilities, shadow_probabilities
            )

    def add_typed(self, record: TypedRecord, line: bytes) -> None:
        """`add` for a record decoded by `typed_records` from `line`: the same checks in the same
        order, on fields whose types the decoder already checked (so none of `add`'s conversions can
        fail). A row that makes the most-disagreeing list is listed from the line parsed in full by
        the general path, so its entry is the one `add` makes."""
        timestamp = record.timestamp
        if not self._since <= timestamp < self._until:
            self.outside_window += 1
            return
        record_id = record.record_id
        if not record_id:  # `add` makes the id from request_id and part, or finds the record invalid
            self.add(load_line(line))
            return
        live, shadow = record.live, record.shadow
        live_labels, shadow_labels = live.predictions, shadow.predictions
        live_probabilities, shadow_probabilities = live.probabilities, shadow.probabilities
        rows = len(live_labels)
        if (
            not rows
            or len(shadow_labels) != rows
            or len(live_probabilities) != rows
            or len(shadow_probabilities) != rows
        ):
            self.invalid += 1
            return
        seen = self._seen
        if record_id in seen:
            self.duplicates += 1
            return
        seen.add(record_id)
        self.records += 1
        hour = self._hours.get(timestamp[:13])
        if hour is None:
            hour = self._hours[timestamp[:13]] = _Hour()
        if record.part == 0:
            live_ms = live.inference_ms
            self.requests += 1
            hour.requests += 1
            self.request_minutes[(str(live.function_version), timestamp[:16])] += 1
            self._live_ms.append(live_ms)
            hour.live_ms_sum += live_ms
            hour.live_ms_count += 1
        shadow_ms = shadow.inference_ms
        self._shadow_ms.append(shadow_ms)
        hour.shadow_ms_sum += shadow_ms
        hour.shadow_ms_count += 1
        versions = (live.model_version, shadow.model_version, live.function_version)
        counted = self._typed_versions.get(versions)
        if counted is None:
            self._first_versions(versions)
            counted = 0
        self._typed_versions[versions] = counted + rows
        self.rows += rows
        hour.rows += rows
        pairs = self._typed_pairs
        differences = self._differences
        top = self._top
        top_size = self._top_size
        for index in range(rows):
            live_label, shadow_label = live_labels[index], shadow_labels[index]
            agree = live_label == shadow_label
            self.agree += agree
            hour.agree += agree
            pairs[(live_label, shadow_label)] += 1
            live_p, shadow_p = live_probabilities[index], shadow_probabilities[index]
            classes = len(live_p)
            if classes != len(shadow_p) or not live_p:
                self.incomparable_rows += 1
                continue
            if classes == 2:
                first = abs(shadow_p[0] - live_p[0])
                second_live, second_shadow = live_p[1], shadow_p[1]
                second = abs(second_shadow - second_live)
                difference = second if second > first else first
                self._signed_sum += second_shadow - second_live
                self._signed_count += 1
            else:
                difference = max(abs(s - p) for p, s in zip(live_p, shadow_p, strict=True))
            differences.append(difference)
            hour.difference_sum += difference
            hour.differences += 1
            if not top_size:
                continue
            score = (0 if agree else 1, difference)
            if len(top) < top_size or score > top[0][0]:
                self._push_top(score, self._top_entry(load_line(line), index, difference))

    def _first_versions(self, versions: tuple[str | None, str | None, str | None]) -> None:
        """Insert the text keys of versions seen first in a typed record, where `add` would."""
        live_model, shadow_model, live_function = (str(version) for version in versions)
        self._live_models[live_model] += 0
        self._shadow_models[shadow_model] += 0
        self._live_functions[live_function] += 0

    def _counts_by_text(self) -> tuple[Counter[tuple[str, str]], Counter[str], Counter[str], Counter[str]]:
        """The confusion and version counters with the typed records' raw counts added."""
        confusion = self._confusion.copy()
        for (live_label, shadow_label), count in self._typed_pairs.items():
            confusion[(str(live_label), str(shadow_label))] += count
        live_models, shadow_models = self._live_models.copy(), self._shadow_models.copy()
        live_functions = self._live_functions.copy()
        for (live_model, shadow_model, live_function), rows in self._typed_versions.items():
            live_models[str(live_model)] += rows
            shadow_models[str(shadow_model)] += rows
            live_functions[str(live_function)] += rows
        return confusion, live_models, shadow_models, live_functions

    def _add_row(
        self,
        record: dict[str, Any],
        index: int,
        hour: _Hour,
        live_labels: list[Any],
        shadow_labels: list[Any],
        live_probabilities: list[Any],
        shadow_probabilities: list[Any],
    ) -> None:
        live_label, shadow_label = live_labels[index], shadow_labels[index]
        agree = live_label == shadow_label
        self.agree += agree
        hour.agree += agree
        self._confusion[(str(live_label), str(shadow_label))] += 1
        live_p, shadow_p = live_probabilities[index], shadow_probabilities[index]
        classes = len(live_p)
        if classes != len(shadow_p) or not live_p:
            self.incomparable_rows += 1
            return
        if classes == 2:  # the common case, unrolled: the same value as the general max() below
            first = abs(float(shadow_p[0]) - float(live_p[0]))
            second_live, second_shadow = float(live_p[1]), float(shadow_p[1])
            second = abs(second_shadow - second_live)
            difference = second if second > first else first
            self._signed_sum += second_shadow - second_live
            self._signed_count += 1
        else:
            difference = max(abs(float(s) - float(p)) for p, s in zip(live_p, shadow_p, strict=True))
        self._differences.append(difference)
        hour.difference_sum += difference
        hour.differences += 1
        score = (0 if agree else 1, difference)
        top = self._top
        if not self._top_size:  # --top 0: no rows listed (the heap has no smallest to compare with)
            return
        if len(top) < self._top_size or score > top[0][0]:
            self._push_top(score, self._top_entry(record, index, difference))

    @staticmethod
    def _top_entry(record: dict[str, Any], index: int, difference: float) -> dict[str, Any]:
        """A listed row (the record as the general path parses it: the values as written)."""
        live, shadow = record["live"], record["shadow"]
        return {
            "request_id": record.get("request_id"),
            "row": int(record.get("row_offset", 0)) + index,
            "timestamp": record["timestamp"],
            "live_label": live["predictions"][index],
            "shadow_label": shadow["predictions"][index],
            "live_probabilities": live["probabilities"][index],
            "shadow_probabilities": shadow["probabilities"][index],
            "probability_difference": difference,
            "inputs": (record.get("inputs") or [None] * (index + 1))[index],
        }

    def _push_top(self, score: tuple[int, float], entry: dict[str, Any]) -> None:
        top = self._top
        item = (score, next(self._tiebreak), entry)
        if len(top) < self._top_size:
            heapq.heappush(top, item)
        else:
            heapq.heapreplace(top, item)

    # -- the report ---------------------------------------------------------------------------------

    def result(self, *, source: dict[str, Any] | None = None) -> dict[str, Any]:
        confusion, live_models, shadow_models, live_functions = self._counts_by_text()
        labels = sorted({label for pair in confusion for label in pair}, key=label_key)
        matrix = [[confusion.get((live, shadow), 0) for shadow in labels] for live in labels]
        interval = wilson_interval(self.agree, self.rows)
        counts, edges = np.histogram(
            np.frombuffer(self._differences, dtype=np.float64), bins=self._bins, range=(0.0, 1.0)
        )
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            **self._head(source, live_models, shadow_models, live_functions),
            "agreement": {
                "rows": self.rows,
                "agree": self.agree,
                "disagree": self.rows - self.agree,
                "rate": self.agree / self.rows if self.rows else None,
                "ci95": list(interval) if interval else None,
                "method": "Wilson score interval, 95%",
            },
            "confusion": {"labels": labels, "matrix": matrix, "rows": "live", "columns": "shadow"},
            "probability_difference": {
                "measure": "max over classes of |p_shadow - p_live| per row",
                "summary": quantiles(self._differences, (0.5, 0.9, 0.99)),
                "mean_signed_second_class": (
                    self._signed_sum / self._signed_count if self._signed_count else None
                ),
                "incomparable_rows": self.incomparable_rows,
                "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
            },
            "latency_ms": self._latency(),
            "hourly": [self._hour_dict(name, hour) for name, hour in sorted(self._hours.items())],
            "top_disagreements": self._top_sorted(self._top),
        }

    @staticmethod
    def _hour_dict(name: str, hour: _Hour) -> dict[str, Any]:
        return hour_sums(
            name,
            hour,
            agreement=hour.agree / hour.rows if hour.rows else None,
            mean_probability_difference=hour.difference_sum / hour.differences if hour.differences else None,
        )
