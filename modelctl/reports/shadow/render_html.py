"""The report as one self-contained HTML page with inline SVG charts (no scripts, no network)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from modelctl.render.charts import ACCENT, LIVE, SHADOW, STYLE, bar_chart, line_chart
from modelctl.render.charts import fmt as _fmt
from modelctl.render.charts import html_table as _table
from modelctl.render.charts import pct as _pct
from modelctl.reports import coverage
from modelctl.reports.shadow import render_regression


def _confusion(confusion: dict[str, Any]) -> str:
    labels, matrix = confusion["labels"], confusion["matrix"]
    largest = max([max(row) for row in matrix] + [1])
    head = '<th class="l">live \\ shadow</th>' + "".join(f"<th>{escape(str(label))}</th>" for label in labels)
    rows = []
    for label, row in zip(labels, matrix, strict=True):
        cells = "".join(
            f'<td style="background:rgba(68,119,170,{0.08 + 0.6 * value / largest:.2f})">{value}</td>'
            for value in row
        )
        rows.append(f'<tr><th class="l">{escape(str(label))}</th>{cells}</tr>')
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def render(report: dict[str, Any]) -> str:
    if report.get("task") == "regression":
        page = render_regression.render_html(report)
        return page.replace("</body>", coverage.render_html(report.get("record_coverage")) + "</body>", 1)
    window, counts, agreement = report["window"], report["counts"], report["agreement"]
    title = f"Shadow report {window['since']} .. {window['until']}"
    out = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"]
    out.append(f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>")
    out.append(coverage.render_html(report.get("record_coverage")))
    models = report["models"]
    if counts["rows"] == 0:
        out.append(
            "<p>No shadow records in this window. Is a shadow running? "
            "<code>modelctl shadow status</code></p>"
        )
    else:
        ci = agreement["ci95"]
        cards = [
            ("requests", str(counts["requests"])),
            ("rows", str(counts["rows"])),
            ("label agreement", _pct(agreement["rate"])),
            ("95% CI", f"{_pct(ci[0])} .. {_pct(ci[1])}"),
            ("live model", ", ".join(models["live"])),
            ("shadow model", ", ".join(models["shadow"])),
        ]
        out.append('<div class="cards">')
        out.extend(f'<div class="card">{escape(name)}<b>{escape(value)}</b></div>' for name, value in cards)
        out.append("</div>")
        out.append("<h2>Confusion matrix (rows: live label, columns: shadow label)</h2>")
        out.append(_confusion(report["confusion"]))
        difference = report["probability_difference"]
        edges, bins = difference["histogram"]["edges"], difference["histogram"]["counts"]
        out.append("<h2>Probability difference per row: max over classes of |p_shadow - p_live|</h2>")
        out.append(
            bar_chart(
                [f"{edges[i]:.2f}" for i in range(len(bins))],
                [("rows", ACCENT, [float(c) for c in bins])],
                title="rows per probability difference",
            )
        )
        summary = difference["summary"] or {}
        out.append(
            _table(
                ["p50", "p90", "p99", "max", "mean", "mean signed (2nd class)"],
                [
                    [_fmt(summary.get(k), 4) for k in ("p50", "p90", "p99", "max", "mean")]
                    + [_fmt(difference["mean_signed_second_class"], 4)]
                ],
                left=0,
            )
        )
        latency = report["latency_ms"]
        out.append("<h2>Model inference time (ms)</h2>")
        live, shadow = latency["live"] or {}, latency["shadow"] or {}
        out.append(
            bar_chart(
                ["p50", "p99", "mean"],
                [
                    ("live", LIVE, [float(live.get(k, 0.0)) for k in ("p50", "p99", "mean")]),
                    ("shadow", SHADOW, [float(shadow.get(k, 0.0)) for k in ("p50", "p99", "mean")]),
                ],
                title="inference time, live vs shadow",
            )
        )
        hours = report["hourly"]
        labels = [hour["hour"][5:16].replace("T", " ") for hour in hours]
        out.append("<h2>Per hour (UTC)</h2>")
        out.append(
            bar_chart(labels, [("requests", LIVE, [float(h["requests"]) for h in hours])], title="requests")
        )
        out.append(
            line_chart(labels, [h["agreement"] for h in hours], title="agreement per hour", colour=ACCENT)
        )
        out.append(
            _table(
                ["hour", "requests", "rows", "agreement", "mean |dp|", "live ms", "shadow ms"],
                [
                    [
                        h["hour"],
                        h["requests"],
                        h["rows"],
                        _pct(h["agreement"]),
                        _fmt(h["mean_probability_difference"], 4),
                        _fmt(h["live_mean_ms"]),
                        _fmt(h["shadow_mean_ms"]),
                    ]
                    for h in hours
                ],
            )
        )
        out.append("<h2>Most disagreeing rows</h2>")
        out.append(
            _table(
                ["request", "row", "time", "live", "shadow", "|dp|", "inputs"],
                [
                    [
                        r["request_id"],
                        r["row"],
                        r["timestamp"],
                        f"{r['live_label']} {_probabilities(r['live_probabilities'])}",
                        f"{r['shadow_label']} {_probabilities(r['shadow_probabilities'])}",
                        f"{r['probability_difference']:.4f}",
                        json.dumps(r["inputs"]),
                    ]
                    for r in report["top_disagreements"]
                ],
                left=6,
            )
        )
    source = report["source"]
    out.append(
        f'<p class="muted">{source["records"]} records from {source.get("objects", 0)} objects in '
        f"s3://{escape(str(source.get('bucket', '')))}; {source['duplicates_dropped']} duplicates dropped, "
        f"{source['invalid_records']} invalid, {source['outside_window']} outside the window. "
        f"Generated {escape(str(source.get('generated_at', '')))}.</p></body></html>"
    )
    return "\n".join(out)


def _probabilities(values: list[float]) -> str:
    return "[" + ", ".join(f"{float(v):.3f}" for v in values) + "]"
