"""A regression pair's report (`"task": "regression"`) on the terminal (Rich tables) and as one
self-contained HTML page (inline SVG, no scripts, no network), from the report's JSON document."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from modelctl.render.charts import ACCENT, bar_chart, html_table, line_chart
from modelctl.render.charts import fmt as _num
from modelctl.render.charts import pct as _pct
from modelctl.reports.shadow import render_parts as parts

HOUR_COLUMNS = ("requests", "rows", "mean diff", "mean |diff|", "within tol.", "live ms", "shadow ms")
TOP_COLUMNS = ("request", "row", "time", "live", "shadow", "shadow - live", "relative")


def _signed(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:+.{digits}g}"


def _g(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _bar(count: int, largest: int, width: int = 30) -> str:
    return "█" * (round(width * count / largest) if largest else 0)


def _empty_note(report: dict[str, Any]) -> str:
    source = report["source"]
    return (
        f"No shadow records in this window ({source.get('objects', 0)} objects read, "
        f"{source['outside_window']} records outside the window). Is a shadow running? "
        "`modelctl shadow status`"
    )


def _summary_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    counts, models = report["counts"], report["models"]
    difference, tolerance = report["difference"], report["tolerance"]
    low, high = tolerance["ci95"] or (None, None)
    return [
        ("requests / messages / rows", f"{counts['requests']} / {counts['messages']} / {counts['rows']}"),
        ("live model(s)", ", ".join(models["live"])),
        ("shadow model(s)", ", ".join(models["shadow"])),
        ("mean difference (shadow - live)", _signed((difference["summary"] or {}).get("mean"))),
        ("mean absolute difference", _g(difference["mean_absolute"])),
        (
            f"mean relative difference ({difference['relative_rows']} rows with live != 0)",
            _pct(difference["mean_relative"]),
        ),
        (
            f"within tolerance ({tolerance['rule']})",
            f"{_pct(tolerance['rate'])}  (95% CI {_pct(low)} .. {_pct(high)})",
        ),
        ("rows outside tolerance", str(tolerance["outside"])),
        ("correlation (Pearson's r)", _num(report["correlation"]["pearson"], 4)),
        ("duplicates dropped", str(report["source"]["duplicates_dropped"])),
    ]


QUANTILES = ("p1", "p5", "p25", "p50", "p75", "p95", "p99")


def render_terminal(report: dict[str, Any], console: Console) -> None:
    window, counts = report["window"], report["counts"]
    console.print(f"[bold]Shadow report (regression)[/bold] {window['since']} .. {window['until']}")
    if counts["rows"] == 0:
        console.print(_empty_note(report))
        return
    summary = Table(title="Summary", show_header=False)
    summary.add_column("what")
    summary.add_column("value", justify="right")
    for name, value in _summary_rows(report):
        summary.add_row(name, value)
    console.print(summary)

    difference = report["difference"]
    stats = difference["summary"] or {}
    histogram = Table(title="Difference per row: shadow - live")
    histogram.add_column("range")
    histogram.add_column("rows", justify="right")
    histogram.add_column("")
    bins = difference["histogram"]
    edges, values = bins["edges"], bins["counts"]
    largest = max([*values, bins["below"], bins["above"]], default=0)
    if bins["below"]:
        histogram.add_row(f"< {edges[0]:.4g}", str(bins["below"]), _bar(bins["below"], largest))
    for index, count in enumerate(values):
        if count:
            histogram.add_row(
                f"{edges[index]:.4g} .. {edges[index + 1]:.4g}", str(count), _bar(count, largest)
            )
    if bins["above"]:
        histogram.add_row(f"> {edges[-1]:.4g}", str(bins["above"]), _bar(bins["above"], largest))
    histogram.caption = "  ".join(f"{name} {_signed(stats.get(name))}" for name in (*QUANTILES, "min", "max"))
    console.print(histogram)

    console.print(parts.latency_table(report))

    hourly = Table(title="Per hour")
    for column in ("hour (UTC)", *HOUR_COLUMNS):
        hourly.add_column(column, justify="right")
    for hour in report["hourly"]:
        hourly.add_row(*_hour_cells(hour))
    console.print(hourly)

    top = Table(title="Rows that differ most")
    for column in TOP_COLUMNS:
        top.add_column(column)
    for row in report["top_differences"]:
        top.add_row(*_top_cells(row))
    console.print(top)


def _hour_cells(hour: dict[str, Any]) -> list[str]:
    return [
        hour["hour"],
        str(hour["requests"]),
        str(hour["rows"]),
        _signed(hour["mean_difference"]),
        _g(hour["mean_absolute_difference"]),
        _pct(hour["within_tolerance"]),
        _num(hour["live_mean_ms"]),
        _num(hour["shadow_mean_ms"]),
    ]


def _top_cells(row: dict[str, Any]) -> list[str]:
    return [
        str(row["request_id"]),
        str(row["row"]),
        str(row["timestamp"]),
        _g(row["live"], 6),
        _g(row["shadow"], 6),
        _signed(row["difference"]) + ("" if row["within_tolerance"] else " (outside)"),
        _pct(row["relative_difference"]),
    ]


def render_html(report: dict[str, Any]) -> str:
    window, counts = report["window"], report["counts"]
    title = f"Shadow report (regression) {window['since']} .. {window['until']}"
    out = parts.head(title)
    if counts["rows"] == 0:
        out.append(parts.NO_RECORDS)
    else:
        tolerance, difference = report["tolerance"], report["difference"]
        ci = tolerance["ci95"]
        out.extend(
            parts.cards(
                [
                    ("requests", str(counts["requests"])),
                    ("rows", str(counts["rows"])),
                    ("within tolerance", _pct(tolerance["rate"])),
                    ("95% CI", f"{_pct(ci[0])} .. {_pct(ci[1])}"),
                    ("mean |shadow - live|", _g(difference["mean_absolute"])),
                    ("Pearson's r", _num(report["correlation"]["pearson"], 4)),
                ]
            )
        )
        out.append(html_table(["what", "value"], _summary_rows(report)))
        bins = difference["histogram"]
        edges = bins["edges"]
        out.append("<h2>Difference per row: shadow - live</h2>")
        out.append(
            bar_chart(
                [f"{edges[i]:.3g}" for i in range(len(bins["counts"]))],
                [("rows", ACCENT, [float(c) for c in bins["counts"]])],
                title="rows per difference (bins from the lower edge)",
            )
        )
        stats = difference["summary"] or {}
        out.append(
            html_table(
                [*QUANTILES, "min", "max", "mean", f"below {edges[0]:.4g}", f"above {edges[-1]:.4g}"],
                [
                    [
                        *(_signed(stats.get(k)) for k in (*QUANTILES, "min", "max", "mean")),
                        bins["below"],
                        bins["above"],
                    ]
                ],
                left=0,
            )
        )
        out.extend(parts.latency(report))
        hours = report["hourly"]
        labels = parts.hour_labels(hours)
        out.extend(parts.hourly_requests(hours, labels))
        out.append(
            line_chart(
                labels,
                [h["within_tolerance"] for h in hours],
                title="share within tolerance per hour",
                colour=ACCENT,
            )
        )
        out.append(html_table(["hour", *HOUR_COLUMNS], [_hour_cells(hour) for hour in hours]))
        out.append("<h2>Rows that differ most</h2>")
        out.append(
            html_table(
                [*TOP_COLUMNS, "inputs"],
                [[*_top_cells(row), json.dumps(row["inputs"])] for row in report["top_differences"]],
                left=7,
            )
        )
    out.append(parts.footer(report["source"]))
    return "\n".join(out)
