"""cdk-nag: the rule packs the app runs, and the helpers constructs use to acknowledge findings.

cdk-nag 3 is a CDK policy-validation plugin: `add_checks` registers the AwsSolutions and
Serverless packs with `Validations.of(app)`, and any finding that is not acknowledged (error or
warning) fails `cdk synth` and is listed in cdk.out's `policy-validation-report.json`. Each
construct acknowledges its own findings next to its resources with `acknowledge` (cdk-nag 3
replaced `NagSuppressions` with `Validations.of(construct).acknowledge`), always on the narrowest
construct and, for rules that report several findings (IAM4, IAM5), one finding at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks, NagPack, ServerlessChecks
from constructs import IConstruct

from infra.config.runtime import PYTHON_VERSIONS, RuntimeConfig

# The finding id of an AWS managed policy attached to a role.
IAM4 = "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/{}]"
XRAY_REASON = (
    "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions (tracing: ACTIVE)."
)
SYNC_ONLY_REASON = (
    "Invoked synchronously by API Gateway only: errors go back to the caller. A DLQ or failure destination "
    "applies to asynchronous invocations, which never happen."
)
AUTH_REASONS = {
    "api_key": "Clients authenticate with API keys tied to a usage plan (serving.api_auth=api_key); "
    "set api_auth=iam for SigV4 authorization.",
    "none": "serving.api_auth=none was chosen explicitly: a public endpoint protected by throttling only.",
}
CALLERS = {"api_key": "API keys", "iam": "IAM (SigV4)", "none": "no authentication (api_auth=none)"}


def rule_packs(scope: IConstruct | None = None) -> list[NagPack]:
    """The packs the app runs; acknowledged rules are also written to the template metadata."""
    return [
        AwsSolutionsChecks(scope, verbose=True, write_suppressions_to_cloud_formation=True),
        ServerlessChecks(scope, verbose=True),
    ]


def add_checks(app: cdk.App) -> None:
    cdk.Validations.of(app).add_plugins(*rule_packs(app))


def acknowledge(scope: IConstruct, findings: Mapping[str, str]) -> None:
    for rule_id, reason in findings.items():
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))


def acknowledge_method_auth(method: IConstruct, api_auth: str, callers_note: str = ".") -> None:
    """A route of the inference API: no Cognito (machine-to-machine), and its authorization mode."""
    findings = {
        "AwsSolutions-COG4": "Machine-to-machine API without a Cognito user pool: callers use "
        f"{CALLERS[api_auth]}{callers_note}"
    }
    if api_auth in AUTH_REASONS:  # IAM authorization satisfies APIG4
        findings["AwsSolutions-APIG4"] = AUTH_REASONS[api_auth]
    acknowledge(method, findings)


def acknowledge_pinned_runtime(function: IConstruct, runtime: RuntimeConfig, why: str) -> None:
    """A function on an older Python than the newest runtime, because the config pins it."""
    if runtime.pinned_runtime:
        pinned = (
            f"serving.python_version={runtime.python_version} (newest supported: {PYTHON_VERSIONS[-1]}): "
            "the default is the newest Python the build has an interpreter of, so bundles ship bytecode "
            f"(docs/performance.md); or pinned in the config{why}"
        )
        acknowledge(function, {"AwsSolutions-L1": pinned, "Serverless-LambdaLatestVersion": pinned})


# -- finding ids, computed the way cdk-nag computes them --------------------------------------------


def flatten_cfn_reference(node: Any) -> str:
    """cdk-nag's flattening of an intrinsic into the string used in finding ids."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in node:
            return flatten_cfn_reference(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in node:
            return flatten_cfn_reference(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{flatten_cfn_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def resource_finding(scope: IConstruct, value: str) -> str:
    """The IAM5 finding id of a policy resource (a token such as a bucket ARN is resolved first)."""
    return f"AwsSolutions-IAM5[Resource::{flatten_cfn_reference(cdk.Stack.of(scope).resolve(value))}]"


def wildcard_findings(policy: iam.CfnPolicy) -> list[str]:
    """The IAM5 findings of one policy: wildcard actions and resources of its Allow statements."""
    document = cdk.Stack.of(policy).resolve(policy.policy_document)
    found: list[str] = []
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        for action in _as_list(statement.get("Action")):
            if "*" in action:
                found.append(f"Action::{action}")
        for resource in _as_list(statement.get("Resource")):
            flat = flatten_cfn_reference(resource)
            if "*" in flat:
                found.append(f"Resource::{flat}")
    return list(dict.fromkeys(found))


def acknowledge_wildcards(scope: IConstruct, reason_for: Callable[[str, str], str]) -> None:
    """Every IAM5 wildcard of the policies under `scope`, each with `reason_for(finding, policy path)`,
    which raises for a wildcard nobody reviewed (so a new one fails the synth)."""
    for policy in policies_under(scope):
        for finding in wildcard_findings(policy):
            acknowledge(policy, {f"AwsSolutions-IAM5[{finding}]": reason_for(finding, policy.node.path)})


def matching_reason(patterns: Iterable[tuple[re.Pattern[str], str]], finding: str) -> str | None:
    return next((reason for pattern, reason in patterns if pattern.match(finding)), None)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def policies_under(scope: IConstruct) -> Iterable[iam.CfnPolicy]:
    return (child for child in scope.node.find_all() if isinstance(child, iam.CfnPolicy))


# -- checkov: deliberate skips, declared on the resource the way the acknowledgments are ---------------


def checkov_skip(scope: IConstruct, skips: Mapping[str, str]) -> None:
    """Declare checkov checks skipped on `scope`'s CloudFormation resource (an L1, or an L2's default
    child), each with its reason: checkov reads `Metadata.checkov.skip` from the template."""
    resource = scope if isinstance(scope, cdk.CfnResource) else scope.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise TypeError(f"{scope.node.path} has no CloudFormation resource to carry checkov skips")
    existing = resource.get_metadata("checkov") or {}
    declared = {entry["id"]: entry["comment"] for entry in existing.get("skip", [])}
    declared.update(skips)
    resource.add_metadata(
        "checkov", {"skip": [{"id": check_id, "comment": reason} for check_id, reason in declared.items()]}
    )


LOG_GROUP_KMS = (
    "CloudWatch Logs encrypts every log group at rest with AWS-owned keys; the logs hold counts, timings "
    "and error codes, never request bodies (docs/security.md), so a customer-managed key per account would "
    "add key policy and cost without protecting anything more."
)
LAMBDA_VPC = (
    "The function calls only AWS APIs (S3, SQS, DynamoDB, CloudWatch) over TLS with IAM; a VPC would need "
    "NAT or VPC endpoints in every account and adds cold-start and cost, protecting nothing it reaches."
)
LAMBDA_ENV_KMS = (
    "Lambda encrypts environment variables at rest with an AWS managed key; they hold resource names and "
    "settings only, never secrets (test_no_secret_in_function_configuration)."
)
SQS_MANAGED_SSE = (
    "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled); checkov recognises only "
    "KmsMasterKeyId. A customer-managed key would need key grants for every producer and consumer."
)
DYNAMODB_AWS_KEY = (
    "DynamoDB encrypts every table at rest (AWS-owned key); the items are release records or "
    "predictions, not secrets, and a customer-managed key would add key policy and cost per account."
)
SYNC_ONLY_DLQ = (
    "Invoked synchronously only ({}); the caller gets and handles every failure, and a DLQ "
    "applies to asynchronous invocations, which never happen."
)


def checkov_skip_function(
    function: IConstruct, *, invoked_by: str | None = None, concurrency: str | None = None
) -> None:
    """The checks every function here deliberately skips (VPC, environment encryption), plus the DLQ
    check for a function invoked synchronously only (`invoked_by`) and the reserved-concurrency check
    when `concurrency` says why it has none."""
    skips = {"CKV_AWS_117": LAMBDA_VPC, "CKV_AWS_173": LAMBDA_ENV_KMS}
    if invoked_by is not None:
        skips["CKV_AWS_116"] = SYNC_ONLY_DLQ.format(invoked_by)
    if concurrency is not None:
        skips["CKV_AWS_115"] = concurrency
    checkov_skip(function, skips)


LIVE_CONCURRENCY_REASON = (
    "The live function: a reservation would cap the traffic it can serve. It is protected the other way "
    "round: the shadow and batch functions have reserved concurrency (which also caps them), the API "
    "throttles callers, and the alias can have provisioned concurrency (serving.provisioned_concurrency)."
)
API_CONCURRENCY_REASON = (
    "A client route behind the API's stage and usage-plan throttling, which bound it; a reservation would "
    "cap it below that and withhold account concurrency all the time."
)
API_CACHE_REASON = (
    "Every prediction is a POST with its own body: API Gateway caches GET responses by path and "
    "parameters, so a cache cluster would cost per hour and serve nothing."
)
