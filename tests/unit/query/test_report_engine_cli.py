"""`--engine` on the three reports: against the local cloud `athena` is refused with one line (moto
runs no queries), and an unknown engine is named."""

from __future__ import annotations

import boto3
import pytest
from rich.console import Console
from typer.testing import CliRunner

from modelctl.cli import app
from modelctl.factory import Factory
from release.shadow.resources import ShadowTarget

LOCAL_CLOUD = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}


def factory() -> Factory:
    made = Factory(
        env=LOCAL_CLOUD,
        session=boto3.session.Session(
            region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        ),
        console=Console(width=200),
    )
    made.__dict__["shadow_target"] = ShadowTarget(
        function_name="inference",
        alias_name="live",
        model_bucket="models",
        log_bucket="logs",
        config_uri="s3://logs/control/shadow.json",
        queue_url="",
        dead_letter_queue_url="",
        shadow_function_name="shadow",
        dead_letter_alarm_name="dlq",
        serving_stack="ModelServing-Serving",
        shadow_stack="ModelServing-Shadow",
    )
    return made


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
