"""The shape every small function of the app shares: its own log group (retention, retained), an
explicit role that may write only that group (no managed policies), X-Ray tracing, and the serving
runtime and architecture. Callers add their own grants to the role."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import ServingConfig
from infra.constructs.inference_service import ARCHITECTURES, RUNTIMES
from infra.constructs.retention import retention


@dataclass(frozen=True)
class PythonFunction:
    function: lambda_.Function
    role: iam.Role
    log_group: logs.LogGroup


def python_function(
    scope: Construct,
    *,
    config: ServingConfig,
    code: lambda_.Code,
    handler: str,
    description: str,
    role_description: str,
    memory_mb: int,
    timeout: cdk.Duration,
    environment: dict[str, str],
) -> PythonFunction:
    """`FunctionLogs`, `FunctionRole` and `Function` as children of `scope`."""
    log_group = logs.LogGroup(
        scope,
        "FunctionLogs",
        retention=retention(config.log_retention_days),
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    role = iam.Role(
        scope,
        "FunctionRole",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=role_description,
    )
    log_group.grant_write(role)
    function = lambda_.Function(
        scope,
        "Function",
        description=description,
        runtime=RUNTIMES[config.python_version],
        architecture=ARCHITECTURES[config.architecture],
        handler=handler,
        code=code,
        memory_size=memory_mb,
        timeout=timeout,
        role=role,
        log_group=log_group,
        tracing=lambda_.Tracing.ACTIVE,
        environment={**environment, "LOG_LEVEL": config.log_level},
    )
    return PythonFunction(function=function, role=role, log_group=log_group)
