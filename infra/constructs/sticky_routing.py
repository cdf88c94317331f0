"""Sticky routing for the inference function (functions/inference/sticky.py; docs/routing.md).

The function reads its alias's weights (`lambda:GetAlias` on the alias) and re-invokes the version
a routing key belongs to (`lambda:InvokeFunction` on the function's versions). The grant is its
own `AWS::IAM::Policy` attached to the function's role, not a statement of the role's default
policy: the function depends on that default policy, and a statement naming the function's own
ARN there would be a dependency cycle.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config.routing import RoutingConfig
from infra.nag import acknowledge, resource_finding

ROUTING_REASON = (
    "Sticky routing re-invokes the version a routing key belongs to, by number: any published version "
    "of this one function may be the canary, so the grant names the function's versions (<arn>:*), "
    "nothing else."
)


def connect_sticky_routing(
    scope: Construct, *, function: lambda_.Function, alias_name: str, routing: RoutingConfig
) -> iam.Policy | None:
    """The header and cache time in the function's environment and its grant; None when off."""
    if not routing.enabled:
        return None
    function.add_environment("ROUTING_KEY_HEADER", routing.routing_key_header)
    function.add_environment("ROUTING_ALIAS_TTL_SECONDS", str(routing.routing_alias_ttl_seconds))
    versions = f"{function.function_arn}:*"
    policy = iam.Policy(
        scope,
        "StickyRoutingPolicy",
        statements=[
            iam.PolicyStatement(
                actions=["lambda:GetAlias"], resources=[f"{function.function_arn}:{alias_name}"]
            ),
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[versions]),
        ],
    )
    assert function.role is not None
    policy.attach_to_role(function.role)
    acknowledge(policy, {resource_finding(policy, versions): ROUTING_REASON})
    return policy
