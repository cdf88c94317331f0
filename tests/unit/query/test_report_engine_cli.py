"""`--engine` on the three reports: against the local cloud `athena` is refused with one line (moto
runs no queries), and an unknown engine is named."""

from __future__ import annotations

import boto3
import pytest
from typer.testing import CliRunner

from modelctl.cli import app
from modelctl.factory import Factory
from tests.unit.modelctl.world import report_factory

LOCAL_CLOUD = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}


def factory() -> Factory:
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return report_factory(session, log_bucket="logs", model_bucket="models", env=LOCAL_CLOUD)


@pytest.mark.parametrize(
    "command",
    [
        ["report", "accuracy", "--since", "30d"],
        ["report", "ab", "--versions", "3,4"],
        ["shadow", "report", "--html", "", "--json", ""],
    ],
)
@pytest.mark.parametrize(
    ("engine", "message"),
    [
        ("athena", "the local cloud has no Athena engine"),
        ("spark", "--engine 'spark' is not one of local, athena, auto"),
    ],
)
def test_engine_refusals_are_one_line(command: list[str], engine: str, message: str) -> None:
    result = CliRunner().invoke(app, [*command, "--engine", engine], obj=factory())
    assert result.exit_code != 0
    assert message in str(result.exception) + result.output
