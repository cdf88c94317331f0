"""The monitor function's domain against S3 and CloudWatch in moto: LiveAccuracy with exactly the
`service` dimension (the retraining alarm's contract), FeatureDrift per feature, and no LiveAccuracy
while too few predictions are labelled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from common.observe.feedback import Feedback
from common.observe.live_quality import S3ModelInfo
from monitor.monitor import Monitor, MonitorSettings
from tests.monitoring_support import log_row, logged_record, put_feedback, put_log_rows, put_records

LOG_BUCKET, MODEL_BUCKET, MODEL = "prediction-log", "models", "m-monitor00001"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NAMESPACE, SERVICE = "ModelServing", "inference"


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (LOG_BUCKET, MODEL_BUCKET):
            s3.create_bucket(Bucket=bucket)
        baseline = {"edges": [0.0], "proportions": [0.5, 0.5]}
        metadata = {
            "version": MODEL,
            "feature_names": ["near", "far"],
            "feature_baseline": {"features": {"near": baseline, "far": baseline}},
            "metrics": {"accuracy": 0.9},
        }
        s3.put_object(Bucket=MODEL_BUCKET, Key=f"models/{MODEL}/metadata.json", Body=json.dumps(metadata))
        yield s3, boto3.client("cloudwatch", region_name="us-east-1")


def monitor(s3: Any, cloudwatch: Any, min_labelled: int) -> Monitor:
    settings = MonitorSettings(
        log_bucket=LOG_BUCKET,
        namespace=NAMESPACE,
        service=SERVICE,
        window=timedelta(hours=24),
        metric_name="f1_macro",
        min_labelled=min_labelled,
    )
    return Monitor(
        s3=s3,
        cloudwatch=cloudwatch,
        model_info=S3ModelInfo(s3, MODEL_BUCKET),
        settings=settings,
        clock=lambda: NOW,
    )


def stream(s3: Any, rows: int, correct: int) -> None:
    records, labels = [], []
    for index in range(rows):
        predicted = 1 if index < correct else 0
        near = -0.5 if index % 2 else 0.5  # half each side of the edge, as in training
        records.append(
            logged_record(
                f"r{index}",
                NOW - timedelta(hours=2, minutes=index),
                [[near, 3.0]],
                [predicted],
                model_version=MODEL,
            )
        )
        labels.append(Feedback(f"r{index}", 0, 1))
    put_records(s3, LOG_BUCKET, records)
    put_feedback(s3, LOG_BUCKET, labels, NOW - timedelta(minutes=30))


def latest(cloudwatch: Any, name: str, dimensions: list[dict[str, str]]) -> float | None:
    response = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=name,
        Dimensions=dimensions,
        StartTime=NOW - timedelta(hours=1),
        EndTime=NOW + timedelta(hours=1),
        Period=3600,
        Statistics=["Average"],
    )
    points = response["Datapoints"]
    return float(points[0]["Average"]) if points else None


def test_live_accuracy_and_feature_drift_are_published(aws: tuple[Any, Any]) -> None:
    s3, cloudwatch = aws
    stream(s3, rows=40, correct=30)

    result = monitor(s3, cloudwatch, min_labelled=20).run()

    assert (result.logged, result.labelled, result.published_accuracy) == (40, 40, True)
    service = [{"Name": "service", "Value": SERVICE}]
    assert latest(cloudwatch, "LiveAccuracy", service) == pytest.approx(0.75)
    assert latest(cloudwatch, "LabelledPredictions", service) == 40
    near = latest(cloudwatch, "FeatureDrift", [*service, {"Name": "feature", "Value": "near"}])
    far = latest(cloudwatch, "FeatureDrift", [*service, {"Name": "feature", "Value": "far"}])
    assert near is not None and far is not None and near < 0.01 < 1.0 < far
    assert result.drift_version == MODEL


def test_quality_counts_every_row_and_drift_only_the_rows_with_inputs(aws: tuple[Any, Any]) -> None:
    # the recorder's log: every answered row, inputs for a sampled share only; drifted inputs on
    # the unsampled rows would show if drift read them (they carry none, so it cannot)
    s3, cloudwatch = aws
    rows = [
        log_row(
            f"r{index}",
            0,
            NOW - timedelta(hours=2, minutes=index),
            1 if index % 4 else 0,
            features=[-0.5 if index % 2 else 0.5, -3.0] if index < 10 else None,
            model_version=MODEL,
        )
        for index in range(40)
    ]
    put_log_rows(s3, LOG_BUCKET, rows)
    put_feedback(
        s3, LOG_BUCKET, [Feedback(f"r{index}", 0, 1) for index in range(40)], NOW - timedelta(minutes=5)
    )
    # a label received in the window for a prediction made two days before it (the lookback)
    put_log_rows(s3, LOG_BUCKET, [log_row("old", 0, NOW - timedelta(days=3), 0, model_version=MODEL)], "old")
    put_feedback(s3, LOG_BUCKET, [Feedback("old", 0, 0), Feedback("never", 0, 1)], NOW - timedelta(minutes=4))

    result = monitor(s3, cloudwatch, min_labelled=20).run()

    assert (result.logged, result.labelled, result.feedback_unknown) == (40, 41, 1)
    assert result.accuracy == pytest.approx(31 / 41)  # 30 of the window's 40, and the earlier one
    service = [{"Name": "service", "Value": SERVICE}]
    assert latest(cloudwatch, "FeedbackWithoutPrediction", service) == 1
    assert result.drift["near"] is not None and result.drift["near"] < 0.01  # 10 rows, balanced
    assert result.drift["far"] is not None and result.drift["far"] > 1.0


def test_too_few_labels_publish_counts_but_no_accuracy(aws: tuple[Any, Any]) -> None:
    s3, cloudwatch = aws
    stream(s3, rows=5, correct=5)

    result = monitor(s3, cloudwatch, min_labelled=20).run()

    assert (result.labelled, result.accuracy, result.published_accuracy) == (5, 1.0, False)
    service = [{"Name": "service", "Value": SERVICE}]
    assert latest(cloudwatch, "LiveAccuracy", service) is None
    assert latest(cloudwatch, "LabelledPredictions", service) == 5


def test_an_empty_log_publishes_zero_counts(aws: tuple[Any, Any]) -> None:
    s3, cloudwatch = aws
    result = monitor(s3, cloudwatch, min_labelled=1).run()
    assert (result.logged, result.labelled, result.drift_version, result.drift) == (0, 0, None, {})
    assert latest(cloudwatch, "LoggedPredictions", [{"Name": "service", "Value": SERVICE}]) == 0


def test_the_monitor_function_imports_no_numpy() -> None:
    """Its bundle carries Powertools only (functions/monitor/requirements.txt)."""
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    probe = "import sys, monitor.monitor, common.observe.label_join; print('numpy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT / "functions", capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
