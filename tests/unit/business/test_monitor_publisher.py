"""The monitor publishes the business metric per function version (FunctionVersion dimension)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from monitor.business import BUSINESS_METRIC_ENV, BusinessPublisher
from tests.monitoring_support import LOG_BUCKET
from tests.unit.ab.streams import NEW, NOW, PRIMARY, classifier_stream


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=LOG_BUCKET)
        yield s3, boto3.client("cloudwatch", region_name="us-east-1")


def publisher(s3: Any, cloudwatch: Any, document: dict[str, Any] | None) -> BusinessPublisher:
    env = {
        "LOG_BUCKET": LOG_BUCKET,
        "METRICS_NAMESPACE": "Serving",
        "SERVICE_NAME": "svc",
        "WINDOW_HOURS": "72",
    }
    if document is not None:
        env[BUSINESS_METRIC_ENV] = json.dumps(document)
    made = BusinessPublisher.from_env(env)
    made.s3, made.cloudwatch, made.clock = s3, cloudwatch, lambda: NOW + timedelta(hours=1)
    return made


def datapoints(cloudwatch: Any, name: str, version: str) -> list[float]:
    answer = cloudwatch.get_metric_statistics(
        Namespace="Serving",
        MetricName=name,
        Dimensions=[
            {"Name": "FunctionVersion", "Value": version},
            {"Name": "service", "Value": "svc"},
            {"Name": "kind", "Value": "reward"},
        ],
        StartTime=NOW - timedelta(days=1),
        EndTime=NOW + timedelta(days=1),
        Period=3600,
        Statistics=["Average"],
    )
    return [point["Average"] for point in answer["Datapoints"]]


def test_the_reward_per_version_is_put_with_the_function_version_dimension(clients: tuple[Any, Any]) -> None:
    s3, cloudwatch = clients
    classifier_stream(
        s3,
        rows={PRIMARY: 90, NEW: 60},
        labelled={PRIMARY: 90, NEW: 30},
        accuracy={PRIMARY: 0.9, NEW: 0.9},
        reward={PRIMARY: 4.0, NEW: 2.0},
    )
    values = publisher(s3, cloudwatch, {"kind": "reward"}).run()
    assert values == {PRIMARY: pytest.approx(4.0), NEW: pytest.approx(2.0)}
    assert datapoints(cloudwatch, "BusinessMetric", PRIMARY) == [pytest.approx(4.0)]
    assert datapoints(cloudwatch, "BusinessMetric", NEW) == [pytest.approx(2.0)]
    assert datapoints(cloudwatch, "BusinessMetricRows", NEW) == [30.0]


def test_without_a_business_metric_nothing_is_read_or_put(clients: tuple[Any, Any]) -> None:
    assert publisher(*clients, None).run() == {}
    assert clients[1].list_metrics(Namespace="Serving")["Metrics"] == []
