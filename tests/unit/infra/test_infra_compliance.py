"""cfn-lint and cdk-nag on every synthesized template, for each set of options we test."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from cfnlint.api import ManualArgs, lint

from infra import nag
from tests.unit.infra.infra_support import SynthesizedApp

# Warnings we accept, each for a reason; anything else (and every error) fails.
ACCEPTED_CFN_LINT_WARNINGS = {
    # CDK adds an explicit DependsOn on a role next to the GetAtt: harmless redundancy CDK generates.
    "W3005",
    # The serving stack re-exposes the imported model bucket name so operators read one stack's outputs.
    "W6001",
}


@pytest.fixture(
    scope="module",
    params=["synthesized", "iam_cors_app", "open_app", "http_app", "jwt_http_app", "function_url_app"],
)
def any_app(request: pytest.FixtureRequest) -> SynthesizedApp:
    app: SynthesizedApp = request.getfixturevalue(request.param)
    return app


def test_cfn_lint_finds_no_errors(any_app: SynthesizedApp) -> None:
    problems = []
    for name, template in any_app.templates().items():
        matches = lint(json.dumps(template), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
        problems += [
            f"{name}: {match.rule.id} {match.message} at {'/'.join(map(str, match.path))}"
            for match in matches
            if match.rule.id not in ACCEPTED_CFN_LINT_WARNINGS
        ]
    assert problems == []


def test_cdk_nag_reports_nothing_unacknowledged(any_app: SynthesizedApp) -> None:
    """Both packs, errors and warnings: every finding is fixed or acknowledged with a reason."""
    violations = [
        f"{violation.severity} {violation.rule_name}: "
        + ", ".join(str(resource.construct_path) for resource in violation.violating_resources)
        for pack in nag.rule_packs()
        for violation in pack.validate_scope(any_app.app).violations
    ]
    assert violations == []


def test_acknowledgments_are_written_to_the_template_with_reasons(synthesized: SynthesizedApp) -> None:
    serving = synthesized.serving_template.to_json()["Resources"]
    acknowledged = {
        rule["id"]: rule["reason"]
        for resource in serving.values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    }
    assert "AwsSolutions-IAM5[Resource::*]" in acknowledged
    assert "AwsSolutions-APIG4" in acknowledged
    assert all(len(reason) > 40 for reason in acknowledged.values())


def test_cdk_nag_still_catches_what_is_not_acknowledged() -> None:
    """The machinery works: a bare bucket in a fresh app is reported."""
    app = cdk.App()
    stack = cdk.Stack(app, "Probe")
    s3.Bucket(stack, "Bare")
    rules = {
        violation.rule_name for pack in nag.rule_packs() for violation in pack.validate_scope(app).violations
    }
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules


def test_synth_with_the_plugins_writes_an_empty_validation_report(synthesized: SynthesizedApp) -> None:
    assembly = synthesized.app.synth()
    report = json.loads((Path(assembly.directory) / "validation-report.json").read_text(encoding="utf-8"))
    assert report["pluginReports"] == []
    assert {stack.stack_name for stack in assembly.stacks} == {
        "ModelServing-ModelStore",
        "ModelServing-Precompute",
        "ModelServing-Serving",
        "ModelServing-Shadow",
        "ModelServing-Retraining",
        "ModelServing-Release",
    }


def test_flatten_matches_cdk_nag_finding_ids() -> None:
    joined = {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", {"Fn::ImportValue": "X"}, "/models/*"]]
    }
    assert nag.flatten_cfn_reference(joined) == "arn:<AWS::Partition>:s3:::X/models/*"
    assert nag.flatten_cfn_reference({"Fn::GetAtt": ["Bucket", "Arn"]}) == "<Bucket.Arn>"
    assert nag.flatten_cfn_reference({"Fn::Sub": "cdk-${AWS::AccountId}"}) == "cdk-<AWS::AccountId>"


def test_cfn_lint_is_not_silent() -> None:
    """The linter runs for real: an invalid property is an error."""
    broken = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"NoSuchProperty": 1}}}}
    assert any(match.rule.id.startswith("E") for match in lint(json.dumps(broken)))
