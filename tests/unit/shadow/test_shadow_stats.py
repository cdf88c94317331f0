"""The report's maths on inputs whose answers are known by hand."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from modelctl.reports.shadow import render_html, render_terminal
from modelctl.reports.shadow.counts import quantiles, wilson_interval
from modelctl.reports.shadow.stats import ReportBuilder
from modelctl.reports.shadow.window import Window

WINDOW = Window(datetime(2026, 1, 2, 12, tzinfo=UTC), datetime(2026, 1, 2, 15, tzinfo=UTC))


def rec(
    request_id: str,
    *,
    live: list[int],
    shadow: list[int],
    live_p: list[float] | None = None,
    shadow_p: list[float] | None = None,
    timestamp: str = "2026-01-02T13:00:00.000Z",
    part: int = 0,
    live_ms: float = 1.0,
    shadow_ms: float = 2.0,
) -> dict[str, Any]:
    """A record with binary probabilities given as p(class 1) per row."""
    live_p = live_p if live_p is not None else [float(label) for label in live]
    shadow_p = shadow_p if shadow_p is not None else [float(label) for label in shadow]
    return {
        "record_id": f"{request_id}#{part}",
        "request_id": request_id,
        "part": part,
        "row_offset": 0,
        "timestamp": timestamp,
        "inputs": [[float(i)] for i in range(len(live))],
        "live": {
            "model_version": "m-live",
            "function_version": "3",
            "predictions": live,
            "probabilities": [[1 - p, p] for p in live_p],
            "inference_ms": live_ms,
        },
        "shadow": {
            "model_version": "m-cand",
            "function_version": "$LATEST",
            "predictions": shadow,
            "probabilities": [[1 - p, p] for p in shadow_p],
            "inference_ms": shadow_ms,
        },
    }


def build(records: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    builder = ReportBuilder(WINDOW, **kwargs)
    for record in records:
        builder.add(record)
    return builder.result()


def test_wilson_interval_matches_the_textbook_values() -> None:
    low, high = wilson_interval(8, 10)  # type: ignore[misc]
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    low, high = wilson_interval(10, 10)  # type: ignore[misc]
    assert round(low, 4) == 0.7225 and high == pytest.approx(1.0)
    low, high = wilson_interval(0, 5)  # type: ignore[misc]
    assert (low, round(high, 4)) == (0.0, 0.4345)
    assert wilson_interval(0, 0) is None


def test_counts_agreement_and_confusion() -> None:
    report = build(
        [
            rec("a", live=[0, 1, 1], shadow=[0, 1, 0]),
            rec("b", live=[1], shadow=[1]),
            rec("c", live=[0, 0], shadow=[1, 0]),
        ]
    )
    assert report["counts"] == {"requests": 3, "messages": 3, "rows": 6}
    assert report["agreement"]["agree"] == 4 and report["agreement"]["disagree"] == 2
    assert report["agreement"]["rate"] == pytest.approx(4 / 6)
    assert report["agreement"]["ci95"] == pytest.approx(list(wilson_interval(4, 6)))  # type: ignore[arg-type]
    assert report["confusion"]["labels"] == ["0", "1"]
    # rows live, columns shadow: live 0 -> shadow 0 twice, shadow 1 once; live 1 -> 1 twice, 0 once
    assert report["confusion"]["matrix"] == [[2, 1], [1, 2]]
    assert report["models"] == {
        "live": {"m-live": 6},
        "shadow": {"m-cand": 6},
        "live_function_versions": {"3": 6},
    }


def test_probability_differences_and_their_distribution() -> None:
    report = build(
        [
            rec(
                "a",
                live=[1, 1, 0, 0],
                shadow=[1, 1, 0, 1],
                live_p=[0.875, 0.5, 0.25, 0.375],
                shadow_p=[0.625, 0.5, 0.0, 0.625],
            ),
        ],
        bins=10,
    )
    difference = report["probability_difference"]
    # |dp| per row: 0.25, 0.0, 0.25, 0.25 (for two classes, the same on both classes)
    assert difference["summary"]["p50"] == 0.25
    assert difference["summary"]["max"] == 0.25
    assert difference["summary"]["mean"] == 0.1875
    assert difference["summary"]["count"] == 4
    assert difference["mean_signed_second_class"] == (-0.25 + 0 - 0.25 + 0.25) / 4
    assert difference["histogram"]["counts"] == [1, 0, 3, 0, 0, 0, 0, 0, 0, 0]
    assert sum(difference["histogram"]["counts"]) == 4
    assert len(difference["histogram"]["edges"]) == 11


def test_latency_is_per_request_for_live_and_per_message_for_shadow() -> None:
    report = build(
        [
            rec("a", live=[1], shadow=[1], live_ms=1.0, shadow_ms=10.0, part=0),
            rec("a", live=[1], shadow=[1], live_ms=1.0, shadow_ms=20.0, part=1),
            rec("b", live=[1], shadow=[1], live_ms=3.0, shadow_ms=30.0),
        ]
    )
    assert report["counts"] == {"requests": 2, "messages": 3, "rows": 3}
    assert report["latency_ms"]["live"] == {
        "p50": 2.0,
        "p99": pytest.approx(2.98),
        "mean": 2.0,
        "max": 3.0,
        "count": 2,
    }
    assert report["latency_ms"]["shadow"]["p50"] == 20.0
    assert report["latency_ms"]["shadow"]["count"] == 3


def test_duplicates_invalid_and_out_of_window_records_are_left_out_and_counted() -> None:
    report = build(
        [
            rec("a", live=[1], shadow=[1]),
            rec("a", live=[1], shadow=[0]),  # the same record delivered twice: the first one counts
            rec("b", live=[1], shadow=[1], timestamp="2026-01-02T11:59:59.999Z"),
            rec("c", live=[1], shadow=[1], timestamp="2026-01-02T15:00:00.000Z"),  # until is exclusive
            {"timestamp": "2026-01-02T13:00:00.000Z", "live": {}},
            {"no": "timestamp"},
            rec("d", live=[1, 0], shadow=[1]),  # rows do not line up
        ]
    )
    assert report["counts"]["requests"] == 1
    assert report["agreement"]["rate"] == 1.0
    source = report["source"]
    assert (source["duplicates_dropped"], source["outside_window"], source["invalid_records"]) == (1, 2, 3)


def test_per_hour_trend() -> None:
    report = build(
        [
            rec("a", live=[1, 1], shadow=[1, 0], timestamp="2026-01-02T12:10:00.000Z"),
            rec("b", live=[1], shadow=[1], timestamp="2026-01-02T14:59:00.000Z", live_ms=4.0, shadow_ms=6.0),
            rec("c", live=[0], shadow=[0], timestamp="2026-01-02T14:00:00.000Z", live_ms=2.0, shadow_ms=2.0),
        ]
    )
    assert [(h["hour"], h["requests"], h["rows"], h["agreement"]) for h in report["hourly"]] == [
        ("2026-01-02T12:00Z", 1, 2, 0.5),
        ("2026-01-02T14:00Z", 2, 2, 1.0),
    ]
    assert (report["hourly"][1]["live_mean_ms"], report["hourly"][1]["shadow_mean_ms"]) == (3.0, 4.0)


def test_most_disagreeing_rows_put_label_changes_first() -> None:
    report = build(
        [
            rec("small-flip", live=[0], shadow=[1], live_p=[0.49], shadow_p=[0.51]),
            rec("big-shift", live=[1], shadow=[1], live_p=[0.99], shadow_p=[0.6]),
            rec("big-flip", live=[1], shadow=[0], live_p=[0.9], shadow_p=[0.2]),
            rec("same", live=[1], shadow=[1], live_p=[0.9], shadow_p=[0.9]),
        ],
        top=3,
    )
    top = report["top_disagreements"]
    assert [row["request_id"] for row in top] == ["big-flip", "small-flip", "big-shift"]
    assert top[0]["probability_difference"] == pytest.approx(0.7)
    assert (top[0]["live_label"], top[0]["shadow_label"], top[0]["inputs"]) == (1, 0, [0.0])


def test_top_zero_lists_no_rows_and_counts_everything_else() -> None:
    # `modelctl shadow report --top 0` is allowed: it used to fail comparing with an empty heap
    report = build([rec("flip", live=[0], shadow=[1]), rec("same", live=[1], shadow=[1])], top=0)
    assert report["top_disagreements"] == []
    assert (report["agreement"]["rows"], report["agreement"]["disagree"]) == (2, 1)


def test_an_empty_window_is_a_report_with_zero_counts() -> None:
    report = build([])
    assert report["counts"] == {"requests": 0, "messages": 0, "rows": 0}
    assert report["agreement"]["rate"] is None and report["agreement"]["ci95"] is None
    assert report["probability_difference"]["summary"] is None
    assert report["latency_ms"] == {"measure": report["latency_ms"]["measure"], "live": None, "shadow": None}
    assert report["hourly"] == [] and report["top_disagreements"] == []
    console = Console(file=io.StringIO(), width=120)
    render_terminal.render(report, console)
    assert "No shadow records in this window" in console.file.getvalue()  # type: ignore[attr-defined]
    assert "No shadow records in this window" in render_html.render(report)


def test_renderers_show_every_section() -> None:
    report = build(
        [
            rec("a", live=[0, 1, 1], shadow=[0, 1, 0], timestamp="2026-01-02T12:30:00.000Z"),
            rec("b<script>", live=[1], shadow=[1], timestamp="2026-01-02T13:30:00.000Z"),
        ]
    )
    console = Console(file=io.StringIO(), width=160)
    render_terminal.render(report, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    for heading in (
        "Summary",
        "Confusion",
        "Probability difference",
        "inference time",
        "Per hour",
        "Most disagreeing",
    ):
        assert heading in text
    page = render_html.render(report)
    assert page.count("<svg") == 4  # differences, latency, requests per hour, agreement per hour
    assert "<script>" not in page and "b&lt;script&gt;" in page
    assert "75.00%" in page  # 3 of 4 rows agree


def test_quantiles_of_nothing_is_none() -> None:
    from array import array

    assert quantiles(array("d"), (0.5,)) is None
