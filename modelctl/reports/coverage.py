"""Coverage: how many requests the functions counted as served in a report's window, against how
many records the report found, per function version.

The served count is the inference function's own counter: the EMF metric `Predictions` (one per
answered request; `ShadowSampled` for the requests marked for the shadow), dimensions
FunctionVersion and service, in the function's metrics namespace, summed with CloudWatch
GetMetricData. CloudWatch rounds a query's start down to the minute (to 5 minutes or an hour for data
older than 15 or 63 days), so both sides are counted over the whole minutes inside the window
(`aligned`): the records found are counted per (function version, minute of the request time) and
summed over the same minutes. A request answered across a minute boundary at the window's edge can
fall on the other side of it in one of the two counts; the figures are otherwise exact.

Every report that reads records calls `coverage_document` and renders it (`render_terminal`,
`render_html`); the JSON documents carry it as `record_coverage`. A difference is a warning, never
an error: the report still shows what it found.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from common.observe.prediction_log import PredictionRow

NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"
SERVICE_ENV = "POWERTOOLS_SERVICE_NAME"
SERVED_METRIC = "Predictions"
SHADOW_SAMPLED_METRIC = "ShadowSampled"
MAX_QUERIES_PER_CALL = 500  # GetMetricData's limit
_MINUTE_TEXT = 16  # "YYYY-MM-DDTHH:MM"


def aligned(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The whole UTC minutes inside [since, until): both counts are taken over these."""
    start = since.astimezone(UTC)
    floor = start.replace(second=0, microsecond=0)
    start = floor if floor == start else floor + timedelta(minutes=1)
    end = until.astimezone(UTC).replace(second=0, microsecond=0)
    return start, max(start, end)


def minute_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


class RequestCounter:
    """Requests found per (function version, minute of the request time)."""

    def __init__(self) -> None:
        self.minutes: Counter[tuple[str, str]] = Counter()

    def add(self, function_version: str, requested_at: datetime | str) -> None:
        """One request; `requested_at` as a datetime or as the records' text `2026-...T16:20:01.123Z`."""
        text = requested_at[:_MINUTE_TEXT] if isinstance(requested_at, str) else minute_text(requested_at)
        self.minutes[(function_version, text)] += 1

    def add_row(self, row: PredictionRow) -> None:
        """A prediction row: its request counts once, at its row 0."""
        if row.row == 0:
            self.add(row.function_version, row.requested_at)

    def update(self, minutes: Counter[tuple[str, str]]) -> None:
        self.minutes.update(minutes)

    def per_version(self, start: datetime, end: datetime) -> dict[str, int]:
        first, last = minute_text(start), minute_text(end)
        counts: Counter[str] = Counter()
        for (version, minute), count in self.minutes.items():
            if first <= minute < last:
                counts[version] += count
        return dict(counts)


@dataclass(frozen=True)
class CounterSource:
    """Where a function's served counter lives."""

    namespace: str
    service: str
    metric: str = SERVED_METRIC

    @classmethod
    def of_function(
        cls, lambda_client: Any, function_name: str, metric: str = SERVED_METRIC
    ) -> CounterSource:
        """From the function's environment (Powertools' namespace and service variables)."""
        environment = (
            lambda_client.get_function_configuration(FunctionName=function_name)
            .get("Environment", {})
            .get("Variables", {})
        )
        namespace, service = environment.get(NAMESPACE_ENV), environment.get(SERVICE_ENV)
        if not namespace or not service:
            raise LookupError(f"function {function_name} sets no {NAMESPACE_ENV} and {SERVICE_ENV}")
        return cls(namespace=namespace, service=service, metric=metric)


def _versions_with_data(cloudwatch: Any, source: CounterSource) -> set[str]:
    versions: set[str] = set()
    pages = cloudwatch.get_paginator("list_metrics").paginate(
        Namespace=source.namespace,
        MetricName=source.metric,
        Dimensions=[{"Name": "service", "Value": source.service}],
    )
    for page in pages:
        for metric in page.get("Metrics", []):
            names = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            if set(names) == {"FunctionVersion", "service"}:
                versions.add(names["FunctionVersion"])
    return versions


def served_counts(
    cloudwatch: Any, source: CounterSource, *, start: datetime, end: datetime, versions: Iterable[str] = ()
) -> dict[str, int]:
    """The counter's sum over [start, end) per function version: the versions with data (ListMetrics
    lists those of the last two weeks) and `versions` (those the records name)."""
    names = sorted(_versions_with_data(cloudwatch, source) | set(versions))
    if end <= start or not names:
        return {name: 0 for name in names}
    period = max(60, -(-int((end - start).total_seconds()) // 60) * 60)
    totals: dict[str, int] = {}
    for first in range(0, len(names), MAX_QUERIES_PER_CALL):
        chunk = names[first : first + MAX_QUERIES_PER_CALL]
        queries = [
            {
                "Id": f"v{index}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": source.namespace,
                        "MetricName": source.metric,
                        "Dimensions": [
                            {"Name": "FunctionVersion", "Value": name},
                            {"Name": "service", "Value": source.service},
                        ],
                    },
                    "Period": period,
                    "Stat": "Sum",
                },
                "ReturnData": True,
            }
            for index, name in enumerate(chunk)
        ]
        values: dict[str, float] = {}
        pages = cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries, StartTime=start, EndTime=end
        )
        for page in pages:
            for result in page.get("MetricDataResults", []):
                values[result["Id"]] = values.get(result["Id"], 0.0) + sum(result.get("Values", []))
        for index, name in enumerate(chunk):
            totals[name] = round(values.get(f"v{index}", 0.0))
    return totals


