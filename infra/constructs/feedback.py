"""Ground-truth feedback: `POST /feedback` on the inference API, served by a small function of its own
(no model session) that stores labels in the prediction log bucket (docs/monitoring.md).

```
client --POST /feedback (same API key, usage plan, stage throttling)--> feedback function
feedback function --PutObject feedback/dt=YYYY-MM-DD/hour=HH/<hash>.jsonl.gz--> log bucket
feedback function --GetObject models/<live version>/metadata.json (class labels, at init)--> model store
```

The route shares the API's request validator, authorization and API key requirement with `/predict`.
No API Gateway body model: the gateway's 400 body for a failed model check names the `/predict`
envelope, so the function validates the body itself (strictly, every error naming the field).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from common import layout
from infra.config.api import ApiConfig
from infra.config.metrics import MetricsConfig
from infra.config.runtime import RuntimeConfig
from infra.constructs.inference_service import InferenceService
from infra.constructs.python_function import python_function
from infra.nag import (
    API_CONCURRENCY_REASON,
    SYNC_ONLY_REASON,
    XRAY_REASON,
    acknowledge,
    acknowledge_pinned_runtime,
    checkov_skip_function,
    resource_finding,
)

HANDLER = "feedback.handler.handler"
FEEDBACK_FUNCTION = "feedback"
FEEDBACK_PATH = "feedback"
# The same string as functions/common/feedback.FEEDBACK_PREFIX (a unit test keeps them equal).
FEEDBACK_PREFIX = layout.FEEDBACK_PREFIX
FEEDBACK_S3_REASON = (
    "s3:PutObject on feedback/* of the prediction log bucket (names are content hashes under hour "
    "partitions) and s3:GetObject on models/* (the class labels of the live model's metadata)."
)


class FeedbackApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: RuntimeConfig,
        api: ApiConfig,
        metrics: MetricsConfig,
        code: lambda_.Code,
        service: InferenceService,
        model_bucket: s3.IBucket,
        model_uri: str,
        log_bucket_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.runtime_config = runtime
        self.api_config = api
        self.metrics_config = metrics
        self.model_bucket = model_bucket
        self.log_bucket_name = log_bucket_name
        made = python_function(
            self,
            runtime=self.runtime_config,
            code=code,
            handler=HANDLER,
            description="Feedback: stores ground-truth labels of live predictions in the log bucket",
            role_description="Feedback function: write its logs, read model metadata, put feedback/*, X-Ray",
            memory_mb=256,
            timeout=cdk.Duration.seconds(10),
            environment={
                "MODEL_URI": model_uri,
                "LOG_BUCKET": log_bucket_name,
                "MAX_BODY_BYTES": str(self.api_config.max_body_bytes),
                "FEEDBACK_MAX_ITEMS": str(self.api_config.feedback_max_items),
                "POWERTOOLS_SERVICE_NAME": "feedback",
                "POWERTOOLS_METRICS_NAMESPACE": self.metrics_config.metrics_namespace,
            },
        )
        self.function, self.role = made.function, made.role
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[model_bucket.arn_for_objects(f"{layout.MODELS_PREFIX}*")]
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[self.feedback_objects_arn])
        )
        self.url: str | None = None
        self.method: apigw.Method | None = None
        if service.http_api is not None:  # serving.api_type=http: a route of the same HTTP API
            service.http_api.add_routes(self.function, [(f"/{FEEDBACK_PATH}", "POST")], "Feedback")
        elif service.function_url is not None:  # api_type=function_url: the function's own URL
            self.url = self.function.add_function_url(
                auth_type=lambda_.FunctionUrlAuthType.AWS_IAM
                if self.api_config.api_auth == "iam"
                else lambda_.FunctionUrlAuthType.NONE
            ).url
        else:
            self.method = self._rest_route(service)
        self._acknowledge_findings(service)

    def _rest_route(self, service: InferenceService) -> apigw.Method:
        return service.api.root.add_resource(FEEDBACK_PATH).add_method(
            "POST",
            apigw.LambdaIntegration(self.function, proxy=True, allow_test_invoke=False),
            request_validator=service.request_validator,
            authorization_type=(
                apigw.AuthorizationType.IAM
                if self.api_config.api_auth == "iam"
                else apigw.AuthorizationType.NONE
            ),
            api_key_required=self.api_config.api_auth == "api_key",
        )

    def _acknowledge_findings(self, service: InferenceService) -> None:
        model_objects = self.model_bucket.arn_for_objects(f"{layout.MODELS_PREFIX}*")
        findings = {
            resource_finding(self.role, model_objects): FEEDBACK_S3_REASON,
            resource_finding(self.role, self.feedback_objects_arn): FEEDBACK_S3_REASON,
            "AwsSolutions-IAM5[Resource::*]": XRAY_REASON,
        }
        acknowledge(self.role, findings)
        acknowledge(self.function, {"Serverless-LambdaDLQ": SYNC_ONLY_REASON})
        checkov_skip_function(self.function, invoked_by="by API Gateway", concurrency=API_CONCURRENCY_REASON)
        if self.method is not None:
            service.acknowledge_route(self.method, self.method.resource)
        acknowledge_pinned_runtime(
            self.function, self.runtime_config, "; every function of the app runs the same runtime."
        )

    @property
    def feedback_objects_arn(self) -> str:
        return f"arn:{cdk.Aws.PARTITION}:s3:::{self.log_bucket_name}/{FEEDBACK_PREFIX}*"
