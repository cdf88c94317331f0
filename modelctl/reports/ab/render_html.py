"""The A/B report as one self-contained HTML page with inline SVG charts (no scripts, no network):
rows per version, the metric per version, each version's 95% interval and the difference's."""

from __future__ import annotations

from html import escape
from typing import Any

from modelctl.render.charts import ACCENT, HEIGHT, LIVE, PAD, SHADOW, STYLE, WIDTH, bar_chart, fmt, html_table
from modelctl.reports import coverage
from modelctl.reports.ab.render_terminal import diff_interval_text, difference_text, interval_text, value_text
from modelctl.reports.coverage import join_text


def interval_chart(rows: list[tuple[str, float | None, float | None, float | None]], *, title: str) -> str:
    """One horizontal interval per row (name, low, point, high) on a shared axis, zero marked."""
    known = [v for _, low, point, high in rows for v in (low, point, high) if v is not None]
    low_end, high_end = min([*known, 0.0]), max([*known, 0.0])
    span = (high_end - low_end) or 1.0
    inner_w = WIDTH - 2 * PAD - 80
    height = max(HEIGHT // 2, PAD * 2 + 28 * len(rows))

    def x(value: float) -> float:
        return PAD + 80 + inner_w * (value - low_end) / span

    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img">']
    parts.append(f"<title>{escape(title)}</title>")
    parts.append(
        f'<line x1="{x(0.0):.1f}" y1="{PAD // 2}" x2="{x(0.0):.1f}" y2="{height - PAD}" stroke="#bbb"/>'
    )
    parts.append(f'<text x="{x(0.0) + 3:.1f}" y="{height - PAD + 14}">0</text>')
    parts.append(f'<text x="{PAD + 80}" y="{height - 4}">{low_end:.4g}</text>')
    parts.append(f'<text x="{WIDTH - PAD - 40}" y="{height - 4}">{high_end:.4g}</text>')
    for index, (name, low, point, high) in enumerate(rows):
        y = PAD + 28 * index
        parts.append(f'<text x="4" y="{y + 4}">{escape(name)}</text>')
        if low is not None and high is not None:
            parts.append(
                f'<line x1="{x(low):.1f}" y1="{y}" x2="{x(high):.1f}" y2="{y}" '
                f'stroke="{LIVE}" stroke-width="3">'
                f"<title>{escape(name)}: [{low:.4g}, {high:.4g}]</title></line>"
            )
        if point is not None:
            parts.append(f'<circle cx="{x(point):.1f}" cy="{y}" r="4" fill="{SHADOW}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _interval_row(name: str, arm: dict[str, Any]) -> tuple[str, float | None, float | None, float | None]:
    low, high = arm["interval"] or (None, None)
    return name, low, arm["metric"], high


def render(document: dict[str, Any]) -> str:
    metric = document["metric"]
    cover = document["coverage"]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>A/B report {escape(document['since'])} .. {escape(document['until'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>A/B report: {escape(metric)}</h1><p class=muted>{escape(document['since'])} .. "
        f"{escape(document['until'])}; {escape(document['direction'].replace('_', ' '))}; versions from "
        f"{escape(document['versions_from'])}</p>",
        '<div class="cards">',
    ]
    for title, value in (
        ("predictions logged", cover["predictions_logged"]),
        ("labels received", cover["feedback_labels"]),
        ("joined", cover["joined"]),
        ("labels not joined", cover["feedback_unjoined"]),
        ("versions", len(document["arms"])),
    ):
        parts.append(f'<div class="card">{escape(title)}<b>{value}</b></div>')
    parts.append("</div>")
    parts.append(f"<p class=muted>{escape(join_text(cover)[0])}</p>")
    parts.extend(f"<p><b>Warning:</b> {escape(note)}</p>" for note in document["warnings"])
    parts.append(coverage.render_html(document.get("record_coverage")))
    arms = document["arms"]
    if not arms:
        parts.append("<p>No logged predictions in this window.</p></body></html>\n")
        return "".join(parts)
    names = [f"v{arm['function_version']} ({arm['role']})" for arm in arms]
    parts.append(
        bar_chart(
            names,
            [
                ("logged", LIVE, [float(arm["predictions"]) for arm in arms]),
                ("labelled", ACCENT, [float(arm["labelled"]) for arm in arms]),
            ],
            title="rows per version",
        )
    )
    parts.append(
        interval_chart(
            [_interval_row(name, arm) for name, arm in zip(names, arms, strict=True)],
            title=f"{metric} per version with its 95% interval",
        )
    )
    business = document["business_metric"]
    with_cost = business is not None
    headers = ["version", "role", "model", "logged", "labelled", metric, "95% interval"]
    if with_cost:
        headers.append(business["name"])
    rows = []
    for arm in arms:
        row = [
            arm["function_version"],
            arm["role"],
            ", ".join(arm["model_versions"]) or "-",
            arm["predictions"],
            arm["labelled"],
            value_text(metric, arm["metric"]),
            interval_text(metric, arm["interval"]),
        ]
        if with_cost:
            row.append(fmt(arm["business_value"], 4))
        rows.append(row)
    parts.append(html_table(headers, rows, left=3))
    if with_cost:
        parts.append(
            bar_chart(
                names,
                [(business["name"], SHADOW, [arm["business_value"] or 0.0 for arm in arms])],
                title=f"business metric per version: {business['name']} ({business['kind']})",
            )
        )
    parts.append(_comparison(document))
    parts.append("</body></html>\n")
    return "".join(parts)


def _comparison(document: dict[str, Any]) -> str:
    comparison = document["comparison"]
    if comparison is None:
        return "<p>Only one version: nothing to compare.</p>"
    metric = document["metric"]
    ci95 = comparison["difference_ci95"] or [None, None]
    sequence = comparison["confidence_sequence"]
    parts = [
        f"<h2>new - primary: v{escape(str(document['new']))} - v{escape(str(document['primary']))}</h2>",
        interval_chart(
            [
                ("95%, one look", ci95[0], comparison["difference"], ci95[1]),
                ("always valid", sequence[0], comparison["difference"], sequence[1]),
            ],
            title="difference new - primary",
        ),
        html_table(
            ["figure", "value"],
            [
                ["difference", difference_text(metric, comparison["difference"])],
                ["95% interval (one look)", diff_interval_text(metric, comparison["difference_ci95"])],
                ["always-valid sequence", diff_interval_text(metric, sequence)],
                ["always-valid p-value (mSPRT)", f"{comparison['p_value']:.4g}"],
            ],
        ),
    ]
    needed = document["labels_needed"]
    if needed is None:
        parts.append("<p>Labelled rows needed: not computable yet.</p>")
    else:
        parts.append(
            f"<p>To detect {escape(difference_text(metric, needed['effect']))} at {needed['power']:.0%} "
            f"power: {_total(needed['sequential_total'])} "
            f"labelled rows in total ({needed['sequential_more']} more) at the current split.</p>"
        )
    return "".join(parts)


def _total(value: int | None) -> str:
    return "not reachable" if value is None else str(value)
