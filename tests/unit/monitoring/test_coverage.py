"""Coverage against CloudWatch and Lambda in moto: the served counter (`Predictions` per
FunctionVersion and service, as the EMF lines put it) summed over the window's whole minutes and
compared with the records found, per version; a difference is a warning in the terminal, the HTML
and the JSON of `modelctl report accuracy`."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from modelctl.cli import app
from modelctl.factory import Factory
from modelctl.reports.coverage import (
    SERVED_METRIC,
    CounterSource,
    RequestCounter,
    aligned,
    measure,
    served_counts,
)
from tests.monitoring_support import LOG_BUCKET, MODEL_BUCKET, log_row, put_log_rows
from tests.unit.modelctl.world import report_factory

NAMESPACE, SERVICE = "ModelServing", "inference"
T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
SOURCE = CounterSource(NAMESPACE, SERVICE)


@pytest.fixture
def aws() -> Iterator[boto3.session.Session]:
    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")


def put_served(cloudwatch: Any, version: str, count: int, at: datetime, metric: str = SERVED_METRIC) -> None:
    """`count` requests as the EMF lines of function version `version` put them (one datum each)."""
    dimensions = [{"Name": "FunctionVersion", "Value": version}, {"Name": "service", "Value": SERVICE}]
    for index in range(count):
        cloudwatch.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": dimensions,
                    "Value": 1.0,
                    "Unit": "Count",
                    "Timestamp": at + timedelta(seconds=index),
                }
            ],
        )


def test_the_window_is_counted_over_its_whole_minutes() -> None:
    start, end = aligned(T0 + timedelta(seconds=30), T0 + timedelta(hours=1, seconds=45))
    assert (start, end) == (T0 + timedelta(minutes=1), T0 + timedelta(hours=1))
    assert aligned(T0, T0 + timedelta(seconds=20)) == (T0, T0)
    counter = RequestCounter()
    counter.add("1", T0 + timedelta(seconds=59))  # before the first whole minute
    counter.add("1", T0 + timedelta(minutes=1))
    counter.add("2", "2026-12-07T10:59:59.999Z")
    counter.add("2", T0 + timedelta(hours=1))  # the end is exclusive
    assert counter.per_version(start, end) == {"1": 1, "2": 1}


def test_served_counts_sum_the_counter_per_function_version(aws: boto3.session.Session) -> None:
    cloudwatch = aws.client("cloudwatch")
    put_served(cloudwatch, "1", 5, T0 + timedelta(minutes=10))
    put_served(cloudwatch, "2", 3, T0 + timedelta(minutes=20))
    put_served(cloudwatch, "2", 4, T0 + timedelta(hours=2))  # after the window
    put_served(cloudwatch, "2", 2, T0 + timedelta(minutes=30), metric="ShadowSampled")

    counts = served_counts(cloudwatch, SOURCE, start=T0, end=T0 + timedelta(hours=1), versions=["7"])
    shadow = served_counts(
        cloudwatch, CounterSource(NAMESPACE, SERVICE, "ShadowSampled"), start=T0, end=T0 + timedelta(hours=1)
    )

    assert counts == {"1": 5, "2": 3, "7": 0}
    assert shadow == {"2": 2}


def test_measure_warns_when_records_and_the_counter_differ(aws: boto3.session.Session) -> None:
    cloudwatch = aws.client("cloudwatch")
    put_served(cloudwatch, "1", 4, T0 + timedelta(minutes=10))
    put_served(cloudwatch, "2", 2, T0 + timedelta(minutes=10))
    counter = RequestCounter()
    for index in range(4):
        counter.add("1", T0 + timedelta(minutes=10, seconds=index))
    counter.add("2", T0 + timedelta(minutes=10))

    measure_hour = partial(
        measure,
        cloudwatch=cloudwatch,
        source=SOURCE,
        counter=counter,
        since=T0,
        until=T0 + timedelta(hours=1),
    )
    section = measure_hour(found_what="requests in the prediction log")

    assert (section["served"], section["found"], section["complete"]) == (6, 5, False)
    assert section["versions"] == [
        {"function_version": "1", "served": 4, "found": 4},
        {"function_version": "2", "served": 2, "found": 1},
    ]
    assert section["warning"] == (
        "requests in the prediction log differ from the requests the function counted: v2 2 counted, 1 found"
    )
    counter.add("2", T0 + timedelta(minutes=11))
    whole = measure_hour(found_what="requests")
    assert whole["complete"] and whole["warning"] is None


def test_an_unreadable_counter_is_reported_not_raised(aws: boto3.session.Session) -> None:
    section = measure(
        cloudwatch=aws.client("cloudwatch"),
        source=LookupError("function inference sets no POWERTOOLS_METRICS_NAMESPACE"),
        counter=RequestCounter(),
        since=T0,
        until=T0 + timedelta(hours=1),
        found_what="shadow records",
    )
    assert section["served"] is None and not section["complete"]
    assert "served count unavailable (function inference sets no" in section["warning"]


def _function(session: boto3.session.Session) -> None:
    iam = session.client("iam")
    role = iam.create_role(
        RoleName="inference-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("handler.py", "def handler(event, context):\n    return None\n")
    session.client("lambda").create_function(
        FunctionName="inference",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": archive.getvalue()},
        Environment={
            "Variables": {"POWERTOOLS_METRICS_NAMESPACE": NAMESPACE, "POWERTOOLS_SERVICE_NAME": SERVICE}
        },
    )


def _served_and_logged(aws: boto3.session.Session) -> Factory:
    """8 requests of v3 in the log, 10 counted by its `Predictions` counter; the CLI's factory."""
    _function(aws)
    s3 = aws.client("s3")
    for bucket in (LOG_BUCKET, MODEL_BUCKET):
        s3.create_bucket(Bucket=bucket)
    rows = [
        log_row(f"r{i}", 0, T0 + timedelta(minutes=5, seconds=i), 1, function_version="3") for i in range(8)
    ]
    put_log_rows(s3, LOG_BUCKET, rows)
    put_served(aws.client("cloudwatch"), "3", 10, T0 + timedelta(minutes=5))  # 2 records missing
    factory = report_factory(
        aws, log_bucket=LOG_BUCKET, model_bucket=MODEL_BUCKET, now=lambda: T0 + timedelta(hours=1)
    )
    return factory


