"""The shape the app's functions (inference, shadow, feedback, monitor) share: its own log group
(retention, retained), an explicit role that may write only that group (no managed policies), X-Ray
tracing, and the serving runtime and architecture. Callers add their own grants to the role."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config.runtime import RuntimeConfig
from infra.constructs.retention import retention

RUNTIMES = {
    "3.12": lambda_.Runtime.PYTHON_3_12,
    "3.13": lambda_.Runtime.PYTHON_3_13,
    "3.14": lambda_.Runtime.PYTHON_3_14,
}
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


@dataclass(frozen=True)
class PythonFunction:
    function: lambda_.Function
    role: iam.Role
    log_group: logs.LogGroup


def python_function(
    scope: Construct,
    *,
    runtime: RuntimeConfig,
    code: lambda_.Code,
    handler: str,
    description: str,
    role_description: str,
    memory_mb: int,
    timeout: cdk.Duration,
    environment: dict[str, str],
    statements: Sequence[iam.PolicyStatement] = (),
    current_version_options: lambda_.VersionOptions | None = None,
) -> PythonFunction:
    """`FunctionLogs`, `FunctionRole` and `Function` as children of `scope`.

    `statements` go into the role's policy before the function adds its X-Ray grant (statement
    order is part of the synthesized policy, so it stays fixed); later grants can go on `role`.
    """
    log_group = logs.LogGroup(
        scope,
        "FunctionLogs",
        retention=retention(runtime.log_retention_days),
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    role = iam.Role(
        scope,
        "FunctionRole",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=role_description,
    )
    log_group.grant_write(role)
    for statement in statements:
        role.add_to_policy(statement)
    function = lambda_.Function(
        scope,
        "Function",
        description=description,
        runtime=RUNTIMES[runtime.python_version],
        architecture=ARCHITECTURES[runtime.architecture],
        handler=handler,
        code=code,
        memory_size=memory_mb,
        timeout=timeout,
        role=role,
        log_group=log_group,
        tracing=lambda_.Tracing.ACTIVE,
        current_version_options=current_version_options,
        environment={**environment, "LOG_LEVEL": runtime.log_level},
    )
    return PythonFunction(function=function, role=role, log_group=log_group)
