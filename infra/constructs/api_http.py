"""The inference API as an API Gateway HTTP API (serving.api_type=http) or as the function's own
URL (api_type=function_url): the cheaper fronts of docs/api.md.

The HTTP API takes every route of the REST API (`INFERENCE_ROUTES`, the table functions/inference
/api.py answers) on its `$default` stage, with IAM or JWT authorization (or none), stage
throttling and JSON access logs, and invokes the `live` alias with payload format 1.0, the event
and response shape of the REST API, so every function behind it answers both alike. It cannot
take the function qualifier from the path: a /versions/{version}/ route reaches the alias, and the
function answers 404 unless it is that version (docs/api.md). A function URL (IAM or none) on the
`live` alias serves every path of the inference function (payload 2.0, which the function reads).
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config.api import ApiConfig
from infra.constructs.api_logs import HTTP_ACCESS_LOG_FIELDS
from infra.constructs.api_routes import INFERENCE_ROUTES
from infra.nag import LOG_GROUP_KMS, acknowledge, checkov_skip

# The headers a browser may send (SigV4's and a JWT's), and how long it may cache a preflight answer.
CORS_HEADERS = ["Content-Type", "Authorization", "X-Amz-Date", "X-Amz-Security-Token"]
CORS_MAX_AGE = cdk.Duration.hours(1)
NO_AUTH_REASON = (
    "serving.api_auth=none was chosen explicitly: a public endpoint protected by throttling only."
)


def _authorizer(config: ApiConfig) -> apigwv2.IHttpRouteAuthorizer | None:
    if config.api_auth == "iam":
        return authorizers.HttpIamAuthorizer()
    if config.api_auth == "jwt":
        return authorizers.HttpJwtAuthorizer("Jwt", config.jwt_issuer, jwt_audience=list(config.jwt_audience))
    return None


class HttpInferenceApi(Construct):
    """HTTP API + `$default` stage (throttled, access-logged) + the inference routes on the alias."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project: str,
        config: ApiConfig,
        alias: lambda_.IFunction,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        cors = (
            apigwv2.CorsPreflightOptions(
                allow_origins=list(config.cors_origins),
                allow_methods=[apigwv2.CorsHttpMethod.GET, apigwv2.CorsHttpMethod.POST],
                allow_headers=CORS_HEADERS,
                max_age=CORS_MAX_AGE,
            )
            if config.cors_origins
            else None
        )
        self.http_api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=f"{project}-inference",
            description=f"Model inference HTTP API ({project})",
            create_default_stage=False,
            cors_preflight=cors,
            default_authorizer=_authorizer(config),
        )
        self.access_log_group = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=cdk.RemovalPolicy.RETAIN
        )
        self.stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=config.throttle_rate_limit, burst_limit=config.throttle_burst_limit
            ),
        )
        cfn_stage = self.stage.node.default_child
        assert isinstance(cfn_stage, apigwv2.CfnStage)
        cfn_stage.access_log_settings = apigwv2.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_log_group.log_group_arn,
            format=json.dumps(HTTP_ACCESS_LOG_FIELDS, separators=(",", ":")),
        )
        checkov_skip(self.access_log_group, {"CKV_AWS_158": LOG_GROUP_KMS})
        self.routes: list[apigwv2.HttpRoute] = []
        self.add_routes(alias, INFERENCE_ROUTES, "Inference")

    @property
    def url(self) -> str:
        return self.http_api.api_endpoint + "/"

    def add_routes(self, handler: lambda_.IFunction, routes: list[tuple[str, str]], name: str) -> None:
        """`routes` ((path, method) pairs) on this API, invoking `handler` with payload format 1.0."""
        integration = integrations.HttpLambdaIntegration(
            f"{name}Integration", handler, payload_format_version=apigwv2.PayloadFormatVersion.VERSION_1_0
        )
        for path, method in routes:
            for route in self.http_api.add_routes(
                path=path, methods=[apigwv2.HttpMethod(method)], integration=integration
            ):
                self.routes.append(route)
                if self.config.api_auth == "none":
                    acknowledge(route, {"AwsSolutions-APIG4": NO_AUTH_REASON})


class FunctionUrlApi(Construct):
    """The `live` alias's function URL: IAM (SigV4, service `lambda`) or no authentication."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: ApiConfig, alias: lambda_.Alias
    ) -> None:
        super().__init__(scope, construct_id)
        cors = lambda_.FunctionUrlCorsOptions(
            allowed_origins=list(config.cors_origins),
            allowed_methods=[lambda_.HttpMethod.GET, lambda_.HttpMethod.POST],
            allowed_headers=CORS_HEADERS,
            max_age=CORS_MAX_AGE,
        )
        self.function_url = alias.add_function_url(
            auth_type=lambda_.FunctionUrlAuthType.AWS_IAM
            if config.api_auth == "iam"
            else lambda_.FunctionUrlAuthType.NONE,
            cors=cors if config.cors_origins else None,
        )

    @property
    def url(self) -> str:
        return self.function_url.url