@pytest.mark.parametrize(
    ("command", "as_json"),
    [
        (["report", "accuracy", "--since", "1h", "--window", "1h"], ["--json"]),
        (["report", "ab", "--since", "1h", "--versions", "3,4"], ["--json", "-"]),
    ],
)
def test_the_reports_state_their_coverage(
    aws: boto3.session.Session, tmp_path: Path, command: list[str], as_json: list[str]
) -> None:
    factory = _served_and_logged(aws)
    html = tmp_path / "report.html"
    args = [*command, "--html", str(html)]

    text = CliRunner().invoke(app, args, obj=factory)
    document = json.loads(CliRunner().invoke(app, [*args, *as_json], obj=factory).stdout)

    assert text.exit_code == 0, text.output
    assert "10 requests counted (Predictions), 8 requests in the prediction log found" in text.stdout
    assert "warning: requests in the prediction log differ" in text.stdout
    assert "v3 10 counted, 8 found" in text.stdout
    coverage = document["record_coverage"]
    assert (coverage["served"], coverage["found"], coverage["complete"]) == (10, 8, False)
    assert coverage["namespace"] == NAMESPACE and coverage["service"] == SERVICE
    page = html.read_text()
    assert "<h2>Coverage</h2>" in page and "v3 10 counted, 8 found" in page


def test_the_shadow_report_compares_shadow_sampled_with_the_records_found(aws: boto3.session.Session) -> None:
    from modelctl.reports.coverage import SHADOW_SAMPLED_METRIC
    from modelctl.reports.shadow.builder import ShadowReportBuilder
    from modelctl.reports.shadow.records import RecordReader
    from modelctl.reports.shadow.window import Window
    from tests.monitoring_support import logged_record, put_records

    s3, cloudwatch = aws.client("s3"), aws.client("cloudwatch")
    s3.create_bucket(Bucket=LOG_BUCKET)
    moment = T0 + timedelta(minutes=3)
    records = [
        logged_record(f"s{i}", moment, [[1.0], [2.0]], [0, 1], function_version="5", candidate="m-cand")
        for i in range(6)
    ]
    put_records(s3, LOG_BUCKET, records)
    put_served(cloudwatch, "5", 7, moment, metric=SHADOW_SAMPLED_METRIC)  # one record never written
    window = Window(T0, T0 + timedelta(hours=1))
    builder = ShadowReportBuilder(window)
    builder.add_report_records(RecordReader(s3, LOG_BUCKET).report_records(window))
    counter = RequestCounter()
    counter.update(builder.request_minutes())

    section = measure(
        cloudwatch=cloudwatch,
        source=CounterSource(NAMESPACE, SERVICE, SHADOW_SAMPLED_METRIC),
        counter=counter,
        since=window.since,
        until=window.until,
        found_what="shadow records",
    )

    assert section["versions"] == [{"function_version": "5", "served": 7, "found": 6}]
    assert (
        section["warning"]
        == "shadow records differ from the requests the function counted: v5 7 counted, 6 found"
    )
