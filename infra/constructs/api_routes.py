"""The Open Inference Protocol (V2) routes on the REST API, beside /predict and /health.

Every route but the pinned ones invokes the `live` alias, as /predict does (its weights decide the
version). Routes under `/v2/models/{name}/versions/{version}/` are answered by that Lambda version,
outside the alias weights: their integration's function ARN ends in the `{version}` path variable,
filled from the method's path parameter (`integration.request.path.version`), and API Gateway
invokes with an execution role allowed `lambda:InvokeFunction` on the function's versions (a
resource policy would need a statement per published version). docs/api.md explains the choice.
The same routes come from functions/inference/api.py's table, and the local cloud reads them from
the synthesized template (localcloud/gateway.py).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.nag import acknowledge

VERSION_PARAMETER = "version"
_MODEL = "/v2/models/{name}"
_PINNED = _MODEL + "/versions/{version}"
INFERENCE_ROUTES: list[tuple[str, str]] = [
    ("/predict", "POST"),
    ("/health", "GET"),
    ("/v2", "GET"),
    ("/v2/health/live", "GET"),
    ("/v2/health/ready", "GET"),
    *[
        (base + suffix, method)
        for base in (_MODEL, _PINNED)
        for suffix, method in (("", "GET"), ("/ready", "GET"), ("/infer", "POST"))
    ],
]
"""(path, method) of every route of the inference function: the table functions/inference/api.py
answers (a test keeps the two equal), declared on whichever API fronts the function."""
PINNED_INVOKE_REASON = (
    "API Gateway's execution role for the pinned Open Inference routes invokes any published version of "
    "the inference function (`<function>:*`): versions are published by modelctl after deploy, so they "
    "cannot be listed here; the role can invoke nothing else."
)


def pinned_integration(scope: Construct, function: lambda_.IFunction) -> apigw.Integration:
    """A Lambda proxy integration whose function qualifier is the request's `{version}`."""
    role = iam.Role(
        scope,
        "PinnedInvokeRole",
        assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
        description="API Gateway invokes the inference function version a /versions/{version}/ path names",
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["lambda:InvokeFunction"],
            resources=[function.function_arn, f"{function.function_arn}:*"],
        )
    )
    acknowledge(
        role,
        {
            "AwsSolutions-IAM5[Resource::<" + _logical_ref(function) + ".Arn>:*]": PINNED_INVOKE_REASON,
        },
    )
    stack = cdk.Stack.of(scope)
    uri = (
        f"arn:{stack.partition}:apigateway:{stack.region}:lambda:path/2015-03-31/functions/"
        f"{function.function_arn}:{{{VERSION_PARAMETER}}}/invocations"
    )
    return apigw.Integration(
        type=apigw.IntegrationType.AWS_PROXY,
        integration_http_method="POST",
        uri=uri,
        options=apigw.IntegrationOptions(
            credentials_role=role,
            request_parameters={
                f"integration.request.path.{VERSION_PARAMETER}": f"method.request.path.{VERSION_PARAMETER}"
            },
        ),
    )


def _logical_ref(function: lambda_.IFunction) -> str:
    """The logical id cdk-nag names a function's Arn attribute by."""
    return cdk.Stack.of(function).get_logical_id(function.node.default_child)  # type: ignore[arg-type]


def add_open_inference_routes(
    api: apigw.RestApi,
    *,
    scope: Construct,
    alias_integration: apigw.Integration,
    function: lambda_.IFunction,
    validator: apigw.IRequestValidator,
    method_options: dict[str, Any],
) -> list[apigw.Method]:
    """GET /v2, /v2/health/{live,ready}, and under /v2/models/{name} and
    /v2/models/{name}/versions/{version}: GET (metadata), GET ready, POST infer."""
    pinned = pinned_integration(scope, function)
    v2 = api.root.add_resource("v2")
    methods = [v2.add_method("GET", alias_integration, request_validator=validator, **method_options)]
    health = v2.add_resource("health")
    for name in ("live", "ready"):
        methods.append(
            health.add_resource(name).add_method(
                "GET", alias_integration, request_validator=validator, **method_options
            )
        )
    model = v2.add_resource("models").add_resource("{name}")
    version = model.add_resource("versions").add_resource("{version}")
    for resource, integration, parameters in (
        (model, alias_integration, {"method.request.path.name": True}),
        (
            version,
            pinned,
            {"method.request.path.name": True, f"method.request.path.{VERSION_PARAMETER}": True},
        ),
    ):
        options = {**method_options, "request_validator": validator, "request_parameters": parameters}
        methods.append(resource.add_method("GET", integration, **options))
        methods.append(resource.add_resource("ready").add_method("GET", integration, **options))
        methods.append(resource.add_resource("infer").add_method("POST", integration, **options))
    return methods
