"""The soak's and load test's accounting (reliability/accounting.py) against moto: request ids from
the prediction log's rows only, the recorder's kept deliveries decoded line by line, the shadow
counter summed over function versions within the window, and the two accounts' arithmetic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws

from common.mirror.request_mirror import Sample
from reliability.accounting import (
    RequestAccount,
    ShadowAccount,
    function_version_dimensions,
    metric_sum,
    prediction_log_ids,
    queue_depth,
    recorder_dead_letters,
    request_ids,
)
from tests.monitoring_support import log_row, logged_record, put_log_rows, put_records
from tests.unit.recorder.support import delivery, served_lines

BUCKET = "soak-log-bucket"
T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
ROW = np.asarray([[0.5, 1.5]], dtype=np.float32)
DRAWN = Sample(inputs=True, candidate_model_version="m-cand")


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="recorder-dlq")["QueueUrl"]
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        yield {"s3": s3, "sqs": sqs, "queue": queue, "cloudwatch": cloudwatch}


def test_request_ids_come_from_the_prediction_log_rows_in_the_window_only(aws: dict[str, Any]) -> None:
    drawn = log_row("b", 0, T0 + timedelta(minutes=2), 1) | {"shadow_candidate": "m-cand"}
    put_log_rows(
        aws["s3"],
        BUCKET,
        [
            log_row("a", 0, T0 + timedelta(minutes=1), 1),
            log_row("a", 1, T0 + timedelta(minutes=1), 0),
            drawn,
            log_row("late", 0, T0 + timedelta(hours=1), 1),
        ],
    )
    put_log_rows(aws["s3"], BUCKET, [drawn], name="redelivered")  # at least once: counted once
    # a shadow record (records/) is not the log: a request found only there is not "logged"
    put_records(aws["s3"], BUCKET, [logged_record("z", T0 + timedelta(minutes=3), [[0.5]], [1])])

    logged = prediction_log_ids(aws["s3"], BUCKET, T0, T0 + timedelta(minutes=30))

    assert logged.answered == {"a", "b"}
    assert logged.drawn == {"b"}


def test_the_recorders_kept_deliveries_are_read_line_by_line_and_left_in_the_queue(
    aws: dict[str, Any],
) -> None:
    sqs, queue = aws["sqs"], aws["queue"]
    now = datetime.now(UTC)
    lines = [*served_lines("r1", ROW), *served_lines("r2", ROW, sample=DRAWN), "START RequestId: x"]
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(delivery(lines)))
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(delivery(served_lines("r3", ROW))))
    broken = sqs.send_message(QueueUrl=queue, MessageBody="not a delivery")["MessageId"]

    kept = recorder_dead_letters(sqs, queue, now - timedelta(minutes=1), now + timedelta(minutes=1))

    assert kept.answered == {"r1", "r2", "r3", f"unparsable:{broken}"}
    assert kept.drawn == {"r2", f"unparsable:{broken}"}
    assert queue_depth(sqs, queue) == 3
    assert sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    later = now + timedelta(hours=1)
    assert recorder_dead_letters(sqs, queue, later, later + timedelta(minutes=1)).drawn == {
        f"unparsable:{broken}"
    }


def test_the_shadow_draw_count_sums_every_function_version_inside_the_window(aws: dict[str, Any]) -> None:
    cloudwatch = aws["cloudwatch"]
    now = datetime.now(UTC).replace(microsecond=0)
    for version, moment, value in [
        ("1", now - timedelta(seconds=30), 5.0),
        ("2", now - timedelta(seconds=20), 3.0),
        ("1", now - timedelta(seconds=10), 1.0),
        ("1", now - timedelta(minutes=5), 100.0),  # before the window
    ]:
        cloudwatch.put_metric_data(
            Namespace="ModelServing",
            MetricData=[
                {
                    "MetricName": "ShadowSampled",
                    "Dimensions": [
                        {"Name": "FunctionVersion", "Value": version},
                        {"Name": "service", "Value": "inference"},
                    ],
                    "Timestamp": moment,
                    "Value": value,
                    "Unit": "Count",
                }
            ],
        )
    since = now - timedelta(minutes=1)
    versions = [{"FunctionVersion": v, "service": "inference"} for v in ("1", "2", "3")]
    assert metric_sum(cloudwatch, "ModelServing", "ShadowSampled", versions, since, now) == 9
    assert metric_sum(cloudwatch, "ModelServing", "ShadowSampled", versions[1:], since, now) == 3
    recent = now - timedelta(seconds=15)
    assert metric_sum(cloudwatch, "ModelServing", "ShadowSampled", versions, recent, now) == 1
    assert metric_sum(cloudwatch, "ModelServing", "Nothing", versions, since, now) == 0


def test_every_answered_request_is_logged_or_kept_once() -> None:
    account = RequestAccount.of(5, logged={"a", "b", "c"}, dead={"c", "d"})
    assert account.to_json() == {"answered": 5, "logged": 3, "recorder_dead_lettered": 1, "unaccounted": 1}
    assert RequestAccount.of(2, logged={"a"}, dead={"b"}).unaccounted == 0


def test_every_drawn_request_is_scored_or_dead_lettered_once() -> None:
    account = ShadowAccount.of(
        5,
        marked={"a", "b", "c", "e"},
        scored=request_ids({"a#0", "a#1"}),
        shadow_dead=request_ids({"a#1", "b#0"}),
        recorder_dead={"b", "c"},
    )
    assert account.to_json() == {
        "sampled": 5,
        "marked_in_log": 4,
        "scored": 1,
        "shadow_dead_lettered": 1,
        "recorder_dead_lettered": 1,
        "unaccounted": 2,
    }


def test_the_draw_count_dimensions_are_every_version_of_the_function_with_its_service(
    aws: dict[str, Any],
) -> None:
    lambda_ = boto3.client("lambda", region_name="us-east-1")
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="soak-fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lambda_.create_function(
        FunctionName="soak-fn",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        Environment={"Variables": {"POWERTOOLS_SERVICE_NAME": "inference"}},
    )
    lambda_.publish_version(FunctionName="soak-fn")
    lambda_.update_function_configuration(
        FunctionName="soak-fn", Environment={"Variables": {"POWERTOOLS_SERVICE_NAME": "renamed"}}
    )
    lambda_.publish_version(FunctionName="soak-fn")
    assert sorted(function_version_dimensions(lambda_, "soak-fn"), key=str) == sorted(
        [
            {"FunctionVersion": "$LATEST", "service": "renamed"},
            {"FunctionVersion": "1", "service": "inference"},
            {"FunctionVersion": "2", "service": "renamed"},
        ],
        key=str,
    )
