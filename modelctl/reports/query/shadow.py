"""The shadow report (classifier pairs) from Athena's aggregates: the document
`modelctl.reports.shadow.stats.ReportBuilder.result` builds, from per-hour record counts, per
(hour, versions, labels, bin) row counts, the window's approximate quantiles and the most
disagreeing rows (`sql.shadow_*_query`).

Counts, agreement and its interval, the confusion matrix, the histogram, means and maxima are the
in-process figures; the quantiles (p50/p90/p99 of the probability difference and the latencies)
are Athena's `approx_percentile` (marked `"approximate": true`). A window whose answers are mostly
a regressor's raises `RegressionRecordsError`: the regression comparison (correlation, tolerance) runs in
process."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from modelctl.reports.query.athena import AthenaRunner
from modelctl.reports.query.documents import QueryRunner
from modelctl.reports.query.sql import (
    HISTOGRAM_BINS,
    Tables,
    shadow_records_query,
    shadow_rows_query,
    shadow_top_query,
    shadow_totals_query,
)
from modelctl.reports.shadow.counts import REPORT_SCHEMA_VERSION, wilson_interval
from modelctl.reports.shadow.stats import label_key
from modelctl.reports.shadow.window import Window
from release.errors import ShadowError


class RegressionRecordsError(ShadowError):
    """The window holds a regressor's records: its report runs in process."""


def _int(value: str | None) -> int:
    return int(value) if value not in (None, "") else 0


def _float(value: str | None) -> float:
    return float(value) if value not in (None, "") else 0.0


def _json(value: str | None) -> Any:
    """A value as the record wrote it: numbers and arrays parsed, text kept."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _summary(
    totals: dict[str, str | None], kind: str, count: int, value_sum: float, points: tuple[str, ...]
) -> dict[str, Any] | None:
    if count == 0:
        return None
    named = {point: _float(totals.get(f"{kind}_{point}")) for point in points}
    return {
        **named,
        "mean": value_sum / count,
        "max": _float(totals.get(f"{kind}_max")),
        "count": count,
        "approximate": True,
    }


def shadow_document(runner: QueryRunner, tables: Tables, window: Window, *, top: int) -> dict[str, Any]:
    """The classifier shadow report's document for the window."""
    since, until = window.since, window.until
    answers = runner.rows(shadow_rows_query(tables, since=since, until=until))
    numeric = sum(_int(row["numeric_answers"]) for row in answers)
    rows_total = sum(_int(row["rows"]) for row in answers)
    if rows_total and numeric * 2 > rows_total:
        raise RegressionRecordsError(
            "the window holds a regressor's shadow records: the Athena engine compares classifiers; "
            "use --engine local"
        )
    hours: dict[str, defaultdict[str, float]] = {}

    def hour(name: str | None) -> defaultdict[str, float]:
        return hours.setdefault(str(name), defaultdict(float))

    records = duplicates = requests = live_count = shadow_count = 0
    live_sum = shadow_sum = 0.0
    for row in runner.rows(shadow_records_query(tables, since=since, until=until)):
        entry = hour(row["hour"])
        entry["requests"] += _int(row["requests"])
        entry["live_ms_sum"] += _float(row["live_ms_sum"])
        entry["live_ms_count"] += _int(row["live_ms_count"])
        entry["shadow_ms_sum"] += _float(row["shadow_ms_sum"])
        entry["shadow_ms_count"] += _int(row["shadow_ms_count"])
        records += _int(row["records"])
        duplicates += _int(row["duplicates"])
        requests += _int(row["requests"])
        live_count += _int(row["live_ms_count"])
        shadow_count += _int(row["shadow_ms_count"])
        live_sum += _float(row["live_ms_sum"])
        shadow_sum += _float(row["shadow_ms_sum"])
    confusion: Counter[tuple[str, str]] = Counter()
    live_models: Counter[str] = Counter()
    shadow_models: Counter[str] = Counter()
    live_functions: Counter[str] = Counter()
    histogram = [0] * HISTOGRAM_BINS
    agree = differences = signed_count = 0
    difference_sum = signed_sum = 0.0
    for row in answers:
        count = _int(row["rows"])
        live_label, shadow_label = str(row["live_label"]), str(row["shadow_label"])
        entry = hour(row["hour"])
        entry["rows"] += count
        confusion[(live_label, shadow_label)] += count
        live_models[str(row["live_model"])] += count
        shadow_models[str(row["shadow_model"])] += count
        live_functions[str(row["live_function"])] += count
        if live_label == shadow_label:
            agree += count
            entry["agree"] += count
        differences += _int(row["differences"])
        difference_sum += _float(row["difference_sum"])
        entry["difference_sum"] += _float(row["difference_sum"])
        entry["differences"] += _int(row["differences"])
        signed_count += _int(row["signed_count"])
        signed_sum += _float(row["signed_sum"])
        if row["bin"] is not None:
            histogram[_int(row["bin"])] += _int(row["differences"])
    (totals,) = runner.rows(shadow_totals_query(tables, since=since, until=until))
    labels = sorted({label for pair in confusion for label in pair}, key=label_key)
    interval = wilson_interval(agree, rows_total)
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "window": {"since": window.since_text, "until": window.until_text},
        "source": {
            "records": records,
            "duplicates_dropped": duplicates,
            "outside_window": 0,
            "invalid_records": 0,
        },
        "counts": {"requests": requests, "messages": records, "rows": rows_total},
        "models": {
            "live": dict(live_models.most_common()),
            "shadow": dict(shadow_models.most_common()),
            "live_function_versions": dict(live_functions.most_common()),
        },
        "agreement": {
            "rows": rows_total,
            "agree": agree,
            "disagree": rows_total - agree,
            "rate": agree / rows_total if rows_total else None,
            "ci95": list(interval) if interval else None,
            "method": "Wilson score interval, 95%",
        },
        "confusion": {
            "labels": labels,
            "matrix": [[confusion.get((live, shadow), 0) for shadow in labels] for live in labels],
            "rows": "live",
            "columns": "shadow",
        },
        "probability_difference": {
            "measure": "max over classes of |p_shadow - p_live| per row",
            "summary": _summary(totals, "difference", differences, difference_sum, ("p50", "p90", "p99")),
            "mean_signed_second_class": signed_sum / signed_count if signed_count else None,
            "incomparable_rows": rows_total - differences,
            "histogram": {
                "edges": [float(e) for e in np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)],
                "counts": histogram,
            },
        },
        "latency_ms": {
            "measure": "model inference time as measured by each function",
            "live": _summary(totals, "live", live_count, live_sum, ("p50", "p99")),
            "shadow": _summary(totals, "shadow", shadow_count, shadow_sum, ("p50", "p99")),
        },
        "hourly": [_hour(name, hours[name]) for name in sorted(hours)],
        "top_disagreements": _top(runner, tables, window, top) if top else [],
    }


