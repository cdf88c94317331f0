"""The regression shadow report's maths on known inputs: by hand on a few rows, and against numpy
and scipy reference computations on generated ones; routing between the two kinds of report."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from scipy import stats as scipy_stats

from modelctl.reports.shadow import render_html, render_terminal
from modelctl.reports.shadow.builder import ShadowReportBuilder
from modelctl.reports.shadow.regression import (
    RegressionReportBuilder,
    Tolerance,
    is_regression_record,
    pearson,
)
from modelctl.reports.shadow.stats import ReportBuilder
from modelctl.reports.shadow.window import Window

WINDOW = Window(datetime(2026, 1, 2, 12, tzinfo=UTC), datetime(2026, 1, 2, 15, tzinfo=UTC))


def rec(
    request_id: str,
    *,
    live: list[float],
    shadow: list[float],
    timestamp: str = "2026-01-02T13:00:00.000Z",
    part: int = 0,
    row_offset: int = 0,
    live_ms: float = 1.0,
    shadow_ms: float = 2.0,
) -> dict[str, Any]:
    """A regression record: numbers as predictions, no probabilities."""
    return {
        "record_id": f"{request_id}#{part}",
        "request_id": request_id,
        "part": part,
        "row_offset": row_offset,
        "timestamp": timestamp,
        "inputs": [[float(i), 1.0] for i in range(len(live))],
        "live": {
            "model_version": "m-live",
            "function_version": "3",
            "predictions": live,
            "probabilities": [],
            "inference_ms": live_ms,
        },
        "shadow": {
            "model_version": "m-cand",
            "function_version": "$LATEST",
            "predictions": shadow,
            "probabilities": [[] for _ in shadow],
            "inference_ms": shadow_ms,
        },
    }


def build(records: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    builder = RegressionReportBuilder(WINDOW, **kwargs)
    for record in records:
        builder.add(record)
    return builder.result()


def test_a_few_rows_by_hand() -> None:
    tolerance = Tolerance(absolute=1.0, relative=0.05)
    report = build(
        [
            rec("a", live=[100.0, 200.0], shadow=[110.0, 190.0]),
            rec(
                "b",
                live=[0.0],
                shadow=[0.5],
                timestamp="2026-01-02T14:10:00.000Z",
                live_ms=3.0,
                shadow_ms=4.0,
            ),
        ],
        tolerance=tolerance,
    )
    assert report["task"] == "regression"
    assert report["counts"] == {"requests": 2, "messages": 2, "rows": 3}
    difference = report["difference"]
    # d = +10, -10, +0.5
    assert difference["summary"]["mean"] == pytest.approx(0.5 / 3)
    assert difference["summary"]["min"] == -10.0 and difference["summary"]["max"] == 10.0
    assert difference["summary"]["p50"] == 0.5
    assert difference["mean_absolute"] == pytest.approx(20.5 / 3)
    # relative to live, over the rows whose live prediction is not 0: 10/100 and 10/200
    assert difference["mean_relative"] == pytest.approx(0.075) and difference["relative_rows"] == 2
    # within: |10| <= 1 + 5 no; |-10| <= 1 + 10 yes; |0.5| <= 1 + 0 yes
    within = report["tolerance"]
    assert (within["within"], within["outside"], within["rows"]) == (2, 1, 3)
    assert within["rate"] == pytest.approx(2 / 3)
    assert within["rule"] == "|shadow - live| <= 1 + 0.05 x |live|"
    # live (100, 200, 0) and shadow (110, 190, 0.5)
    assert report["correlation"]["pearson"] == pytest.approx(
        float(np.corrcoef([100, 200, 0], [110, 190, 0.5])[0, 1])
    )
    assert report["latency_ms"]["live"]["mean"] == 2.0 and report["latency_ms"]["shadow"]["count"] == 2
    assert [hour["hour"] for hour in report["hourly"]] == ["2026-01-02T13:00Z", "2026-01-02T14:00Z"]
    first, second = report["hourly"]
    assert first["mean_difference"] == 0.0 and first["mean_absolute_difference"] == 10.0
    assert first["within_tolerance"] == 0.5 and second["within_tolerance"] == 1.0
    assert second["live_mean_ms"] == 3.0 and second["shadow_mean_ms"] == 4.0
    top = report["top_differences"]
    assert [(row["request_id"], row["row"], row["difference"]) for row in top] == [
        ("a", 0, 10.0),
        ("a", 1, -10.0),
        ("b", 0, 0.5),
    ]
    assert top[0]["relative_difference"] == pytest.approx(0.1) and top[0]["within_tolerance"] is False
    assert top[2]["relative_difference"] is None and top[2]["inputs"] == [0.0, 1.0]


def generated(seed: int = 7, requests: int = 300) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    """Requests of 1..4 rows over three hours; the shadow is the live value scaled, shifted and
    noisy, with a few far-off rows and some live values of exactly 0."""
    rng = np.random.default_rng(seed)
    records, lives, shadows = [], [], []
    for index in range(requests):
        rows = int(rng.integers(1, 5))
        live = rng.normal(150.0, 60.0, rows)
        live[rng.random(rows) < 0.03] = 0.0
        shadow = 1.02 * live + 3.0 + rng.normal(0.0, 8.0, rows)
        shadow[rng.random(rows) < 0.02] += 400.0
        minute = index % 180
        timestamp = f"2026-01-02T{12 + minute // 60:02d}:{minute % 60:02d}:00.000Z"
        records.append(
            rec(
                f"r{index}",
                live=[float(v) for v in live],
                shadow=[float(v) for v in shadow],
                timestamp=timestamp,
                live_ms=float(rng.uniform(0.05, 0.2)),
                shadow_ms=float(rng.uniform(0.1, 0.5)),
            )
        )
        lives.append(live)
        shadows.append(shadow)
    return records, np.concatenate(lives), np.concatenate(shadows)


def test_the_statistics_match_numpy_and_scipy() -> None:
    records, live, shadow = generated()
    tolerance = Tolerance(absolute=2.0, relative=0.03)
    report = build(records, tolerance=tolerance, top=5, bins=20)
    d = shadow - live
    summary = report["difference"]["summary"]
    for name, q in (("p1", 1), ("p5", 5), ("p25", 25), ("p50", 50), ("p75", 75), ("p95", 95), ("p99", 99)):
        assert summary[name] == pytest.approx(np.percentile(d, q), rel=1e-12, abs=1e-9), name
    assert summary["mean"] == pytest.approx(d.mean(), rel=1e-12)
    assert (summary["min"], summary["max"], summary["count"]) == (d.min(), d.max(), len(d))
    assert report["difference"]["mean_absolute"] == pytest.approx(np.abs(d).mean(), rel=1e-12)
    nonzero = live != 0
    assert report["difference"]["mean_relative"] == pytest.approx(
        np.mean(np.abs(d[nonzero]) / np.abs(live[nonzero])), rel=1e-12
    )
    assert report["difference"]["relative_rows"] == int(nonzero.sum()) < len(d)

    # the histogram: numpy's over [min(p1, 0), max(p99, 0)], the rest counted below and above
    histogram = report["difference"]["histogram"]
    low, high = min(np.percentile(d, 1), 0.0), max(np.percentile(d, 99), 0.0)
    counts, edges = np.histogram(d, bins=20, range=(low, high))
    assert histogram["counts"] == counts.tolist()
    assert histogram["edges"] == pytest.approx(edges.tolist())
    assert histogram["below"] == int((d < low).sum()) and histogram["above"] == int((d > high).sum())
    assert sum(histogram["counts"]) + histogram["below"] + histogram["above"] == len(d)

    # within tolerance is numpy.isclose with the live prediction as the reference
    within = int(np.isclose(shadow, live, rtol=0.03, atol=2.0).sum())
    assert report["tolerance"]["within"] == within
    ci = scipy_stats.binomtest(within, len(d)).proportion_ci(confidence_level=0.95, method="wilson")
    assert report["tolerance"]["ci95"] == pytest.approx([ci.low, ci.high], rel=1e-9)

    assert report["correlation"]["pearson"] == pytest.approx(
        scipy_stats.pearsonr(live, shadow).statistic, rel=1e-12
    )

    latency_live = np.asarray([r["live"]["inference_ms"] for r in records])
    assert report["latency_ms"]["live"]["p99"] == pytest.approx(np.percentile(latency_live, 99))

    # per hour: the same sums over the rows of each hour
    hour_of_row = np.concatenate(
        [[int(r["timestamp"][11:13])] * len(r["live"]["predictions"]) for r in records]
    )
    for hour in report["hourly"]:
        mask = hour_of_row == int(hour["hour"][11:13])
        assert hour["rows"] == int(mask.sum())
        assert hour["mean_difference"] == pytest.approx(d[mask].mean(), rel=1e-9)
        assert hour["mean_absolute_difference"] == pytest.approx(np.abs(d[mask]).mean(), rel=1e-9)
        assert hour["within_tolerance"] == pytest.approx(
            np.isclose(shadow[mask], live[mask], 0.03, 2.0).mean()
        )

    # the rows that differ most: the five largest |d|, largest first
    top = report["top_differences"]
    assert [abs(row["difference"]) for row in top] == pytest.approx(sorted(np.abs(d), reverse=True)[:5])


def test_pearson_is_undefined_for_a_constant_side_or_one_row() -> None:
    assert pearson(np.asarray([1.0, 2.0, 3.0]), np.asarray([5.0, 5.0, 5.0])) is None
    assert pearson(np.asarray([1.0]), np.asarray([2.0])) is None
    assert pearson(np.asarray([1.0, 2.0, 3.0]), np.asarray([3.0, 2.0, 1.0])) == pytest.approx(-1.0)


def test_identical_models_have_every_row_within_and_a_degenerate_histogram() -> None:
    report = build([rec("a", live=[1.5, 2.5], shadow=[1.5, 2.5])], tolerance=Tolerance(0.0, 0.0))
    assert report["tolerance"]["rate"] == 1.0
    assert report["difference"]["histogram"]["edges"][0] == -0.5
    assert report["difference"]["histogram"]["edges"][-1] == 0.5
    assert sum(report["difference"]["histogram"]["counts"]) == 2


def test_duplicates_window_and_invalid_records_are_counted_not_used() -> None:
    good = rec("a", live=[1.0], shadow=[2.0])
    report = build(
        [
            good,
            good,  # redelivered
            rec("early", live=[1.0], shadow=[1.0], timestamp="2026-01-02T11:59:59.999Z"),
            rec("short", live=[1.0, 2.0], shadow=[1.0]),
            rec("label", live=[1.0], shadow=[1]),  # a class label, not a number
            rec("nan", live=[1.0], shadow=[math.nan]),
            {"timestamp": 5},
        ]
    )
    assert report["counts"]["rows"] == 1
    assert report["source"] == {
        "records": 1,
        "duplicates_dropped": 1,
        "outside_window": 1,
        "invalid_records": 4,
    }


def test_tolerances_must_be_finite_and_not_negative() -> None:
    with pytest.raises(ValueError, match="absolute"):
        Tolerance(absolute=-1.0)
    with pytest.raises(ValueError, match="relative"):
        Tolerance(relative=math.inf)


def classifier_record(request_id: str, timestamp: str = "2026-01-02T13:00:00.000Z") -> dict[str, Any]:
    return {
        "record_id": f"{request_id}#0",
        "request_id": request_id,
        "part": 0,
        "timestamp": timestamp,
        "inputs": [[1.0]],
        "live": {
            "model_version": "m-l",
            "predictions": [1],
            "probabilities": [[0.2, 0.8]],
            "inference_ms": 1.0,
        },
        "shadow": {
            "model_version": "m-s",
            "predictions": [0],
            "probabilities": [[0.6, 0.4]],
            "inference_ms": 1.0,
        },
    }


def route(records: list[dict[str, Any]]) -> dict[str, Any]:
    builder = ShadowReportBuilder(WINDOW, top=3)
    builder.add_report_records((None, record) for record in records)
    return builder.result(source={"bucket": "b"})


def test_a_classifier_window_gives_exactly_the_classifier_report() -> None:
    records = [
        classifier_record("a"),
        classifier_record("b"),
        classifier_record("c", "2026-01-01T00:00:00.000Z"),
    ]
    alone = ReportBuilder(WINDOW, top=3)
    for record in records:
        alone.add(record)
    assert route(records) == alone.result(source={"bucket": "b"})
    assert route([]) == ReportBuilder(WINDOW, top=3).result(source={"bucket": "b"})


def test_regression_records_give_the_regression_report_and_a_mixed_window_counts_the_others() -> None:
    regression = [rec("r1", live=[1.0], shadow=[2.0]), rec("r2", live=[3.0], shadow=[3.0])]
    report = route([*regression, classifier_record("c")])
    assert report["task"] == "regression" and report["counts"]["rows"] == 2
    assert report["source"]["other_task_records"] == 1
    mostly_classifier = route([regression[0], classifier_record("c1"), classifier_record("c2")])
    assert "task" not in mostly_classifier and mostly_classifier["source"]["other_task_records"] == 1
    assert mostly_classifier["counts"]["rows"] == 2
    only_outside = route([rec("old", live=[1.0], shadow=[1.0], timestamp="2026-01-01T00:00:00.000Z")])
    assert only_outside["task"] == "regression" and only_outside["source"]["outside_window"] == 1


def test_records_are_told_apart_by_their_answers() -> None:
    assert is_regression_record(rec("a", live=[1.0], shadow=[1.0]))
    assert not is_regression_record(classifier_record("a"))
    assert not is_regression_record({"live": {"predictions": []}})
    assert not is_regression_record({"live": None})


def test_the_terminal_and_html_reports_show_the_regression_sections() -> None:
    records, _, _ = generated(requests=40)
    report = build(records, top=3)
    output = io.StringIO()
    render_terminal.render(report, Console(file=output, width=200))
    text = output.getvalue()
    for expected in (
        "Shadow report (regression)",
        "within tolerance",
        "Pearson",
        "Difference per row",
        "Per hour",
    ):
        assert expected in text
    assert "Confusion" not in text
    page = render_html.render(report)
    assert page.count("<svg") == 4 and "Rows that differ most" in page and "<script" not in page
    empty = build([])
    output = io.StringIO()
    render_terminal.render(empty, Console(file=output, width=200))
    assert "No shadow records in this window" in output.getvalue()
    assert "No shadow records" in render_html.render(empty)
