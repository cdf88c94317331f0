"""The A/B report on the terminal: coverage of the join, one row per version (labelled rows, the
metric with its 95% interval, the business cost), the comparison new - primary with the always-valid
p-value, and the labelled rows still needed."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from modelctl.render.charts import fmt, pct
from modelctl.reports import coverage
from modelctl.reports.coverage import join_text


def value_text(metric: str, value: float | None) -> str:
    """Accuracy as a percentage, an error in its own units."""
    return pct(value) if metric == "accuracy" else fmt(value, 4)


def difference_text(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{100 * value:+.2f} points" if metric == "accuracy" else f"{value:+.4f}"


def interval_text(metric: str, bounds: list[float | None] | None) -> str:
    if not bounds or bounds[0] is None or bounds[1] is None:
        return "-"
    return f"[{value_text(metric, bounds[0])}, {value_text(metric, bounds[1])}]"


def diff_interval_text(metric: str, bounds: list[float | None] | None) -> str:
    if not bounds or bounds[0] is None or bounds[1] is None:
        return "-"
    return f"[{difference_text(metric, bounds[0])}, {difference_text(metric, bounds[1])}]"


def render(document: dict[str, Any], console: Console) -> None:
    metric = document["metric"]
    better = "higher" if document["direction"] == "higher_is_better" else "lower"
    console.print(
        f"[bold]A/B report[/bold] {document['since']} .. {document['until']}: {metric} ({better} is better), "
        f"versions from {document['versions_from']}",
        highlight=False,
    )
    cover = document["coverage"]
    console.print(
        f"{cover['predictions_logged']} predictions logged, {cover['feedback_labels']} labels received "
        f"({cover['feedback_items']} feedback items), {cover['joined']} joined, "
        f"{cover['feedback_unjoined']} not joined",
        highlight=False,
    )
    console.print(join_text(cover)[0], highlight=False)
    for note in document["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {note}", highlight=False)
    coverage.render_terminal(document.get("record_coverage"), console)
    if not document["arms"]:
        console.print("No logged predictions in this window. Is prediction logging on? (docs/monitoring.md)")
        return
    business = document["business_metric"]
    with_cost = business is not None
    table = Table(show_edge=False)
    columns = ["version", "role", "model", "logged", "labelled", metric, "95% interval"]
    if with_cost:
        columns.append(business["name"].replace("_", " "))
    for index, name in enumerate(columns):
        table.add_column(name, justify="left" if index < 3 else "right")
    for arm in document["arms"]:
        row = [
            arm["function_version"],
            arm["role"],
            ", ".join(arm["model_versions"]) or "-",
            str(arm["predictions"]),
            str(arm["labelled"]),
            value_text(metric, arm["metric"]),
            interval_text(metric, arm["interval"]),
        ]
        if with_cost:
            row.append(fmt(arm["business_value"], 4))
        table.add_row(*row)
    console.print(table)
    comparison = document["comparison"]
    if comparison is None:
        return
    if comparison["difference"] is None:
        console.print(
            f"\nnew - primary (v{document['new']} - v{document['primary']}): not defined until both "
            "versions have labelled rows",
            highlight=False,
        )
        return
    console.print(
        f"\nnew - primary (v{document['new']} - v{document['primary']}): "
        f"{difference_text(metric, comparison['difference'])}, 95% interval "
        f"{diff_interval_text(metric, comparison['difference_ci95'])} (one look), "
        f"always-valid {1 - comparison['alpha']:.0%} sequence "
        f"{diff_interval_text(metric, comparison['confidence_sequence'])}",
        highlight=False,
    )
    console.print(f"always-valid p-value (mSPRT): {comparison['p_value']:.4g}", highlight=False)
    business = document.get("business_comparison")
    if business and business["difference"] is not None:
        console.print(
            f"business metric {document['business_metric']['name']}: new - primary "
            f"{business['difference']:+.4g}, always-valid p-value {business['p_value']:.4g}",
            highlight=False,
        )
    needed = document["labels_needed"]
    if needed is None:
        console.print("labelled rows needed: not computable yet (no variance, or one version has no share)")
    else:
        more = needed["sequential_more"]
        console.print(
            f"to detect {difference_text(metric, needed['effect'])} at {needed['power']:.0%} power: "
            + (
                f"{needed['sequential_total']} labelled rows in total ({more} more) at the current split"
                if more is not None
                else "not reachable"
            ),
            highlight=False,
        )
