"""The parts of the shadow report that the classifier and the regression reports share: on the HTML
page the head and title, the empty-window note, the cards, the latency chart, the per-hour requests
chart and the footer that says where the records came from; in the terminal the latency table."""

from __future__ import annotations

from html import escape
from typing import Any

from rich.table import Table

from modelctl.render.charts import LIVE, SHADOW, STYLE, bar_chart, fmt

NO_RECORDS = (
    "<p>No shadow records in this window. Is a shadow running? <code>modelctl shadow status</code></p>"
)


def head(title: str) -> list[str]:
    """The page up to and including its <h1>."""
    return [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>",
    ]


def cards(items: list[tuple[str, str]]) -> list[str]:
    return [
        '<div class="cards">',
        *(f'<div class="card">{escape(name)}<b>{escape(value)}</b></div>' for name, value in items),
        "</div>",
    ]


def latency(report: dict[str, Any]) -> list[str]:
    """The live and shadow inference times (p50, p99, mean) side by side."""
    section = report["latency_ms"]
    live, shadow = section["live"] or {}, section["shadow"] or {}
    keys = ("p50", "p99", "mean")
    return [
        "<h2>Model inference time (ms)</h2>",
        bar_chart(
            list(keys),
            [
                ("live", LIVE, [float(live.get(k, 0.0)) for k in keys]),
                ("shadow", SHADOW, [float(shadow.get(k, 0.0)) for k in keys]),
            ],
            title="inference time, live vs shadow",
        ),
    ]


def hourly_requests(hours: list[dict[str, Any]], labels: list[str]) -> list[str]:
    """The per-hour section's heading and its requests chart."""
    return [
        "<h2>Per hour (UTC)</h2>",
        bar_chart(labels, [("requests", LIVE, [float(h["requests"]) for h in hours])], title="requests"),
    ]


def hour_labels(hours: list[dict[str, Any]]) -> list[str]:
    return [hour["hour"][5:16].replace("T", " ") for hour in hours]


def footer(source: dict[str, Any]) -> str:
    return (
        f'<p class="muted">{source["records"]} records from {source.get("objects", 0)} objects in '
        f"s3://{escape(str(source.get('bucket', '')))}; {source['duplicates_dropped']} duplicates dropped, "
        f"{source['invalid_records']} invalid, {source['outside_window']} outside the window. "
        f"Generated {escape(str(source.get('generated_at', '')))}.</p></body></html>"
    )


def latency_table(report: dict[str, Any]) -> Table:
    """The live and shadow inference times (p50, p99, mean, samples) for the terminal."""
    table = Table(title="Model inference time (ms)")
    for column in ("model", "p50", "p99", "mean", "samples"):
        table.add_column(column, justify="right" if column != "model" else "left")
    for name in ("live", "shadow"):
        timing = report["latency_ms"][name]
        if timing:
            table.add_row(
                name, fmt(timing["p50"]), fmt(timing["p99"]), fmt(timing["mean"]), str(timing["count"])
            )
    return table