def _hour(name: str, hour: defaultdict[str, float]) -> dict[str, Any]:
    def mean(total: str, count: str) -> float | None:
        return hour[total] / hour[count] if hour[count] else None

    return {
        "hour": f"{name}:00Z",
        "requests": int(hour["requests"]),
        "rows": int(hour["rows"]),
        "agreement": hour["agree"] / hour["rows"] if hour["rows"] else None,
        "mean_probability_difference": mean("difference_sum", "differences"),
        "live_mean_ms": mean("live_ms_sum", "live_ms_count"),
        "shadow_mean_ms": mean("shadow_ms_sum", "shadow_ms_count"),
    }


def _top(runner: QueryRunner, tables: Tables, window: Window, top: int) -> list[dict[str, Any]]:
    rows = runner.rows(shadow_top_query(tables, since=window.since, until=window.until, top=top))
    return [
        {
            "request_id": row["request_id"],
            "row": _int(row["row"]),
            "timestamp": row["timestamp"],
            "live_label": _json(row["live_label"]),
            "shadow_label": _json(row["shadow_label"]),
            "live_probabilities": _json(row["live_probabilities"]),
            "shadow_probabilities": _json(row["shadow_probabilities"]),
            "probability_difference": _float(row["difference"]),
            "inputs": _json(row["inputs"]),
        }
        for row in rows
    ]


def shadow_report(
    runner: AthenaRunner, tables: Tables, window: Window, *, top: int, bucket: str, generated_at: str
) -> dict[str, Any]:
    """`shadow_document` with the source the CLI shows (the queries' cost instead of objects read)."""
    started = time.perf_counter()
    document = shadow_document(runner, tables, window, top=top)
    document["source"] = {
        "bucket": bucket,
        "engine": "athena",
        "athena": runner.stats.to_dict(),
        "read_seconds": round(time.perf_counter() - started, 3),
        "generated_at": generated_at,
        **document["source"],
    }
    return document


def athena_shadow_report(factory: Any, engine: str, window: Window, *, top: int) -> dict[str, Any] | None:
    """The report from Athena when `--engine` chooses it (`modelctl.reports.query.engine.for_report`),
    else None (the caller reads in process). `auto` falls back to the in-process reader for a
    regressor's window; `athena` says to."""
    from modelctl.reports.query.engine import for_report

    athena = for_report(factory, engine, window.until - window.since)
    if athena is None:
        return None
    try:
        return shadow_report(
            *athena,
            window,
            top=top,
            bucket=factory.shadow_target.log_bucket,
            generated_at=factory.time().isoformat(timespec="seconds"),
        )
    except RegressionRecordsError:
        if engine == "auto":
            return None
        raise
