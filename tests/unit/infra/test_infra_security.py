"""Least privilege, retention and secrets across every synthesized stack, for each set of options.

The IAM audit reads the templates, not the code: every Allow statement of every policy is listed,
so a permission added anywhere (by a grant, by hand, by a CDK upgrade) is seen here.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.nag import flatten_cfn_reference
from tests.unit.infra.infra_support import REPO_ROOT, SynthesizedApp

# Reads on `*` are allowed (List/Get/Describe); every write on `*` must be here, with the reason AWS
# offers no resource ARN to scope it to (the IAM service authorization reference).
UNSCOPABLE_WRITES = {
    "xray:PutTraceSegments": "X-Ray accepts no resource ARN for trace segments (tracing: ACTIVE)",
    "xray:PutTelemetryRecords": "X-Ray accepts no resource ARN for telemetry records (tracing: ACTIVE)",
    "cloudwatch:PutMetricData": "CloudWatch takes no resource ARN for PutMetricData (monitor metrics)",
    **{
        f"logs:{action}": "Step Functions' log delivery to CloudWatch Logs (vended logs): AWS documents "
        "these as `*` only"
        for action in ("CreateLogDelivery", "DeleteLogDelivery", "PutResourcePolicy", "UpdateLogDelivery")
    },
}
# The writes on `*` of the AWS managed policies the templates attach (their content is not in the
# template, so the audit lists it), and why each role may keep them.
MANAGED_POLICY_STAR_WRITES = {
    "AWSLambdaBasicExecutionRole": (
        ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
        "aws-cdk-lib's BucketDeployment handler (a CDK singleton whose role CDK makes); it writes only to "
        "its own log group, which the stack creates with retention",
    ),
    "AmazonAPIGatewayPushToCloudWatchLogs": (
        ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
        "API Gateway's account-level logging role (one per account and region, shared by every API): API "
        "Gateway names the execution-log groups itself, so AWS's policy for it names `*`",
    ),
}
READ_VERBS = ("List", "Get", "Describe")


def is_read(action: str) -> bool:
    verb = action.split(":", 1)[-1]
    return "*" not in verb and verb.startswith(READ_VERBS)


def star_writes(statements: Iterable[tuple[str, list[str], list[str]]]) -> list[tuple[str, str]]:
    """(policy, action) of every write action allowed on `*` that is neither unscopable nor a listed
    managed policy's."""
    return [
        (policy, action)
        for policy, actions, found in statements
        if "*" in found
        for action in actions
        if not is_read(action) and action not in UNSCOPABLE_WRITES and not _managed_star_write(policy, action)
    ]


def _managed_star_write(policy: str, action: str) -> bool:
    name = policy.rsplit("/", 1)[-1]
    return name in MANAGED_POLICY_STAR_WRITES and action in MANAGED_POLICY_STAR_WRITES[name][0]


