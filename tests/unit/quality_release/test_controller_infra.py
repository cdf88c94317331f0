"""The release controller's function reaches the log bucket the quality gate reads: its name in the
environment, read access to the prediction log and feedback prefixes only."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template

from infra.constructs.monitor import LOG_PREFIXES
from tests.unit.infra.infra_support import release_controller_stack


@pytest.fixture(scope="module")
def stack() -> cdk.Stack:
    return release_controller_stack(fleet_alarm_names=["errors"], log_bucket_name="logs-bucket")


def statements(template: Template) -> list[dict[str, Any]]:
    policies = template.find_resources("AWS::IAM::Policy")
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def test_the_controller_knows_and_may_read_the_log_bucket(stack: cdk.Stack) -> None:
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"MODELCTL_LOG_BUCKET": "logs-bucket"})}},
    )
    found = statements(template)
    reads = [s for s in found if s["Action"] == "s3:GetObject" and "logs-bucket" in json.dumps(s)]
    text = json.dumps(reads)
    assert reads and all(f"logs-bucket/{prefix}*" in text for prefix in LOG_PREFIXES)
    [listing] = [s for s in found if s["Action"] == "s3:ListBucket" and "logs-bucket" in json.dumps(s)]
    assert listing["Condition"]["StringLike"]["s3:prefix"] == [f"{prefix}*" for prefix in LOG_PREFIXES]
    assert not [s for s in found if "logs-bucket" in json.dumps(s) and "s3:Put" in json.dumps(s["Action"])]


def test_cdk_nag_finds_nothing_unacknowledged(stack: cdk.Stack) -> None:
    errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp(".*"))
    assert errors == []
