"""What the deployed templates say about log subscriptions: which function's lines go where.

A subscription filter names a log group; the function that logs to it is the one whose
`LoggingConfig.LogGroup` names that group, or the function whose default group
`/aws/lambda/<FunctionName>` it is. The destination is a Lambda function (by ARN, possibly
qualified), invoked asynchronously, so its `EventInvokeConfig` (retries, on-failure destination)
and its `DeadLetterConfig` apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from localcloud.provision import Deployment, ProvisionedResource
from localcloud.subscriptions.pattern import Matcher, compile_pattern

DEFAULT_RETRIES = 2  # Lambda retries a failed asynchronous invocation twice unless configured


@dataclass(frozen=True)
class FailurePolicy:
    """How the destination's failed asynchronous invocations end."""

    max_retries: int = DEFAULT_RETRIES
    dead_letter_arn: str | None = None  # an SQS queue (DeadLetterConfig or an OnFailure destination)


@dataclass(frozen=True)
class Subscription:
    filter_name: str
    log_group: str
    pattern: str
    matches: Matcher
    sources: frozenset[str]  # function names whose lines land in the log group
    destination_function: str
    destination_qualifier: str
    failure: FailurePolicy


def log_group_of(function: ProvisionedResource) -> str:
    """The log group a provisioned function writes to."""
    return str(function.local.get("log_group") or f"/aws/lambda/{function.physical_id}")


def subscriptions_from(deployment: Deployment) -> list[Subscription]:
    """Every subscription filter of the deployment whose destination is a Lambda function."""
    functions = deployment.of_type("AWS::Lambda::Function")
    invoke_configs = deployment.of_type("AWS::Lambda::EventInvokeConfig")
    found = []
    for resource in deployment.of_type("AWS::Logs::SubscriptionFilter"):
        props = resource.local
        destination = str(props.get("DestinationArn", ""))
        if ":lambda:" not in destination:
            continue  # Kinesis / Firehose destinations are not emulated (docs/local-cloud.md)
        name, qualifier = _function_of(destination)
        log_group = str(props["LogGroupName"])
        sources = frozenset(f.physical_id for f in functions if log_group_of(f) == log_group)
        target = next((f for f in functions if f.physical_id == name), None)
        found.append(
            Subscription(
                filter_name=resource.physical_id,
                log_group=log_group,
                pattern=str(props.get("FilterPattern", "")),
                matches=compile_pattern(str(props.get("FilterPattern", ""))),
                sources=sources,
                destination_function=name,
                destination_qualifier=qualifier,
                failure=_failure_policy(name, qualifier, target, invoke_configs),
            )
        )
    return found


def _function_of(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[6], parts[7] if len(parts) > 7 else "$LATEST"


def _failure_policy(
    name: str,
    qualifier: str,
    target: ProvisionedResource | None,
    invoke_configs: list[ProvisionedResource],
) -> FailurePolicy:
    mine = [c.local for c in invoke_configs if str(c.local.get("FunctionName", "")).split(":")[-1] == name]
    exact = [c for c in mine if str(c.get("Qualifier", "$LATEST")) == qualifier]
    config = (exact or mine or [{}])[0]
    retries = int(config.get("MaximumRetryAttempts", DEFAULT_RETRIES))
    on_failure = str(config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination", ""))
    dead_letter = target.local.get("dead_letter_arn") if target is not None else None
    queue = on_failure if on_failure.startswith("arn:aws:sqs:") else dead_letter
    return FailurePolicy(max_retries=retries, dead_letter_arn=str(queue) if queue else None)
