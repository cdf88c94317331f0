"""`modelctl report ab` through the CLI runner against moto: the alias routes between function
versions 3 and 4 of a Lambda function, both versions' predictions are in the log bucket with the
feedback clients sent, and the report's counts equal the feedback sent."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner, Result

from modelctl.cli import app
from modelctl.factory import Factory
from tests.monitoring_support import LOG_BUCKET
from tests.unit.ab.streams import (
    MODEL_BUCKET,
    NEW,
    NOW,
    PRIMARY,
    Sent,
    classifier_stream,
    put_metadata,
)
from tests.unit.modelctl.world import lambda_role, report_factory

REGION = "us-east-1"
FUNCTION = "inference"


@pytest.fixture(autouse=True)
def _moto_mock_not_the_local_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's mock intercepts AWS's own endpoints only: drop a local cloud's endpoint variables."""
    import os

    for name in [key for key in os.environ if key.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)


def zipped_code() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def serve(session: boto3.session.Session, extra_weight: float | None) -> None:
    """A function with versions 1..4 and the alias `live` on 3 (plus 4 at `extra_weight`)."""
    role = lambda_role(session.client("iam"), "inference-role")
    lam = session.client("lambda")
    lam.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.13",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": zipped_code()},
    )
    for number in range(1, 5):
        lam.update_function_configuration(FunctionName=FUNCTION, Description=f"build {number}")
        assert lam.publish_version(FunctionName=FUNCTION)["Version"] == str(number)
    routing: Any = {"AdditionalVersionWeights": {NEW: extra_weight}} if extra_weight else {}
    lam.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=PRIMARY, RoutingConfig=routing)


@dataclass
class Cloud:
    factory: Factory
    s3: Any
    session: boto3.session.Session

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(app, ["report", "ab", *args], obj=self.factory)

    def json(self, *args: str) -> dict[str, Any]:
        result = self.run("--since", "2d", "--json", "-", *args)
        assert result.exit_code == 0, result.output
        document: dict[str, Any] = json.loads(result.stdout)
        return document


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        s3 = session.client("s3")
        for bucket in (LOG_BUCKET, MODEL_BUCKET):
            s3.create_bucket(Bucket=bucket)
        put_metadata(s3)
        factory = report_factory(session, log_bucket=LOG_BUCKET, model_bucket=MODEL_BUCKET, now=lambda: NOW)
        yield Cloud(factory, s3, session)


def stream(cloud: Cloud) -> Sent:
    return classifier_stream(
        cloud.s3,
        rows={PRIMARY: 700, NEW: 300},
        labelled={PRIMARY: 600, NEW: 250},
        accuracy={PRIMARY: 0.9, NEW: 0.8},
        unknown=5,
        duplicates=20,
    )


def test_the_versions_the_alias_serves_with_counts_equal_to_the_feedback_sent(cloud: Cloud) -> None:
    serve(cloud.session, 0.3)
    sent = stream(cloud)
    document = cloud.json()
    assert document["versions_from"] == "alias"
    assert document["routing"] == {"primary": PRIMARY, "extra": NEW, "extra_percent": 30.0}
    arms = {arm["function_version"]: arm for arm in document["arms"]}
    for version in (PRIMARY, NEW):
        assert arms[version]["predictions"] == sent.logged[version]
        assert arms[version]["labelled"] == sent.labels[version]
        assert arms[version]["metric"] == pytest.approx(sent.correct[version] / sent.labels[version])
    coverage = document["coverage"]
    assert coverage["joined"] == sum(sent.labels.values())
    assert coverage["feedback_unjoined"] == sent.unknown
    assert coverage["feedback_duplicates"] == sent.duplicates
    assert document["comparison"]["p_value"] < 0.05 and document["comparison"]["difference"] < 0


def test_named_versions_terminal_and_html(cloud: Cloud, tmp_path: Path) -> None:
    stream(cloud)
    html = tmp_path / "ab.html"
    result = cloud.run(
        "--since", "2d", "--versions", f"{PRIMARY},{NEW}", "--html", str(html), "--effect", "0.05"
    )
    assert result.exit_code == 0, result.output
    assert "versions from option" in result.stdout and "to detect +5.00 points" in result.stdout
    assert html.read_text().count("<svg") >= 3


def test_the_alias_serving_one_version_compares_with_the_other_in_the_window(cloud: Cloud) -> None:
    serve(cloud.session, None)
    stream(cloud)
    document = cloud.json()
    assert (document["primary"], document["new"], document["versions_from"]) == (PRIMARY, NEW, "window")


def test_bad_options_are_one_line_errors(cloud: Cloud) -> None:
    for args, message in (
        (["--versions", "3"], "must name two different function versions"),
        (["--cost-matrix", "{"], "--cost-matrix"),
        (["--cost-matrix", '{"0": {"1": -2}}'], "must be a number >= 0"),
        (["--metric", "auc"], "--metric 'auc' is not one of"),
    ):
        result = cloud.run(*args)
        assert result.exit_code != 0
        assert message in str(result.exception) + result.output
