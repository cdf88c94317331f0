"""The inference service: Lambda function, its `live` alias, the REST API in front of it, alarms.

API Gateway always invokes the alias `live`, never `$LATEST`: the alias decides which published
version(s) serve traffic (a primary version, plus at most one weighted extra version during a
canary), so a release is an alias update that `modelctl` can make and undo without a deploy.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from infra.config.alarms import AlarmsConfig
from infra.config.api import ApiConfig
from infra.config.inference import InferenceConfig
from infra.config.metrics import MetricsConfig
from infra.config.runtime import RuntimeConfig
from infra.constructs.api_http import FunctionUrlApi, HttpInferenceApi
from infra.constructs.api_logs import access_log_format
from infra.constructs.api_routes import add_open_inference_routes
from infra.constructs.model_store import MODELS_PREFIX
from infra.constructs.python_function import python_function
from infra.constructs.retention import retention
from infra.nag import (
    API_CACHE_REASON,
    IAM4,
    LIVE_CONCURRENCY_REASON,
    LOG_GROUP_KMS,
    SYNC_ONLY_REASON,
    XRAY_REASON,
    acknowledge,
    acknowledge_method_auth,
    acknowledge_pinned_runtime,
    checkov_skip,
    checkov_skip_function,
    resource_finding,
)

HANDLER = "inference.handler.handler"
ALIAS_NAME = "live"
PREDICT_PATH = "predict"
HEALTH_PATH = "health"
CORS_HEADERS = ["Content-Type", "X-Api-Key", "Authorization", "X-Amz-Date", "X-Amz-Security-Token"]
# Errors API Gateway answers itself (missing key, throttling, bad body) use the function's envelope.
MODEL_READ_REASON = (
    "grant_read on the model store, limited to objects under models/: every published function version "
    "pins one immutable artifact there, so the role reads that prefix and never writes."
)
API_LOGGING_ROLE_REASON = (
    "API Gateway's account-level logging role: AWS documents this managed policy for it "
    "(created because serving.api_gateway_cloudwatch_role is true)."
)
PREFLIGHT_REASON = (
    "CORS preflight (OPTIONS) requests carry no credentials by design; the mock integration only returns "
    "CORS headers."
)
GATEWAY_ERROR_TEMPLATE = (
    '{"error":{"code":"$context.error.responseType","message":$context.error.messageString,'
    '"request_id":"$context.requestId"}}'
)


def predict_request_schema(max_rows: int) -> dict[str, Any]:
    """The shape API Gateway checks before invoking the function (JSON Schema draft 4).

    Only the envelope: an object with exactly `instances`, an array of 1..max_rows rows, each an
    array or an object. Feature counts, names and numbers are checked by the function, which knows
    the model. Exported so the local cloud's gateway can apply the same check.
    """
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "PredictRequest",
        "type": "object",
        "required": ["instances"],
        "additionalProperties": False,
        "properties": {
            "instances": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_rows,
                "items": {"type": ["array", "object"]},
            }
        },
    }


def invalid_body_message(max_rows: int) -> str:
    return (
        'the body must be a JSON object {"instances": [...]} with 1 to '
        f"{max_rows} rows, each an array of numbers or an object of feature: number"
    )


class InferenceService(Construct):
    """Function + `live` alias + REST API (`POST /predict`, `GET /health`) + alarms on the alias."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project: str,
        runtime: RuntimeConfig,
        inference: InferenceConfig,
        api: ApiConfig,
        metrics: MetricsConfig,
        alarms: AlarmsConfig,
        code: lambda_.Code,
        model_bucket: s3.IBucket,
        model_uri: str,
        cors_extra_headers: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.cors_extra_headers = cors_extra_headers  # besides CORS_HEADERS: the sticky routing key
        self.project = project
        self.runtime_config = runtime
        self.inference_config = inference
        self.api_config = api
        self.metrics_config = metrics
        self.alarms_config = alarms
        self.model_bucket = model_bucket
        self.function = self._function(code=code, model_bucket=model_bucket, model_uri=model_uri)
        # Published once, when the stack is created. Its properties never change, so no later deploy
        # publishes through it, and the alias's properties do not depend on the code or the model:
        # CloudFormation never updates the alias again, and its routing (primary version, weights)
        # belongs to `modelctl` (docs/releases.md). New versions come from `modelctl publish`.
        self.version = lambda_.Version(
            self,
            "InitialVersion",
            lambda_=self.function,
            description="Published when the stack was created; later versions come from modelctl publish",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        alias_version: lambda_.IVersion = self.version
        if self.inference_config.live_version:
            alias_version = lambda_.Version.from_version_attributes(
                self, "LiveVersion", lambda_=self.function, version=self.inference_config.live_version
            )
        self.alias = lambda_.Alias(
            self,
            "LiveAlias",
            alias_name=ALIAS_NAME,
            version=alias_version,
            description="What API Gateway invokes; modelctl shifts its weights between versions",
            provisioned_concurrent_executions=self.inference_config.provisioned_concurrency or None,
        )
        self.api_key: apigw.IApiKey | None = None
        self.usage_plan: apigw.UsagePlan | None = None
        # One front per serving.api_type (docs/api.md): the REST API, an HTTP API or a function URL.
        self.api: apigw.RestApi
        self.http_api: HttpInferenceApi | None = None
        self.function_url: FunctionUrlApi | None = None
        if api.api_type == "http":
            self.http_api = HttpInferenceApi(
                self,
                "HttpApi",
                project=project,
                config=api,
                alias=self.alias,
                log_retention=retention(runtime.log_retention_days),
            )
        elif api.api_type == "function_url":
            self.function_url = FunctionUrlApi(self, "FunctionUrl", config=api, alias=self.alias)
        else:
            self.api = self._api()
        self.errors_alarm, self.error_rate_alarm, self.duration_alarm = self._alarms()
        self._acknowledge_findings()

    @property
    def url(self) -> str:
        """The base URL clients call (ends with '/'): the REST stage, the HTTP API or the function URL."""
        if self.http_api is not None:
            return self.http_api.url
        if self.function_url is not None:
            return self.function_url.url
        return self.api.url

    def cors_preflight_methods(self, scope: IConstruct | None = None) -> list[apigw.Method]:
        """The OPTIONS methods CDK adds for CORS under `scope` (default: the whole API; none when no
        origin is configured)."""
        return [
            child
            for child in (scope or self.api).node.find_all()
            if isinstance(child, apigw.Method) and child.http_method == "OPTIONS"
        ]

    def acknowledge_route(self, method: IConstruct, resource: IConstruct, callers_note: str = ".") -> None:
        """A route added to this API (here or by another construct): its method's authorization and
        the CORS preflight methods CDK added under its resource."""
        acknowledge_method_auth(method, self.api_config.api_auth, callers_note)
        self._acknowledge_preflights(resource)

    def _acknowledge_preflights(self, scope: IConstruct) -> None:
        for preflight in self.cors_preflight_methods(scope):
            acknowledge(
                preflight, {"AwsSolutions-APIG4": PREFLIGHT_REASON, "AwsSolutions-COG4": PREFLIGHT_REASON}
            )

    def _acknowledge_findings(self) -> None:
        model_objects = f"{self.model_bucket.bucket_arn}/models/*"
        acknowledge(
            self.role,
            {
                "AwsSolutions-IAM5[Action::s3:GetObject*]": MODEL_READ_REASON,
                "AwsSolutions-IAM5[Action::s3:GetBucket*]": MODEL_READ_REASON,
                "AwsSolutions-IAM5[Action::s3:List*]": MODEL_READ_REASON,
                resource_finding(self.role, model_objects): MODEL_READ_REASON,
                "AwsSolutions-IAM5[Resource::*]": XRAY_REASON,
            },
        )
        acknowledge_pinned_runtime(
            self.function,
            self.runtime_config,
            ", e.g. while a dependency has no wheels for the newest runtime.",
        )
        acknowledge(self.function, {"Serverless-LambdaDLQ": SYNC_ONLY_REASON})
        checkov_skip_function(self.function, invoked_by="by API Gateway", concurrency=LIVE_CONCURRENCY_REASON)
        if self.api_config.api_type != "rest":
            return
        checkov_skip(self.access_log_group, {"CKV_AWS_158": LOG_GROUP_KMS})
        checkov_skip(self.api.deployment_stage, {"CKV_AWS_120": API_CACHE_REASON})
        limits = "stage throttling" + (
            " and the API-key usage plan" if self.api_config.api_auth == "api_key" else ""
        )
        acknowledge(
            self.api.deployment_stage,
            {
                "AwsSolutions-APIG3": "No WAF web ACL (its cost is not justified yet): callers are limited "
                f"by {limits}; a web ACL can be associated with the stage later without changes here.",
            },
        )
        cloud_watch_role = self.api.node.try_find_child("CloudWatchRole")
        if cloud_watch_role is not None:
            acknowledge(
                cloud_watch_role,
                {IAM4.format("AmazonAPIGatewayPushToCloudWatchLogs"): API_LOGGING_ROLE_REASON},
            )
        for method in (self.predict_method, self.health_method, *self.open_inference_methods):
            acknowledge_method_auth(method, self.api_config.api_auth)
        self._acknowledge_preflights(self.api)

    # -- function ---------------------------------------------------------------------------------

    def _function(self, *, code: lambda_.Code, model_bucket: s3.IBucket, model_uri: str) -> lambda_.Function:
        # An explicit role: only this log group, the model prefix and X-Ray (no managed policies).
        made = python_function(
            self,
            runtime=self.runtime_config,
            code=code,
            handler=HANDLER,
            description=f"Model inference ({self.metrics_config.service_name})",
            role_description="Inference function: write its logs, read models/*, send X-Ray traces",
            memory_mb=self.inference_config.memory_mb,
            timeout=cdk.Duration.seconds(self.inference_config.timeout_seconds),
            # Old versions stay: the alias may still weight them (canary) and rollback needs them.
            current_version_options=lambda_.VersionOptions(removal_policy=cdk.RemovalPolicy.RETAIN),
            environment={
                "MODEL_URI": model_uri,
                "MAX_ROWS": str(self.api_config.max_rows),
                "MAX_BODY_BYTES": str(self.api_config.max_body_bytes),
                "POWERTOOLS_SERVICE_NAME": self.metrics_config.service_name,
                "POWERTOOLS_METRICS_NAMESPACE": self.metrics_config.metrics_namespace,
            },
        )
        self.function_log_group, self.role = made.log_group, made.role
        # Any version under models/ may be pinned by some published function version.
        model_bucket.grant_read(self.role, f"{MODELS_PREFIX}*")
        return made.function

    # -- API --------------------------------------------------------------------------------------

    def _api(self) -> apigw.RestApi:
        self.access_log_group = logs.LogGroup(
            self,
            "ApiAccessLogs",
            retention=retention(self.runtime_config.log_retention_days),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        cors = (
            apigw.CorsOptions(
                allow_origins=list(self.api_config.cors_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=[*CORS_HEADERS, *self.cors_extra_headers],
                max_age=cdk.Duration.hours(1),
            )
            if self.api_config.cors_origins
            else None
        )
        api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{self.project}-inference",
            description=f"Model inference API ({self.project})",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=self.api_config.api_gateway_cloudwatch_role,
            cloud_watch_role_removal_policy=(
                cdk.RemovalPolicy.RETAIN if self.api_config.api_gateway_cloudwatch_role else None
            ),
            api_key_source_type=apigw.ApiKeySourceType.HEADER
            if self.api_config.api_auth == "api_key"
            else None,
            default_cors_preflight_options=cors,
            deploy_options=apigw.StageOptions(
                stage_name=self.api_config.stage_name,
                throttling_rate_limit=self.api_config.throttle_rate_limit,
                throttling_burst_limit=self.api_config.throttle_burst_limit,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=access_log_format(),
            ),
        )
        api.node.try_remove_child("Endpoint")  # the stack's ApiUrl output has a stable name
        self._gateway_responses(api)

        integration = apigw.LambdaIntegration(self.alias, proxy=True, allow_test_invoke=False)
        method_options: dict[str, Any] = {
            "authorization_type": (
                apigw.AuthorizationType.IAM
                if self.api_config.api_auth == "iam"
                else apigw.AuthorizationType.NONE
            ),
            "api_key_required": self.api_config.api_auth == "api_key",
        }
        self.method_options = method_options  # other routes on this API (GET /predictions/{id}) reuse them
        # Both flags on: the body is checked against the model below; no parameters are required.
        self.request_validator = api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        request_models: dict[str, apigw.IModel] | None = None
        if self.api_config.validate_request_body:
            self.predict_model = api.add_model(
                "PredictRequest",
                content_type="application/json",
                model_name="PredictRequest",
                schema=_json_schema(predict_request_schema(self.api_config.max_rows)),
            )
            request_models = {"application/json": self.predict_model}
        self.predict_method = api.root.add_resource(PREDICT_PATH).add_method(
            "POST",
            integration,
            request_validator=self.request_validator,
            request_models=request_models,
            **method_options,
        )
        self.health_method = api.root.add_resource(HEALTH_PATH).add_method(
            "GET", integration, request_validator=self.request_validator, **method_options
        )
        self.open_inference_methods = add_open_inference_routes(
            api,
            scope=self,
            alias_integration=integration,
            function=self.function,
            validator=self.request_validator,
            method_options=method_options,
        )

        if self.api_config.api_auth == "api_key":
            self.usage_plan = api.add_usage_plan(
                "UsagePlan",
                description="Throttle per API key (the stage throttles all callers together)",
                throttle=apigw.ThrottleSettings(
                    rate_limit=self.api_config.throttle_rate_limit,
                    burst_limit=self.api_config.throttle_burst_limit,
                ),
                api_stages=[apigw.UsagePlanPerApiStage(api=api, stage=api.deployment_stage)],
            )
            self.api_key = apigw.ApiKey(
                self,
                "ApiKey",
                description="Default client key; add more keys to the usage plan",
                enabled=True,
            )
            self.usage_plan.add_api_key(self.api_key)
        return api

    def _gateway_responses(self, api: apigw.RestApi) -> None:
        headers: dict[str, str] = {}
        if len(self.api_config.cors_origins) == 1:
            # A gateway response carries one fixed origin; several origins are answered by the function.
            headers["Access-Control-Allow-Origin"] = f"'{self.api_config.cors_origins[0]}'"
        template = {"application/json": GATEWAY_ERROR_TEMPLATE}
        for name, response_type in (
            ("Default4xx", apigw.ResponseType.DEFAULT_4_XX),
            ("Default5xx", apigw.ResponseType.DEFAULT_5_XX),
        ):
            api.add_gateway_response(
                name, type=response_type, templates=template, response_headers=headers or None
            )
        invalid_body = json.dumps(
            {
                "error": {
                    "code": "invalid_body",
                    "message": invalid_body_message(self.api_config.max_rows),
                    "request_id": "$context.requestId",
                }
            },
            separators=(",", ":"),
        )
        api.add_gateway_response(
            "BadRequestBody",
            type=apigw.ResponseType.BAD_REQUEST_BODY,
            status_code="400",
            templates={"application/json": invalid_body},
            response_headers=headers or None,
        )

    # -- alarms -----------------------------------------------------------------------------------

    def _alarms(self) -> tuple[cw.Alarm, cw.Alarm, cw.Alarm]:
        period = cdk.Duration.seconds(self.alarms_config.period_seconds)
        periods = self.alarms_config.evaluation_periods
        # Alias metrics carry the dimension Resource=<function>:live: only traffic through the alias.
        errors = self.alias.metric_errors(period=period, statistic="Sum")
        invocations = self.alias.metric_invocations(period=period, statistic="Sum")
        error_rate = cw.MathExpression(
            expression="IF(invocations > 0, 100 * errors / invocations, 0)",
            using_metrics={"errors": errors, "invocations": invocations},
            label="Error rate (%) of the live alias",
            period=period,
        )
        duration = self.alias.metric_duration(period=period, statistic="p99")
        config = self.alarms_config

        def alarm(construct_id: str, metric: cw.IMetric, threshold: float, what: str) -> cw.Alarm:
            return cw.Alarm(
                self,
                construct_id,
                metric=metric,
                threshold=threshold,
                alarm_description=f"{ALIAS_NAME}: {what} for {periods} periods",
                evaluation_periods=periods,
                datapoints_to_alarm=periods,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )

        return (
            alarm(
                "ErrorsAlarm",
                errors,
                config.errors_threshold,
                f"at least {config.errors_threshold} errors per {config.period_seconds} s",
            ),
            alarm(
                "ErrorRateAlarm",
                error_rate,
                config.error_rate_percent,
                f"error rate at least {config.error_rate_percent}%",
            ),
            alarm(
                "P99DurationAlarm",
                duration,
                config.p99_duration_ms,
                f"p99 duration at least {config.p99_duration_ms} ms",
            ),
        )


def _json_schema(schema: dict[str, Any]) -> apigw.JsonSchema:
    """The schema of `predict_request_schema` as CDK's JsonSchema (the two are kept identical by a test)."""
    instances = schema["properties"]["instances"]
    return apigw.JsonSchema(
        schema=apigw.JsonSchemaVersion.DRAFT4,
        title=schema["title"],
        type=apigw.JsonSchemaType.OBJECT,
        required=list(schema["required"]),
        additional_properties=False,
        properties={
            "instances": apigw.JsonSchema(
                type=apigw.JsonSchemaType.ARRAY,
                min_items=instances["minItems"],
                max_items=instances["maxItems"],
                items=apigw.JsonSchema(type=[apigw.JsonSchemaType.ARRAY, apigw.JsonSchemaType.OBJECT]),
            )
        },
    )
