"""Inline SVG charts, HTML tables and number formats shared by the HTML reports (`modelctl shadow
report`, `modelctl report accuracy`): self-contained markup, no scripts, no network."""

from __future__ import annotations

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


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def pct(value: float | None) -> str:
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


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, left: int = 1) -> str:
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
