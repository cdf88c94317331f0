"""The accuracy report on the terminal: per model version a table of windows (with bars and a
sparkline of accuracy; for a regressor MAE, RMSE and mean error, with a sparkline of RMSE), and the
features that drifted most (PSI)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from common.observe.drift import MAJOR, MODERATE
from modelctl.render.charts import fmt, pct
from modelctl.reports import coverage
from modelctl.reports.coverage import join_text

SPARKS = "▁▂▃▄▅▆▇█"
TOP_FEATURES = 5


def sparkline(values: list[float | None]) -> str:
    """One character per value, scaled 0..1 (rates); a space where there is no value."""
    return "".join(
        " " if value is None else SPARKS[min(len(SPARKS) - 1, max(0, int(value * len(SPARKS))))]
        for value in values
    )


def _bar(value: float | None, width: int = 20) -> str:
    return "" if value is None else "█" * round(width * max(0.0, min(1.0, value)))


def _psi(value: float | None) -> str:
    if value is None:
        return "-"
    colour = "red" if value > MAJOR else "yellow" if value > MODERATE else "green"
    return f"[{colour}]{value:.3f}[/{colour}]"


def render(document: dict[str, Any], console: Console) -> None:
    metric = document["metric"]
    console.print(
        f"[bold]Live accuracy[/bold] {document['since']} .. {document['until']}, "
        f"windows of {document['window_seconds'] // 3600}h{document['window_seconds'] % 3600 // 60:02d}m",
        highlight=False,
    )
    source = document.get("source", {})
    joined, join_warning = join_text(source)
    console.print(f"{source.get('prediction_rows', 0)} logged prediction rows; {joined}", highlight=False)
    if join_warning:
        console.print(f"[yellow]warning:[/yellow] {join_warning}", highlight=False)
    coverage.render_terminal(document.get("record_coverage"), console)
    if not document["versions"]:
        console.print("No logged predictions in this window. Is prediction logging on? (docs/monitoring.md)")
        return
    for version in document["versions"]:
        _version(version, metric, console)
    business = document.get("business_metric")
    if business:
        for model_version, value in business["by_model_version"].items():
            shown = "-" if value is None else f"{value:.4g}"
            console.print(f"business metric {business['name']} of {model_version}: {shown}", highlight=False)


def _regression_table(version: dict[str, Any], console: Console) -> None:
    training = version.get("training") or {}
    trained = (
        f"; training holdout MAE {fmt(training.get('mae'))}, RMSE {fmt(training.get('rmse'))}, "
        f"R² {fmt(training.get('r2'))}"
        if training
        else ""
    )
    windows = version["windows"]
    console.print(
        f"\n[bold]{version['model_version']}[/bold] (regression): {version['labelled']} labelled of "
        f"{version['predictions']} logged, MAE {fmt(version['mae'])}, RMSE {fmt(version['rmse'])}, "
        f"mean error {fmt(version['mean_error'])}{trained}",
        highlight=False,
    )
    highest = max((w["rmse"] for w in windows if w["rmse"] is not None), default=None)
    scaled = [None if w["rmse"] is None or not highest else w["rmse"] / highest for w in windows]
    console.print(f"RMSE per window (0 .. {fmt(highest)}): |{sparkline(scaled)}|", highlight=False)
    _windows_table(
        console,
        windows,
        [("MAE", "right"), ("RMSE", "right"), ("mean error", "right")],
        lambda window: [fmt(window["mae"]), fmt(window["rmse"]), fmt(window["mean_error"])],
    )


def _windows_table(
    console: Console,
    windows: list[dict[str, Any]],
    quality: list[tuple[str, str]],
    cells: Callable[[dict[str, Any]], list[str]],
) -> None:
    """One row per window with predictions: its start, logged and labelled rows, the `quality`
    columns (`cells` of the window), then its largest PSI and that feature."""
    table = Table(show_edge=False)
    columns = [("window start", "left"), ("logged", "right"), ("labelled", "right"), *quality]
    for name, justify in (*columns, ("max PSI", "right"), ("feature", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for window in windows:
        if window["predictions"]:
            table.add_row(
                window["start"],
                str(window["predictions"]),
                str(window["labelled"]),
                *cells(window),
                _psi(window["max_psi"]),
                window["max_psi_feature"] or "",
            )
    console.print(table)


def _before_window(version: dict[str, Any]) -> str:
    """Labels received in the report for this version's predictions made before it."""
    before = version.get("before_window")
    if not before:
        return ""
    if version.get("task") == "regression":
        return f" (+{before['labelled']} labelled earlier predictions: RMSE {fmt(before.get('rmse'))})"
    return f" (+{before['labelled']} labelled earlier predictions: accuracy {pct(before.get('accuracy'))})"


def _version(version: dict[str, Any], metric: str, console: Console) -> None:
    if version.get("task") == "regression":
        _regression_table(version, console)
        if version.get("before_window"):
            console.print(_before_window(version).strip(" ()"), highlight=False)
        _drift(version, console)
        return
    training = version.get("training") or {}
    trained = (
        f"; training holdout accuracy {pct(training.get('accuracy'))}, {metric} {pct(training.get(metric))}"
        if training
        else ""
    )
    windows = version["windows"]
    console.print(
        f"\n[bold]{version['model_version']}[/bold]: {version['labelled']} labelled of "
        f"{version['predictions']} logged, accuracy {pct(version['accuracy'])}, {metric} "
        f"{pct(version['metric'])}{trained}{_before_window(version)}",
        highlight=False,
    )
    console.print(f"accuracy per window: |{sparkline([w['accuracy'] for w in windows])}|", highlight=False)
    _windows_table(
        console,
        windows,
        [("accuracy", "right"), ("", "left"), (metric, "right")],
        lambda window: [pct(window["accuracy"]), _bar(window["accuracy"]), pct(window["metric"])],
    )
    _drift(version, console)


def _drift(version: dict[str, Any], console: Console) -> None:
    windows = version["windows"]
    if not version["baseline"]:
        console.print("no training baseline in this model's metadata: no drift figures", highlight=False)
        return
    overall = {name: value for name, value in version["psi"].items() if value is not None}
    top = sorted(overall, key=lambda name: -overall[name])[:TOP_FEATURES]
    drift = Table(
        title=f"Most drifted features (PSI; > {MODERATE} moderate, > {MAJOR} major)", show_edge=False
    )
    drift.add_column("feature")
    drift.add_column("whole span", justify="right")
    drift.add_column("per window (0 .. 0.5)")
    for name in top:
        per_window = [None if w["psi"].get(name) is None else min(1.0, w["psi"][name] / 0.5) for w in windows]
        drift.add_row(name, _psi(overall[name]), sparkline(per_window))
    console.print(drift)
