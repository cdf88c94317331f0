"""The report as one self-contained HTML page with inline SVG charts (no scripts, no network)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 640, 220, 36
LIVE, SHADOW, ACCENT = "#4477aa", "#ee6677", "#228833"

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#222;max-width:72rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.7rem 1rem}
.card b{display:block;font-size:1.3rem}table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:right;font-variant-numeric:tabular-nums}
th{background:#f5f5f5}td.l,th.l{text-align:left}svg text{font-size:11px;fill:#444}.muted{color:#777}
"""


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def bar_chart(
    labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[float]]], *, title: str
) -> str:
    """Grouped vertical bars: one group per label, one bar per series (name, colour, values)."""
    groups = max(1, len(labels))
    largest = max([max(values, default=0.0) for _, _, values in series] + [0.0]) or 1.0
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    group_w = inner_w / groups
    bar_w = max(1.0, group_w * 0.8 / max(1, len(series)))
    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img">']
    parts.append(f"<title>{escape(title)}</title>")
    parts.append(
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>'
    )
    parts.append(f'<text x="{PAD}" y="{PAD - 8}">max {largest:.4g}</text>')
    for index, label in enumerate(labels):
        x0 = PAD + index * group_w + group_w * 0.1
        for position, (name, colour, values) in enumerate(series):
            value = values[index] if index < len(values) else 0.0
            height = inner_h * value / largest
            x = x0 + position * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{HEIGHT - PAD - height:.1f}" width="{bar_w:.1f}" '
                f'height="{height:.1f}" fill="{colour}">'
                f"<title>{escape(name)} {escape(label)}: {value:.4g}</title></rect>"
            )
        if groups <= 24 or index % max(1, groups // 12) == 0:
            parts.append(f'<text x="{x0:.1f}" y="{HEIGHT - PAD + 14}">{escape(label)}</text>')
    for position, (name, colour, _) in enumerate(series):
        parts.append(
            f'<rect x="{WIDTH - PAD - 110}" y="{8 + 14 * position}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{WIDTH - PAD - 96}" y="{17 + 14 * position}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(labels: Sequence[str], values: Sequence[float | None], *, title: str, colour: str) -> str:
    """A line over hours, y from 0 to 1 (rates)."""
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = inner_w / max(1, len(labels) - 1)
    points = [
        (PAD + index * step, HEIGHT - PAD - inner_h * value)
        for index, value in enumerate(values)
        if value is not None
    ]
    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img">']
    parts.append(f"<title>{escape(title)}</title>")
    for level in (0.0, 0.5, 1.0):
        y = HEIGHT - PAD - inner_h * level
        parts.append(f'<line x1="{PAD}" y1="{y:.1f}" x2="{WIDTH - PAD}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="2" y="{y + 4:.1f}">{level:.0%}</text>')
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for (x, y), label, value in zip(
            points,
            [lb for lb, v in zip(labels, values, strict=True) if v is not None],
            [v for v in values if v is not None],
            strict=True,
        ):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(label)}: {value:.2%}</title></circle>"
            )
    if labels:
        parts.append(f'<text x="{PAD}" y="{HEIGHT - PAD + 14}">{escape(labels[0])}</text>')
        parts.append(f'<text x="{WIDTH - PAD - 90}" y="{HEIGHT - PAD + 14}">{escape(labels[-1])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, left: int = 1) -> str:
    head = "".join(
        f'<th class="{"l" if i < left else ""}">{escape(str(h))}</th>' for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"l" if i < left else ""}">{escape(str(v))}</td>' for i, v in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


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
    window, counts, agreement = report["window"], report["counts"], report["agreement"]
    title = f"Shadow report {window['since']} .. {window['until']}"
    out = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"]
    out.append(f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>")
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
