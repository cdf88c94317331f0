"""The report on the terminal (Rich tables), from the report's JSON document."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from modelctl.render.charts import fmt as _num
from modelctl.render.charts import pct as _pct
from modelctl.reports import coverage
from modelctl.reports.shadow import render_parts as parts
from modelctl.reports.shadow import render_regression


def _bar(count: int, largest: int, width: int = 30) -> str:
    return "█" * (round(width * count / largest) if largest else 0)


def render(report: dict[str, Any], console: Console) -> None:
    if report.get("task") == "regression":
        render_regression.render_terminal(report, console)
        coverage.render_terminal(report.get("record_coverage"), console)
        return
    window, counts = report["window"], report["counts"]
    console.print(f"[bold]Shadow report[/bold] {window['since']} .. {window['until']}")
    coverage.render_terminal(report.get("record_coverage"), console)
    if counts["rows"] == 0:
        source = report["source"]
        console.print(
            f"No shadow records in this window ({source.get('objects', 0)} objects read, "
            f"{source['outside_window']} records outside the window). Is a shadow running? "
            "`modelctl shadow status`"
        )
        return
    models = report["models"]
    summary = Table(title="Summary", show_header=False)
    summary.add_column("what")
    summary.add_column("value", justify="right")
    agreement = report["agreement"]
    low, high = agreement["ci95"]
    summary.add_row(
        "requests / messages / rows", f"{counts['requests']} / {counts['messages']} / {counts['rows']}"
    )
    summary.add_row("live model(s)", ", ".join(models["live"]))
    summary.add_row("shadow model(s)", ", ".join(models["shadow"]))
    summary.add_row("label agreement", f"{_pct(agreement['rate'])}  (95% CI {_pct(low)} .. {_pct(high)})")
    summary.add_row("rows that disagree", str(agreement["disagree"]))
    summary.add_row("duplicates dropped", str(report["source"]["duplicates_dropped"]))
    console.print(summary)

    confusion = report["confusion"]
    matrix = Table(title="Confusion (rows: live label, columns: shadow label)")
    matrix.add_column("live \\ shadow")
    for label in confusion["labels"]:
        matrix.add_column(str(label), justify="right")
    for label, row in zip(confusion["labels"], confusion["matrix"], strict=True):
        matrix.add_row(str(label), *(str(value) for value in row))
    console.print(matrix)

    difference = report["probability_difference"]
    summary_d = difference["summary"] or {}
    histogram = Table(title="Probability difference per row: max |p_shadow - p_live|")
    histogram.add_column("range")
    histogram.add_column("rows", justify="right")
    histogram.add_column("")
    edges, values = difference["histogram"]["edges"], difference["histogram"]["counts"]
    largest = max(values) if values else 0
    for index, count in enumerate(values):
        if count:
            histogram.add_row(
                f"{edges[index]:.2f} - {edges[index + 1]:.2f}", str(count), _bar(count, largest)
            )
    histogram.caption = (
        f"p50 {_num(summary_d.get('p50'), 4)}  p90 {_num(summary_d.get('p90'), 4)}  "
        f"p99 {_num(summary_d.get('p99'), 4)}  max {_num(summary_d.get('max'), 4)}"
        + (
            f"  mean signed (shadow - live, 2nd class) {difference['mean_signed_second_class']:+.4f}"
            if difference["mean_signed_second_class"] is not None
            else ""
        )
    )
    console.print(histogram)

    console.print(parts.latency_table(report))

    hourly = Table(title="Per hour")
    for column in ("hour (UTC)", "requests", "rows", "agreement", "mean |dp|", "live ms", "shadow ms"):
        hourly.add_column(column, justify="right")
    for hour in report["hourly"]:
        hourly.add_row(
            hour["hour"],
            str(hour["requests"]),
            str(hour["rows"]),
            _pct(hour["agreement"]),
            _num(hour["mean_probability_difference"], 4),
            _num(hour["live_mean_ms"]),
            _num(hour["shadow_mean_ms"]),
        )
    console.print(hourly)

    top = Table(title="Most disagreeing rows")
    for column in ("request", "row", "time", "live", "shadow", "|dp|"):
        top.add_column(column)
    for row in report["top_disagreements"]:
        top.add_row(
            str(row["request_id"]),
            str(row["row"]),
            str(row["timestamp"]),
            f"{row['live_label']} {_probabilities(row['live_probabilities'])}",
            f"{row['shadow_label']} {_probabilities(row['shadow_probabilities'])}",
            f"{row['probability_difference']:.4f}",
        )
    console.print(top)


def _probabilities(values: list[float]) -> str:
    return "[" + ", ".join(f"{float(v):.3f}" for v in values) + "]"
