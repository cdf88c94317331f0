"""Sticky routing's environment and grant, and SnapStart on published versions, in the template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match
from cfnlint.api import ManualArgs, lint

from infra import nag
from infra.config import ConfigError
from tests.unit.infra.infra_support import SynthesizedApp, synthesize
from tests.unit.infra.test_infra_compliance import ACCEPTED_CFN_LINT_WARNINGS


@pytest.fixture(scope="module")
def snapstart_app(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """SnapStart on, sticky routing off."""
    return synthesize(
        artifacts_dir, tmp_path_factory.mktemp("cdk.out"), snapstart="true", routing_key_header=""
    )


def inference_function(app: SynthesizedApp) -> dict[str, Any]:
    functions = app.serving_template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "inference.handler.handler"}}
    )
    (function,) = functions.values()
    props: dict[str, Any] = function["Properties"]
    return props


def test_the_default_routes_by_the_routing_key_header(synthesized: SynthesizedApp) -> None:
    variables = inference_function(synthesized)["Environment"]["Variables"]
    assert variables["ROUTING_KEY_HEADER"] == "X-Routing-Key"
    assert variables["ROUTING_ALIAS_TTL_SECONDS"] == "5"
    assert "SnapStart" not in inference_function(synthesized)


def test_the_function_may_read_its_alias_and_invoke_its_own_versions(synthesized: SynthesizedApp) -> None:
    policies = synthesized.serving_template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"PolicyName": Match.string_like_regexp("StickyRoutingPolicy")}}
    )
    (policy,) = policies.values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Action"] for s in statements] == ["lambda:GetAlias", "lambda:InvokeFunction"]
    rendered = json.dumps(statements)
    assert ':live"' in rendered and ':*"' in rendered and "InferenceFunction" in rendered


def test_snapstart_applies_to_published_versions(snapstart_app: SynthesizedApp) -> None:
    props = inference_function(snapstart_app)
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert "ROUTING_KEY_HEADER" not in props["Environment"]["Variables"]
    assert not snapstart_app.serving_template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"PolicyName": Match.string_like_regexp("StickyRoutingPolicy")}}
    )


def test_snapstart_template_passes_cfn_lint_and_cdk_nag(snapstart_app: SynthesizedApp) -> None:
    problems = [
        f"{name}: {match.rule.id} {match.message}"
        for name, template in snapstart_app.templates().items()
        for match in lint(json.dumps(template), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
        if match.rule.id not in ACCEPTED_CFN_LINT_WARNINGS
    ]
    violations = [
        f"{violation.rule_name}: {[str(r.construct_path) for r in violation.violating_resources]}"
        for pack in nag.rule_packs()
        for violation in pack.validate_scope(snapstart_app.app).violations
    ]
    assert problems == [] and violations == []


def test_snapstart_with_provisioned_concurrency_is_refused(artifacts_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"serving\.snapstart cannot be true with provisioned_concurrency"):
        synthesize(artifacts_dir, tmp_path, snapstart="true", provisioned_concurrency="2")


@pytest.mark.parametrize("header", ["X-Api-Key", "bad header", "x" * 65])
def test_a_routing_key_header_that_cannot_work_is_refused(
    artifacts_dir: Path, tmp_path: Path, header: str
) -> None:
    with pytest.raises(ConfigError, match=r"serving\.routing_key_header"):
        synthesize(artifacts_dir, tmp_path, routing_key_header=header)


def test_browsers_may_send_the_routing_key(iam_cors_app: SynthesizedApp) -> None:
    preflights = iam_cors_app.serving_template.find_resources(
        "AWS::ApiGateway::Method", {"Properties": {"HttpMethod": "OPTIONS"}}
    )
    allowed = {
        response["ResponseParameters"]["method.response.header.Access-Control-Allow-Headers"]
        for method in preflights.values()
        for response in method["Properties"]["Integration"]["IntegrationResponses"]
    }
    assert allowed and all("X-Routing-Key" in value for value in allowed)