# Prefixes of buckets a statement may name with `/*`: each is one kind of object (docs/security.md).
S3_PREFIXES = (
    "/models/*",
    "/records/*",
    "/prediction-log/*",
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


def _statements(document: Mapping[str, Any]) -> Iterator[tuple[list[str], list[str]]]:
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        found = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        yield actions, [flatten_cfn_reference(r) for r in found]


def allow_statements(app: SynthesizedApp) -> Iterator[tuple[str, list[str], list[str]]]:
    """(policy, actions, flattened resources) of every Allow statement of every identity policy."""
    for stack, logical_id, properties in resources(app, "AWS::IAM::Policy"):
        for actions, found in _statements(properties["PolicyDocument"]):
            yield f"{stack}/{logical_id}", actions, found


def every_role_statement(app: SynthesizedApp) -> Iterator[tuple[str, list[str], list[str]]]:
    """Every Allow statement any role of any stack gets: attached policies, customer managed policies,
    a role's inline policies, and the `*` writes of the AWS managed policies it names."""
    yield from allow_statements(app)
    for stack, logical_id, properties in resources(app, "AWS::IAM::ManagedPolicy"):
        for actions, found in _statements(properties["PolicyDocument"]):
            yield f"{stack}/{logical_id}", actions, found
    for stack, logical_id, properties in resources(app, "AWS::IAM::Role"):
        for inline in properties.get("Policies", []):
            for actions, found in _statements(inline["PolicyDocument"]):
                yield f"{stack}/{logical_id}/{inline['PolicyName']}", actions, found
        for arn in properties.get("ManagedPolicyArns", []):
            name = flatten_cfn_reference(arn).rsplit("/", 1)[-1]
            managed_writes, _ = MANAGED_POLICY_STAR_WRITES[name]
            yield f"{stack}/{logical_id}/{name}", list(managed_writes), ["*"]


def test_no_write_on_star_in_any_role_of_any_stack(any_app: SynthesizedApp) -> None:
    statements = list(every_role_statement(any_app))
    assert any("*" in found for _, _, found in statements), "tracing is on: X-Ray's statement should be here"
    assert star_writes(statements) == []


def test_the_star_write_audit_is_not_blind() -> None:
    statements = [
        ("S/Role", ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms"], ["*"]),
        ("S/Role", ["s3:*"], ["*"]),
        ("S/Role", ["xray:PutTraceSegments", "xray:GetSamplingRules"], ["*"]),
        ("S/Role", ["sqs:SendMessage"], ["<Queue.Arn>"]),
        ("S/Role/AWSLambdaBasicExecutionRole", ["logs:PutLogEvents"], ["*"]),
        ("S/Role/Other", ["logs:PutLogEvents"], ["*"]),
    ]
    assert star_writes(statements) == [
        ("S/Role", "cloudwatch:PutMetricAlarm"),
        ("S/Role", "s3:*"),
        ("S/Role/Other", "logs:PutLogEvents"),
    ]


def test_gate_alarm_writes_are_scoped_to_the_names_the_gates_create(synthesized: SynthesizedApp) -> None:
    """Every role that may put or delete alarms (retraining, the release controller) may touch only the
    gate alarms release.gates names, modelctl-<function>-<alias>-v<version>-<kind>."""
    from release.gates import Gates

    # The imported function and alias names, flattened the way cdk-nag writes them.
    function, alias = "ModelServing-Serving-FunctionName", "ModelServing-Serving-AliasName"
    gates = Gates(cloudwatch=None, function=function, alias=alias)  # type: ignore[arg-type]
    names = [gates.alarm_name("7", kind) for kind in ("errors", "p99", "internal-errors")]
    writers = [
        (policy, found)
        for policy, actions, found in allow_statements(synthesized)
        if {"cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"} & set(actions)
    ]
    assert {policy.split("/")[0] for policy, _ in writers} >= {"ModelServing-Retraining"}
    for policy, found in writers:
        for pattern in found:
            prefix = pattern.rsplit(":alarm:", 1)[1]
            assert prefix.startswith(f"modelctl-{function}-"), (policy, pattern)
            assert prefix.endswith("*") and "*" not in prefix[:-1], (policy, pattern)
            assert all(fnmatch.fnmatchcase(name, prefix) for name in names), (policy, pattern)
    (retraining,) = [found for policy, found in writers if policy.startswith("ModelServing-Retraining/")]
    assert retraining == [f"{retraining[0].rsplit(':alarm:', 1)[0]}:alarm:modelctl-{function}-{alias}-v*"]


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
        ("ModelServing-Shadow", "<ShadowLogBucket4D2C0A3B.Arn>/prediction-log/*"),  # the recorder
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
        *(f"{logs}/{prefix}/*" for prefix in ("feedback", "prediction-log", "predictions", "records")),
        *(
            f"<ShadowLogBucket4D2C0A3B.Arn>/{prefix}/*"
            for prefix in ("feedback", "prediction-log", "predictions", "records")
        ),
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
