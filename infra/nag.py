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
            f"serving.python_version={runtime.python_version} was pinned in the config (newest supported: "
            f"{PYTHON_VERSIONS[-1]}){why}"
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
