"""The report as one self-contained HTML page with inline SVG charts (no scripts, no network)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from modelctl.render.charts import ACCENT, bar_chart, line_chart
from modelctl.render.charts import fmt as _fmt
from modelctl.render.charts import html_table as _table
from modelctl.render.charts import pct as _pct
from modelctl.reports import coverage
from modelctl.reports.shadow import render_parts as parts
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
    out = parts.head(title)
    out.append(coverage.render_html(report.get("record_coverage")))
    models = report["models"]
    if counts["rows"] == 0:
        out.append(parts.NO_RECORDS)
    else:
        ci = agreement["ci95"]
        out.extend(
            parts.cards(
                [
                    ("requests", str(counts["requests"])),
                    ("rows", str(counts["rows"])),
                    ("label agreement", _pct(agreement["rate"])),
                    ("95% CI", f"{_pct(ci[0])} .. {_pct(ci[1])}"),
                    ("live model", ", ".join(models["live"])),
                    ("shadow model", ", ".join(models["shadow"])),
                ]
            )
        )
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
        out.extend(parts.latency(report))
        hours = report["hourly"]
        labels = parts.hour_labels(hours)
        out.extend(parts.hourly_requests(hours, labels))
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
    out.append(parts.footer(report["source"]))
    return "\n".join(out)


def _probabilities(values: list[float]) -> str:
    return "[" + ", ".join(f"{float(v):.3f}" for v in values) + "]"
