"""A regressor's live quality on a synthetic stream with known truth (S3 and CloudWatch in moto): day d
predicts truth + 0.5 d ± (1 + d), alternately, so the day's mean error (bias) is 0.5 d, its MAE 1 + d
and its RMSE sqrt((0.5 d)^2 + (1 + d)^2); `modelctl report accuracy` shows exactly those per window,
and the monitor publishes the configured regression metric (RMSE when a classifier's is configured)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from common.mirror.message import LiveResult, MirrorMessage
from common.mirror.record import ShadowRecord
from common.observe.feedback import Feedback
from common.observe.live_quality import S3ModelInfo
from modelctl.cli import app
from modelctl.factory import Factory
from monitor.monitor import Monitor, MonitorSettings
from tests.monitoring_support import (
    LOG_BUCKET,
    MODEL_BUCKET,
    create_buckets,
    put_feedback,
    put_records,
    standard_normal_baseline,
)
from tests.unit.modelctl.world import report_factory

MODEL = "m-regressor0001"
NOW = datetime(2026, 3, 11, 0, 0, tzinfo=UTC)
DAYS, ROWS_PER_DAY = 4, 40


def bias(day: int) -> float:
    return 0.5 * day


def spread(day: int) -> float:
    return 1.0 + day


def regression_record(request_id: str, moment: datetime, row: list[float], predicted: float) -> ShadowRecord:
    import numpy as np

    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    message = MirrorMessage(
        request_id=request_id,
        part=0,
        parts=1,
        row_offset=0,
        timestamp=stamp,
        candidate_model_version=None,
        inputs=np.asarray([row], dtype=np.float32),
        live=LiveResult(MODEL, "3", [predicted], [], 0.05),
    )
    return ShadowRecord(message=message, shadow=None, message_id=f"m-{request_id}", processed_at=stamp)


def metadata() -> dict[str, Any]:
    return {
        "version": MODEL,
        "task": "regression",
        "feature_names": ["x"],
        "class_labels": [],
        "metrics": {"mae": 1.5, "rmse": 2.0, "r2": 0.4},
        "feature_baseline": standard_normal_baseline("x"),
    }


@dataclass
class Stream:
    factory: Factory
    s3: Any
    cloudwatch: Any


@pytest.fixture
def stream() -> Iterator[Stream]:
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        s3 = create_buckets(session, metadata())
        start = NOW - timedelta(days=DAYS)
        for day in range(DAYS):
            records, labels = [], []
            for index in range(ROWS_PER_DAY):
                request_id = f"d{day}-r{index}"
                truth = 100 + index  # an integer true value, as a client may send one
                error = bias(day) + (spread(day) if index % 2 else -spread(day))
                moment = start + timedelta(days=day, seconds=60 + index * 600)
                records.append(regression_record(request_id, moment, [(index % 10 - 4.5) / 3], truth + error))
                labels.append(Feedback(request_id, 0, truth))
            put_records(s3, LOG_BUCKET, records)
            put_feedback(s3, LOG_BUCKET, labels, start + timedelta(days=day, hours=23))
        factory = report_factory(session, log_bucket=LOG_BUCKET, model_bucket=MODEL_BUCKET, now=lambda: NOW)
        yield Stream(factory=factory, s3=s3, cloudwatch=session.client("cloudwatch"))


def report(stream: Stream, *args: str) -> Any:
    result = CliRunner().invoke(app, ["report", "accuracy", *args], obj=stream.factory)
    assert result.exit_code == 0, result.output
    return result


def test_mae_rmse_and_mean_error_per_window_are_the_stream_s(stream: Stream) -> None:
    result = report(stream, "--since", f"{DAYS}d", "--window", "1d", "--json")
    document = json.loads(result.stdout)
    (version,) = document["versions"]
    assert (version["model_version"], version["task"], version["metric_name"]) == (
        MODEL,
        "regression",
        "rmse",
    )
    assert version["training"] == {"mae": 1.5, "rmse": 2.0, "r2": 0.4}
    assert [w["labelled"] for w in version["windows"]] == [ROWS_PER_DAY] * DAYS
    for day, window in enumerate(version["windows"]):
        rmse = math.sqrt(bias(day) ** 2 + spread(day) ** 2)
        assert window["accuracy"] is None
        assert window["mean_error"] == pytest.approx(bias(day))
        assert window["mae"] == pytest.approx(spread(day))
        assert window["rmse"] == pytest.approx(rmse, rel=1e-6)
        assert window["metric"] == window["rmse"]
    assert version["mean_error"] == pytest.approx(sum(map(bias, range(DAYS))) / DAYS)
    assert version["mae"] == pytest.approx(sum(map(spread, range(DAYS))) / DAYS)
    squares = sum(bias(d) ** 2 + spread(d) ** 2 for d in range(DAYS)) / DAYS
    assert version["rmse"] == pytest.approx(math.sqrt(squares), rel=1e-6)


def test_a_regression_metric_is_the_metric_when_named(stream: Stream) -> None:
    document = json.loads(report(stream, "--since", f"{DAYS}d", "--metric", "mae", "--json").stdout)
    (version,) = document["versions"]
    assert version["metric_name"] == "mae" and version["metric"] == pytest.approx(version["mae"])


def test_terminal_and_html_show_the_regression_figures(stream: Stream, tmp_path: Path) -> None:
    html = tmp_path / "accuracy.html"
    output = report(stream, "--since", f"{DAYS}d", "--window", "1d", "--html", str(html)).stdout
    assert "(regression)" in output and "MAE" in output and "mean error" in output
    assert "4.272" in output  # day 3's RMSE: sqrt(1.5^2 + 4^2)
    page = html.read_text()
    assert "RMSE per window" in page and "<svg" in page and "4.272" in page


@pytest.mark.parametrize(
    ("configured", "published", "expected"), [("mae", "mae", 4.0), ("f1_macro", "rmse", 4.272)]
)
def test_the_monitor_publishes_the_regression_metric_in_force(
    stream: Stream, configured: str, published: str, expected: float
) -> None:
    settings = MonitorSettings(
        log_bucket=LOG_BUCKET,
        namespace="ModelServing",
        service="inference",
        window=timedelta(hours=24),
        metric_name=configured,
        min_labelled=20,
    )
    monitor = Monitor(
        s3=stream.s3,
        cloudwatch=stream.cloudwatch,
        model_info=S3ModelInfo(stream.s3, MODEL_BUCKET),
        settings=settings,
        clock=lambda: NOW,
    )
    result = monitor.run()
    assert (result.labelled, result.accuracy, result.quality_metric) == (ROWS_PER_DAY, None, published)
    assert result.quality == pytest.approx(expected, abs=5e-4)
    service = [{"Name": "service", "Value": "inference"}]

    def latest(name: str) -> float | None:
        points = stream.cloudwatch.get_metric_statistics(
            Namespace="ModelServing",
            MetricName=name,
            Dimensions=service,
            StartTime=NOW - timedelta(hours=1),
            EndTime=NOW + timedelta(hours=1),
            Period=3600,
            Statistics=["Average"],
        )["Datapoints"]
        return float(points[0]["Average"]) if points else None

    assert latest("LiveQuality") == pytest.approx(expected, abs=5e-4)
    assert latest("LiveAccuracy") is None  # a regressor has no accuracy
    assert result.drift_version == MODEL
