"""The accuracy report as one self-contained HTML page with inline SVG charts (no scripts, no network)."""

from __future__ import annotations

from html import escape
from typing import Any

from common.observe.drift import MAJOR, MODERATE
from modelctl.render.charts import ACCENT, LIVE, SHADOW, STYLE, bar_chart, fmt, html_table, line_chart, pct

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
        ("feedback without a logged prediction", source.get("feedback_without_prediction", 0)),
        ("model versions", len(document["versions"])),
    ):
        parts.append(f'<div class="card">{escape(title)}<b>{value}</b></div>')
    parts.append("</div>")
    if not document["versions"]:
        parts.append("<p>No logged predictions in this window.</p>")
    for version in document["versions"]:
        parts.append(_version(version, metric))
    parts.append("</body></html>\n")
    return "".join(parts)


def _version(version: dict[str, Any], metric: str) -> str:
    windows = version["windows"]
    labels = [w["start"][:16].replace("T", " ") for w in windows]
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
    if version["baseline"]:
        parts.append(
            bar_chart(
                labels,
                [("max PSI", SHADOW, [w["max_psi"] or 0.0 for w in windows])],
                title=f"largest feature PSI per window (> {MODERATE} moderate, > {MAJOR} major)",
            )
        )
    rows = [
        [
            w["start"],
            w["predictions"],
            w["labelled"],
            pct(w["accuracy"]),
            pct(w["metric"]),
            fmt(w["max_psi"]),
            w["max_psi_feature"] or "",
        ]
        for w in windows
        if w["predictions"]
    ]
    parts.append(
        html_table(["window start", "logged", "labelled", "accuracy", metric, "max PSI", "feature"], rows)
    )
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
    return "".join(parts)