def coverage_document(
    *,
    source: CounterSource | None,
    served: dict[str, int] | None,
    found: dict[str, int],
    start: datetime,
    end: datetime,
    found_what: str,
    error: str | None = None,
) -> dict[str, Any]:
    """The `record_coverage` section: per version served vs found, totals, and the warning."""
    versions = sorted(set(found) | set(served or {}), key=lambda v: (not v.isdigit(), v.zfill(12)))
    rows = [
        {
            "function_version": version,
            "served": None if served is None else served.get(version, 0),
            "found": found.get(version, 0),
        }
        for version in versions
    ]
    total_found = sum(found.values())
    total_served = None if served is None else sum(served.values())
    warning: str | None = None
    if served is None:
        warning = f"served count unavailable ({error or 'no counter'}): coverage unknown"
    else:
        differing = [r for r in rows if r["served"] != r["found"]]
        if differing:
            parts = ", ".join(
                f"v{r['function_version']} {r['served']} counted, {r['found']} found" for r in differing
            )
            warning = f"{found_what} differ from the requests the function counted: {parts}"
    return {
        "counter": source.metric if source is not None else None,
        "namespace": source.namespace if source is not None else None,
        "service": source.service if source is not None else None,
        "found_what": found_what,
        "start": start.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "end": end.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "served": total_served,
        "found": total_found,
        "complete": served is not None and warning is None,
        "versions": rows,
        "warning": warning,
    }


def measure(
    *,
    cloudwatch: Any,
    source: CounterSource | Exception | None,
    counter: RequestCounter,
    since: datetime,
    until: datetime,
    found_what: str,
) -> dict[str, Any]:
    """Count the served side for the window and compare it with `counter`; a failure to read the
    counter (no permission, no namespace) is reported in the section, never raised."""
    start, end = aligned(since, until)
    found = counter.per_version(start, end)
    served: dict[str, int] | None = None
    error: str | None = None
    if isinstance(source, Exception) or source is None:
        error = str(source) if source is not None else "no counter"
        source = None
    else:
        try:
            served = served_counts(cloudwatch, source, start=start, end=end, versions=found)
        except Exception as exc:  # an unreadable counter is reported, the report goes on
            error = f"{type(exc).__name__}: {exc}"[:300]
    return coverage_document(
        source=source, served=served, found=found, start=start, end=end, found_what=found_what, error=error
    )


# -- rendering: a few lines in each report -----------------------------------------------------------


def _served_text(value: int | None) -> str:
    return "?" if value is None else str(value)


def render_terminal(section: dict[str, Any] | None, console: Console) -> None:
    if not section:
        return
    per_version = ", ".join(
        f"v{r['function_version']} {_served_text(r['served'])}/{r['found']}" for r in section["versions"]
    )
    console.print(
        f"coverage {section['start']} .. {section['end']}: {_served_text(section['served'])} requests "
        f"counted ({section['counter'] or 'no counter'}), {section['found']} {section['found_what']} found"
        + (f" (counted/found: {per_version})" if per_version else ""),
        highlight=False,
    )
    if section["warning"]:
        console.print(f"[yellow]warning:[/yellow] {section['warning']}", highlight=False)


def render_html(section: dict[str, Any] | None) -> str:
    if not section:
        return ""
    rows = "".join(
        f"<tr><td class=l>{escape(r['function_version'])}</td><td>{_served_text(r['served'])}</td>"
        f"<td>{r['found']}</td></tr>"
        for r in section["versions"]
    )
    warning = f"<p><b>Warning:</b> {escape(section['warning'])}</p>" if section["warning"] else ""
    return (
        f"<h2>Coverage</h2><p class=muted>{escape(section['start'])} .. {escape(section['end'])}: requests "
        f"the function counted ({escape(str(section['counter']))}) against "
        f"{escape(section['found_what'])} found</p>{warning}"
        f"<table><tr><th class=l>function version</th><th>counted</th><th>found</th></tr>{rows}"
        f"<tr><td class=l>all</td><td>{_served_text(section['served'])}</td><td>{section['found']}</td></tr>"
        "</table>"
    )


def join_text(join: dict[str, Any]) -> tuple[str, str | None]:
    """The join's counts (`JoinStats.document()`) as one line, and a warning when labels name no
    record: (text, warning or None)."""
    days = join.get("lookback_seconds", 0) / 86400
    text = (
        f"{join.get('feedback_labels', 0)} labels ({join.get('feedback_duplicates', 0)} repeated labels "
        f"counted once, the latest received): {join.get('feedback_matched', 0)} joined in the window, "
        f"{join.get('feedback_before_window', 0)} joined with earlier predictions (lookback {days:g}d), "
        f"{join.get('feedback_unknown', 0)} unknown request ids, "
        f"{join.get('feedback_after_window', 0)} received after the window without a record in it"
    )
    unknown = join.get("feedback_unknown", 0)
    warning = (
        f"{unknown} labels name a (request id, row) with no record in the window or the lookback "
        "(never answered, or older than the lookback)"
        if unknown
        else None
    )
    return text, warning
