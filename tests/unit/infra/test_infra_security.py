"""Least privilege, retention and secrets across every synthesized stack, for each set of options.

The IAM audit reads the templates, not the code: every Allow statement of every policy is listed,
so a permission added anywhere (by a grant, by hand, by a CDK upgrade) is seen here.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator, Mapping
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.nag import flatten_cfn_reference
from tests.unit.infra.infra_support import REPO_ROOT, SynthesizedApp

# The only `*` resources, and why: each service named here supports no resource-level permission.
STAR_RESOURCE_ACTIONS = {
    "xray:PutTraceSegments": "X-Ray accepts no resource ARN for trace segments (tracing: ACTIVE)",
    "xray:PutTelemetryRecords": "X-Ray accepts no resource ARN for telemetry records (tracing: ACTIVE)",
    "xray:GetSamplingRules": "X-Ray sampling rules have no resource ARN (state machine tracing)",
    "xray:GetSamplingTargets": "X-Ray sampling targets have no resource ARN (state machine tracing)",
    "cloudwatch:PutMetricData": "CloudWatch takes no resource ARN for PutMetricData (monitor metrics)",
    "cloudwatch:GetMetricData": "CloudWatch accepts no resource ARN for GetMetricData (release gates)",
    "cloudwatch:DescribeAlarms": "the retraining release step watches the gate alarms modelctl's code "
    "creates per version, whose names are made at run time",
    "cloudwatch:PutMetricAlarm": "the retraining release step creates those per-version gate alarms",
    **{
        f"logs:{action}": "Step Functions' log delivery to CloudWatch Logs: AWS documents these as `*` only"
        for action in (
            "CreateLogDelivery",
            "DeleteLogDelivery",
            "DescribeLogGroups",
            "DescribeResourcePolicies",
            "GetLogDelivery",
            "ListLogDeliveries",
            "PutResourcePolicy",
            "UpdateLogDelivery",
        )
    },
}
# Prefixes of buckets a statement may name with `/*`: each is one kind of object (docs/security.md).
S3_PREFIXES = (
    "/models/*",
    "/records/*",
    "/predictions/*",
    "/feedback/*",
    "/retraining/*",
    "/runs/*",
    "/inputs/*",
)
# AWS managed policies, and who uses them: both on roles that CDK creates for its own resources.
MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole": "aws-cdk-lib's BucketDeployment handler (a CDK singleton)",
    "AmazonAPIGatewayPushToCloudWatchLogs": "API Gateway's account-level logging role",
}
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|PRIVATE|CREDENTIAL)", re.IGNORECASE)
SECRET_VALUE = re.compile(
    r"(AKIA|ASIA)[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|aws_secret_access_key\s*=\s*\S{30,}"
)


@pytest.fixture(
    scope="module",
    params=["synthesized", "iam_cors_app", "open_app"],
)
def any_app(request: pytest.FixtureRequest) -> SynthesizedApp:
    app: SynthesizedApp = request.getfixturevalue(request.param)
    return app


def all_templates(app: SynthesizedApp) -> dict[str, dict[str, Any]]:
    stacks = [child for child in app.app.node.children if isinstance(child, cdk.Stack)]
    return {stack.stack_name: dict(Template.from_stack(stack).to_json()) for stack in stacks}


def resources(app: SynthesizedApp, kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for stack, template in all_templates(app).items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] == kind:
                yield stack, logical_id, resource.get("Properties", {})


def allow_statements(app: SynthesizedApp) -> Iterator[tuple[str, list[str], list[str]]]:
    """(policy, actions, flattened resources) of every Allow statement of every identity policy."""
    for stack, logical_id, properties in resources(app, "AWS::IAM::Policy"):
        for statement in properties["PolicyDocument"]["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            found = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            yield f"{stack}/{logical_id}", actions, [flatten_cfn_reference(r) for r in found]


def test_star_resources_only_where_the_service_requires_them(any_app: SynthesizedApp) -> None:
    starred = [
        (policy, action)
        for policy, actions, found in allow_statements(any_app)
        if "*" in found
        for action in actions
    ]
    assert starred, "tracing is on: X-Ray's statement should be here"
    assert {action for _, action in starred} <= set(STAR_RESOURCE_ACTIONS), starred


def test_every_other_statement_names_its_resources(any_app: SynthesizedApp) -> None:
    """No bare bucket or `arn:...:*`: a resource is a named queue, log group, table, bucket or a prefix
    of one (models/*, records/*, the shadow configuration object)."""
    for policy, _, found in allow_statements(any_app):
        for resource in found:
            if resource == "*":
                continue
            # `<function>:*` is a named function's versions and aliases (CDK's grant_invoke); a state
            # machine's `execution:<its name>:*` are its own (distributed Map) child executions.
            qualified = ".Arn>:*" in resource or ":function:" in resource or ":execution:" in resource
            assert qualified or not resource.endswith(":*"), (policy, resource)
            assert "::*" not in resource, (policy, resource)
            if resource.endswith("/*") and "s3" in resource:
                # The precompute work bucket as a whole: the distributed Map's ItemReader
                # (acknowledged in infra/constructs/precompute.py).
                item_reader = "PrecomputeStateMachine" in policy and "PrecomputeWorkBucket" in resource
                prefix_ok = resource.endswith(S3_PREFIXES) or "BucketDeployment" in policy or item_reader
                assert prefix_ok, (policy, resource)


def test_function_roles_read_models_and_write_records_only_under_their_prefixes(
    synthesized: SynthesizedApp,
) -> None:
    statements = list(allow_statements(synthesized))
    s3_writes = {
        (policy.split("/")[0], resource)
        for policy, actions, found in statements
        if "BucketDeployment" not in policy and any(a.startswith("s3:Put") for a in actions)
        for resource in found
    }
    models = "arn:<AWS::Partition>:s3:::ModelServing-ModelStore-ModelBucketName"
    logs = "arn:<AWS::Partition>:s3:::ModelServing-Shadow-LogBucketName"
    assert s3_writes == {
        ("ModelServing-Shadow", "<ShadowLogBucket4D2C0A3B.Arn>/records/*"),
        ("ModelServing-Shadow", "<ShadowLogBucket4D2C0A3B.Arn>/predictions/*"),
        ("ModelServing-Serving", f"{logs}/feedback/*"),
        ("ModelServing-Precompute", "<PrecomputeWorkBucket1C095882.Arn>/runs/*"),
        ("ModelServing-Retraining", f"{models}/models/*"),  # register: conditional puts, never overwrites
        ("ModelServing-Retraining", f"{models}/retraining/*"),  # the watermark
        ("ModelServing-Retraining", f"{logs}/control/shadow.json"),  # release to shadow
    }
    s3_reads = {
        resource
        for policy, actions, found in statements
        if "BucketDeployment" not in policy and any(a.startswith("s3:Get") for a in actions)
        for resource in found
    }
    assert s3_reads == {
        models,  # grant_read's bucket-level actions (GetBucket*, List*), scoped to models/* below
        f"{models}/models/*",
        f"{models}/retraining/*",
        f"{logs}/control/shadow.json",
        *(f"{logs}/{prefix}/*" for prefix in ("feedback", "predictions", "records")),
        *(f"<ShadowLogBucket4D2C0A3B.Arn>/{prefix}/*" for prefix in ("feedback", "predictions", "records")),
        *(f"<PrecomputeWorkBucket1C095882.Arn>/{prefix}/*" for prefix in ("inputs", "runs")),
        "arn:<AWS::Partition>:s3:::<PrecomputeWorkBucket1C095882>/*",  # the distributed Map's ItemReader
    }


def test_managed_policies_only_on_roles_cdk_creates_for_itself(any_app: SynthesizedApp) -> None:
    for _, logical_id, properties in resources(any_app, "AWS::IAM::Role"):
        for arn in properties.get("ManagedPolicyArns", []):
            name = flatten_cfn_reference(arn).rsplit("/", 1)[-1]
            assert name in MANAGED_POLICIES, (logical_id, name)


def test_every_log_group_keeps_logs_for_the_configured_period(any_app: SynthesizedApp) -> None:
    groups = list(resources(any_app, "AWS::Logs::LogGroup"))
    assert len(groups) >= 4  # inference, API access logs, shadow, the model upload handler
    for _, logical_id, properties in groups:
        assert properties.get("RetentionInDays") == any_app.config.runtime.log_retention_days, logical_id


def test_every_function_logs_to_a_group_with_retention(any_app: SynthesizedApp) -> None:
    """A function without LoggingConfig would write to an implicit /aws/lambda group kept forever."""
    for stack, template in all_templates(any_app).items():
        groups = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup"}
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            group = resource["Properties"].get("LoggingConfig", {}).get("LogGroup", {})
            assert group.get("Ref") in groups, (stack, logical_id)


def test_the_model_store_denies_deleting_models(store_template: Template) -> None:
    policy = next(
        r["Properties"]["PolicyDocument"]
        for r in store_template.to_json()["Resources"].values()
        if r["Type"] == "AWS::S3::BucketPolicy"
        and "ModelStoreBucket9405F36E" in json.dumps(r["Properties"]["Bucket"])
    )
    (deny,) = [s for s in policy["Statement"] if s.get("Sid") == "ModelsAreNeverDeleted"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"} and "Condition" not in deny
    assert sorted(deny["Action"]) == ["s3:DeleteObject", "s3:DeleteObjectVersion"]
    assert flatten_cfn_reference(deny["Resource"]) == "<ModelStoreBucket9405F36E.Arn>/models/*"


def test_no_secret_in_function_configuration(any_app: SynthesizedApp) -> None:
    for stack, logical_id, properties in resources(any_app, "AWS::Lambda::Function"):
        variables: Mapping[str, Any] = properties.get("Environment", {}).get("Variables", {})
        for name, value in variables.items():
            assert not SECRET_NAME.search(name), (stack, logical_id, name)
            assert not SECRET_VALUE.search(json.dumps(value)), (stack, logical_id, name)


def test_no_secret_in_tracked_files() -> None:
    """No access key, private key or secret key assignment in anything git tracks."""
    listed = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    found = []
    for name in filter(None, listed):
        path = REPO_ROOT / name
        if not path.is_file() or path.suffix in {".onnx", ".png", ".gz"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{name}: {match.group(0)[:12]}..." for match in SECRET_VALUE.finditer(text)]
    assert found == []


def test_the_secret_scan_is_not_blind() -> None:
    fake_key = "AKIA" + "ABCDEFGHIJKLMNOP"
    assert SECRET_VALUE.search(f"key = {fake_key}")
    assert SECRET_VALUE.search("-----BEGIN RSA " + "PRIVATE KEY-----")
