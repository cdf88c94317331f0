"""The accuracy report as one self-contained HTML page with inline SVG charts (no scripts, no network)."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from common.observe.drift import MAJOR, MODERATE
from modelctl.render.charts import ACCENT, LIVE, SHADOW, STYLE, bar_chart, fmt, html_table, line_chart, pct
from modelctl.reports import coverage
from modelctl.reports.coverage import join_text

TOP_FEATURES = 8


def render(document: dict[str, Any]) -> str:
    metric = document["metric"]
    source = document.get("source", {})
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>Live accuracy {escape(document['since'])} .. {escape(document['until'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Live accuracy and drift</h1><p class=muted>{escape(document['since'])} .. "
        f"{escape(document['until'])}, {document['windows']} windows of {document['window_seconds']} s; "
        f"metric {escape(metric)}</p>",
        '<div class="cards">',
    ]
    for title, value in (
        ("logged prediction rows", source.get("prediction_rows", 0)),
        ("labels received", source.get("feedback_labels", 0)),
        ("joined", source.get("feedback_matched", 0)),
        ("joined with earlier predictions", source.get("feedback_before_window", 0)),
        ("unknown request ids", source.get("feedback_unknown", 0)),
        ("model versions", len(document["versions"])),
    ):
        parts.append(f'<div class="card">{escape(title)}<b>{value}</b></div>')
    parts.append("</div>")
    joined, join_warning = join_text(source)
    parts.append(f"<p class=muted>{escape(joined)}</p>")
    if join_warning:
        parts.append(f"<p><b>Warning:</b> {escape(join_warning)}</p>")
    parts.append(coverage.render_html(document.get("record_coverage")))
    if not document["versions"]:
        parts.append("<p>No logged predictions in this window.</p>")
    for version in document["versions"]:
        parts.append(_version(version, metric))
        before = version.get("before_window")
        if before:
            parts.append(
                f"<p class=muted>plus {before['labelled']} labels received in the report for predictions "
                f"made before it: accuracy {pct(before.get('accuracy'))}, RMSE {fmt(before.get('rmse'))}</p>"
            )
    parts.append("</body></html>\n")
    return "".join(parts)


def _regression(version: dict[str, Any], labels: list[str]) -> list[str]:
    """A regressor's figures: MAE, RMSE and mean error (prediction - truth) per window."""
    windows = version["windows"]
    training = version.get("training") or {}
    return [
        f"<h2>{escape(version['model_version'])} (regression)</h2>",
        f"<p>{version['labelled']} labelled of {version['predictions']} logged rows; MAE "
        f"{fmt(version['mae'])}, RMSE {fmt(version['rmse'])}, mean error {fmt(version['mean_error'])}"
        + (
            f"; training holdout: MAE {fmt(training.get('mae'))}, RMSE {fmt(training.get('rmse'))}, "
            f"R² {fmt(training.get('r2'))}"
            if training
            else ""
        )
        + "</p>",
        line_chart(labels, [w["rmse"] for w in windows], title="RMSE per window", colour=LIVE),
        line_chart(labels, [w["mae"] for w in windows], title="MAE per window", colour=ACCENT),
        line_chart(labels, [w["mean_error"] for w in windows], title="mean error per window", colour=SHADOW),
        _windows_table(
            windows,
            ["MAE", "RMSE", "mean error"],
            lambda w: [fmt(w["mae"]), fmt(w["rmse"]), fmt(w["mean_error"])],
        ),
    ]


def _windows_table(
    windows: list[dict[str, Any]], quality: list[str], cells: Callable[[dict[str, Any]], list[Any]]
) -> str:
    """One row per window with predictions: its start, logged and labelled rows, the `quality`
    columns (`cells` of the window), then its largest PSI and that feature."""
    rows = [
        [
            w["start"],
            w["predictions"],
            w["labelled"],
            *cells(w),
            fmt(w["max_psi"]),
            w["max_psi_feature"] or "",
        ]
        for w in windows
        if w["predictions"]
    ]
    return html_table(["window start", "logged", "labelled", *quality, "max PSI", "feature"], rows)


def _version(version: dict[str, Any], metric: str) -> str:
    windows = version["windows"]
    labels = [w["start"][:16].replace("T", " ") for w in windows]
    if version.get("task") == "regression":
        *head, table = _regression(version, labels)
        return "".join([*head, *_drift(version, labels, table)])
    training = version.get("training") or {}
    parts = [
        f"<h2>{escape(version['model_version'])}</h2>",
        f"<p>{version['labelled']} labelled of {version['predictions']} logged rows; accuracy "
        f"{pct(version['accuracy'])}, {escape(metric)} {pct(version['metric'])}"
        + (
            f"; training holdout: accuracy {pct(training.get('accuracy'))}, {escape(metric)} "
            f"{pct(training.get(metric))}"
            if training
            else ""
        )
        + "</p>",
        line_chart(labels, [w["accuracy"] for w in windows], title="accuracy per window", colour=LIVE),
        line_chart(labels, [w["metric"] for w in windows], title=f"{metric} per window", colour=ACCENT),
    ]
    table = _windows_table(windows, ["accuracy", metric], lambda w: [pct(w["accuracy"]), pct(w["metric"])])
    return "".join([*parts, *_drift(version, labels, table)])


def _drift(version: dict[str, Any], labels: list[str], table: str) -> list[str]:
    """The largest PSI per window, the window table, and the features that drifted most."""
    windows = version["windows"]
    parts: list[str] = []
    if version["baseline"]:
        parts.append(
            bar_chart(
                labels,
                [("max PSI", SHADOW, [w["max_psi"] or 0.0 for w in windows])],
                title=f"largest feature PSI per window (> {MODERATE} moderate, > {MAJOR} major)",
            )
        )
    parts.append(table)
    if version["baseline"]:
        overall = {name: value for name, value in version["psi"].items() if value is not None}
        top = sorted(overall, key=lambda name: -overall[name])[:TOP_FEATURES]
        last = next((w for w in reversed(windows) if w["predictions"]), None)
        parts.append("<h3>Feature drift (PSI against the training baseline)</h3>")
        parts.append(
            html_table(
                ["feature", "whole span", "last window"],
                [[name, fmt(overall[name]), fmt(last["psi"].get(name) if last else None)] for name in top],
            )
        )
    else:
        parts.append("<p class=muted>No training baseline in this model's metadata: no drift figures.</p>")
    return parts
