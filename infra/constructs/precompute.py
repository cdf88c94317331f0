"""Precomputed predictions: a Step Functions job that scores a data set (or a grid) into DynamoDB,
and the function that serves them by key (GET /predictions/{id} on the inference API).

```
StartExecution {"model_version", "input": {"s3_uri"} | {"grid"} | {"grid_uri"}}
  Plan (Lambda): validate against the model, write chunks + manifest.json to the work bucket
  ScoreChunks (distributed Map, ItemReader = s3:getObject manifest.json, one child per chunk)
      ScoreChunk (Lambda, onnxruntime): predict, BatchWriteItem (pk=ID#<id>, sk=<version>), done marker
  Switch (Lambda): every chunk done? one conditional PutItem of the pointer (pk=POINTER)
  any failure -> Failed (the served version is unchanged)
GET /predictions/{id} -> Lookup (Lambda, boto3 only): pointer, then the item of that version
```

Least privilege: each function gets only the S3 prefixes and DynamoDB actions it uses.
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from common import layout
from infra.config.precompute import PrecomputeConfig
from infra.config.runtime import RuntimeConfig
from infra.constructs.buckets import private_bucket
from infra.constructs.inference_service import InferenceService
from infra.constructs.model_store import MODELS_PREFIX
from infra.constructs.python_function import ARCHITECTURES, RUNTIMES
from infra.constructs.retention import retention
from infra.constructs.tables import keyed_table
from infra.nag import (
    DYNAMODB_AWS_KEY,
    LOG_GROUP_KMS,
    acknowledge,
    acknowledge_pinned_runtime,
    acknowledge_wildcards,
    checkov_skip,
    checkov_skip_function,
)

PLAN_HANDLER = "precompute_control.handler.plan"
SWITCH_HANDLER = "precompute_control.handler.switch"
SCORE_HANDLER = "precompute_score.handler.handler"
LOOKUP_HANDLER = "predictions.handler.handler"
CONTROL_FUNCTION = "precompute_control"
SCORE_FUNCTION = "precompute_score"
LOOKUP_FUNCTION = "predictions"
# The same strings as functions/common/precompute_run.py and precompute_table.py (a test keeps them equal).
RUNS_PREFIX = layout.RUNS_PREFIX
INPUTS_PREFIX = layout.INPUTS_PREFIX
PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"
RUN_FILES_EXPIRATION = cdk.Duration.days(7)
PREDICTIONS_PATH = "predictions"
PRECOMPUTE_WILDCARDS: tuple[tuple[str, str], ...] = (
    (
        r"Resource::<[A-Za-z0-9]+\.Arn>/runs/\*",
        "Objects under runs/ of the precompute work bucket: a run's chunk, manifest and done-marker names "
        "are derived from its execution name, so they cannot be listed in advance; nothing else is granted.",
    ),
    (
        r"Resource::<[A-Za-z0-9]+\.Arn>/inputs/\*",
        "The plan step reads the data set to score from inputs/ of the work bucket (where `modelctl "
        "precompute` uploads or copies it); the object is named by each run's input.",
    ),
    (
        r"Resource::arn:(<AWS::Partition>|aws[a-z-]*):s3:::[^/]*ModelBucketName[^/]*/models/\*",
        "s3:GetObject on models/* of the model store: the model version a run scores with is named by each "
        "execution's input, so any immutable artifact under models/ may be read; nothing else.",
    ),
    (
        r"Resource::arn:(<AWS::Partition>|aws[a-z-]*):s3:::<PrecomputeWorkBucket[A-Za-z0-9]+>/\*",
        "CDK's policy for the distributed Map's S3 ItemReader: s3:GetObject in the work bucket, because the "
        "manifest's key is a JSON path resolved at run time (it is always runs/<execution>/manifest.json).",
    ),
    (
        r"Resource::\*",
        "X-Ray PutTraceSegments/PutTelemetryRecords and CloudWatch Logs delivery (state machine logging) "
        "support no resource-level permissions.",
    ),
    (
        r"Action::s3:(GetObject|GetBucket|List)\*",
        "grant_read of runs/* to the state machine: the distributed Map's ItemReader reads each run's "
        "manifest.json under runs/.",
    ),
    (
        r"Resource::<[A-Za-z0-9]+\.Arn>:\*",
        "CDK grants lambda:InvokeFunction on the function and its versions/aliases (<arn>:*) to the state "
        "machine role; it invokes only the precompute functions.",
    ),
    (
        r"Resource::arn:(<AWS::Partition>|aws[a-z-]*):states:(<AWS::Region>|[a-z0-9-]*):(<AWS::AccountId>|[0-9]*):"
        r"(stateMachine|execution):.*",
        "CDK's grants for the distributed Map: the state machine starts, describes and stops its own child "
        "executions, whose names are generated at run time.",
    ),
)
PRECOMPUTE_DLQ_REASON = (
    "Invoked synchronously only (by its state machine's task, or by API Gateway for the lookup): failures "
    "go back to the caller, which retries or fails the run; a DLQ applies to asynchronous invocations."
)
PRECOMPUTE_VERSIONING_REASON = (
    "Work files only: inputs are the caller's copy and run files are regenerated by rerunning the job "
    "(and expire after 7 days); the predictions themselves are in DynamoDB. Nothing is lost without "
    "versioning."
)
PRECOMPUTE_CONTROL_CONCURRENCY_REASON = (
    "Invoked once per run by the state machine (seconds each); a reservation would withhold account "
    "concurrency all the time for a function that never holds more than a run's worth of it."
)
PRECOMPUTE_LOOKUP_CONCURRENCY_REASON = (
    "Serves GET /predictions/{id} for clients: a reservation would cap it below the API's own throttling, "
    "which already bounds it (stage and usage-plan limits)."
)
NO_RESERVATION_REASON = (
    "serving.precompute_reserved_concurrency=0 was chosen explicitly (an account whose concurrency quota "
    "cannot spare a reservation); the distributed Map's MaxConcurrency still bounds the scoring."
)
PRECOMPUTE_LOG_BUCKET_REASON = (
    "The work bucket holds inputs and short-lived run files (runs/ expire after 7 days); the model store's "
    "and the shadow records' buckets are access-logged. Enable access logs here if inputs are sensitive."
)


def _wildcard_reason(finding: str, where: str) -> str:
    for pattern, reason in PRECOMPUTE_WILDCARDS:
        if re.fullmatch(pattern, finding):
            return reason
    raise ValueError(f"unexpected wildcard in the precompute construct: {finding}; review it first")


class Precompute(Construct):
    """Work bucket, predictions table, plan/score/switch/lookup functions, the state machine."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: RuntimeConfig,
        precompute: PrecomputeConfig,
        lookup_timeout_seconds: int,
        control_code: lambda_.Code,
        score_code: lambda_.Code,
        lookup_code: lambda_.Code,
        model_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.runtime_config = runtime
        self.precompute_config = precompute
        self.lookup_timeout_seconds = lookup_timeout_seconds
        self.model_bucket = model_bucket
        # Predictions can be recomputed from the model and the input; the table is still kept when
        # the stack is deleted, so a mistaken delete never takes a serving path down with it.
        self.table = keyed_table(
            self,
            "Table",
            partition_key=PARTITION_KEY,
            sort_key=SORT_KEY,
            ttl_attribute=TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
        )
        self.bucket = private_bucket(
            self,
            "WorkBucket",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireRunFiles",
                    prefix=RUNS_PREFIX,
                    expiration=RUN_FILES_EXPIRATION,
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
        )
        self.plan_function = self._function(
            "Plan",
            code=control_code,
            handler=PLAN_HANDLER,
            description="Precompute: validate the input against the model, write chunk tasks",
            environment={"MAX_ITEMS": str(self.precompute_config.max_items)},
        )
        self.score_function = self._function(
            "Score",
            code=score_code,
            handler=SCORE_HANDLER,
            description="Precompute: score one chunk with the registered model, write its items",
            environment={"PREDICTION_TTL_DAYS": str(self.precompute_config.prediction_ttl_days)},
            reserved_concurrency=self.precompute_config.reserved_concurrency or None,
        )
        self.switch_function = self._function(
            "Switch",
            code=control_code,
            handler=SWITCH_HANDLER,
            description="Precompute: after every chunk succeeded, switch the served version",
            environment={},
        )
        self.lookup_function = self._function(
            "Lookup",
            code=lookup_code,
            handler=LOOKUP_HANDLER,
            description="GET /predictions/{id}: the served version's precomputed prediction",
            environment={},
            memory_mb=256,
            timeout_seconds=self.lookup_timeout_seconds,
        )
        self._grant()
        self.state_machine = self._state_machine()
        # API Gateway of this account may invoke the lookup on GET /predictions/{id}. The serving
        # stack's API id cannot be named here (the serving stack imports this stack), so the source
        # ARN fixes account, method and path, and leaves the API id open.
        self.lookup_function.add_permission(
            "ApiGatewayInvoke",
            principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
            source_arn=cdk.Stack.of(self).format_arn(
                service="execute-api", resource="*", resource_name=f"*/GET/{PREDICTIONS_PATH}/*"
            ),
        )
        self._acknowledge_findings()

    def _acknowledge_findings(self) -> None:
        acknowledge_wildcards(self, _wildcard_reason)
        for function in (self.plan_function, self.score_function, self.switch_function, self.lookup_function):
            acknowledge(function, {"Serverless-LambdaDLQ": PRECOMPUTE_DLQ_REASON})
            acknowledge_pinned_runtime(
                function, self.runtime_config, "; the precompute functions run the same runtime as inference."
            )
        acknowledge(self.bucket, {"AwsSolutions-S1": PRECOMPUTE_LOG_BUCKET_REASON})
        self._checkov_skips()

    def _checkov_skips(self) -> None:
        concurrency = {
            self.plan_function: PRECOMPUTE_CONTROL_CONCURRENCY_REASON,
            self.switch_function: PRECOMPUTE_CONTROL_CONCURRENCY_REASON,
            self.lookup_function: PRECOMPUTE_LOOKUP_CONCURRENCY_REASON,
            self.score_function: None
            if self.precompute_config.reserved_concurrency
            else NO_RESERVATION_REASON,
        }
        for function, reason in concurrency.items():
            checkov_skip_function(
                function,
                invoked_by="by its state machine's task, or by API Gateway for the lookup",
                concurrency=reason,
            )
        checkov_skip(self.state_machine_logs, {"CKV_AWS_158": LOG_GROUP_KMS})
        checkov_skip(self.table, {"CKV_AWS_119": DYNAMODB_AWS_KEY})
        checkov_skip(
            self.bucket,
            {"CKV_AWS_18": PRECOMPUTE_LOG_BUCKET_REASON, "CKV_AWS_21": PRECOMPUTE_VERSIONING_REASON},
        )

    def _function(
        self,
        name: str,
        *,
        code: lambda_.Code,
        handler: str,
        description: str,
        environment: dict[str, str],
        memory_mb: int | None = None,
        timeout_seconds: int = 900,
        reserved_concurrency: int | None = None,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{name}Logs",
            retention=retention(self.runtime_config.log_retention_days),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        checkov_skip(log_group, {"CKV_AWS_158": LOG_GROUP_KMS})
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{description} (its logs, X-Ray and only the data it uses)",
        )
        log_group.grant_write(role)
        return lambda_.Function(
            self,
            f"{name}Function",
            description=description,
            runtime=RUNTIMES[self.runtime_config.python_version],
            architecture=ARCHITECTURES[self.runtime_config.architecture],
            handler=handler,
            code=code,
            memory_size=memory_mb or self.precompute_config.memory_mb,
            timeout=cdk.Duration.seconds(timeout_seconds),
            ephemeral_storage_size=cdk.Size.mebibytes(2048) if name == "Plan" else None,
            reserved_concurrent_executions=reserved_concurrency,
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                "PREDICTIONS_TABLE": self.table.table_name,
                "WORK_BUCKET": self.bucket.bucket_name,
                "MODEL_BUCKET": self.model_bucket.bucket_name,
                "POWERTOOLS_SERVICE_NAME": "precompute",
                "LOG_LEVEL": self.runtime_config.log_level,
                **environment,
            },
        )

    def _grant(self) -> None:
        table_arn = self.table.table_arn
        runs = self.bucket.arn_for_objects(f"{RUNS_PREFIX}*")

        def allow(function: lambda_.Function, actions: list[str], resources: list[str]) -> None:
            function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=resources))

        # Plan: read inputs and the model's metadata, write the run's files, read the pointer.
        allow(self.plan_function, ["s3:GetObject"], [self.bucket.arn_for_objects(f"{INPUTS_PREFIX}*"), runs])
        allow(self.plan_function, ["s3:PutObject"], [runs])
        allow(self.plan_function, ["s3:GetObject"], [self.model_bucket.arn_for_objects(f"{MODELS_PREFIX}*")])
        allow(self.plan_function, ["dynamodb:GetItem"], [table_arn])
        # Score: read the chunk and the model, write items and the chunk's done marker.
        allow(self.score_function, ["s3:GetObject", "s3:PutObject"], [runs])
        allow(self.score_function, ["s3:GetObject"], [self.model_bucket.arn_for_objects(f"{MODELS_PREFIX}*")])
        allow(self.score_function, ["dynamodb:BatchWriteItem"], [table_arn])
        # Switch: count done markers, move the pointer.
        allow(self.switch_function, ["s3:GetObject"], [runs])
        self.switch_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{RUNS_PREFIX}*"]}},
            )
        )
        allow(self.switch_function, ["dynamodb:GetItem", "dynamodb:PutItem"], [table_arn])
        # Lookup: reads only.
        allow(self.lookup_function, ["dynamodb:GetItem"], [table_arn])

    def _state_machine(self) -> sfn.StateMachine:
        failed = sfn.Fail(
            self,
            "Failed",
            comment="The served version is unchanged",
            error_path="$.error.Error",
            cause_path="$.error.Cause",
        )
        plan = tasks.LambdaInvoke(
            self,
            "Plan",
            lambda_function=self.plan_function,
            payload=sfn.TaskInput.from_object(
                {"run_id": sfn.JsonPath.execution_name, "request": sfn.JsonPath.entire_payload}
            ),
            payload_response_only=True,
            result_path="$.plan",
        )
        score = tasks.LambdaInvoke(
            self,
            "ScoreChunk",
            lambda_function=self.score_function,
            payload_response_only=True,
            retry_on_service_exceptions=True,
        )
        # Throttling while many chunks run at once (Lambda concurrency, DynamoDB partitions) is
        # retried with backoff; any other failure fails the chunk, the Map and so the run.
        score.add_retry(
            errors=[
                "Lambda.TooManyRequestsException",
                "ProvisionedThroughputExceededException",
                "ThrottlingException",
                "RequestLimitExceeded",
            ],
            interval=cdk.Duration.seconds(2),
            max_attempts=8,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        score_chunks = sfn.DistributedMap(
            self,
            "ScoreChunks",
            item_reader=sfn.S3JsonItemReader(
                bucket=self.bucket, key=sfn.JsonPath.string_at("$.plan.manifest_key")
            ),
            max_concurrency=self.precompute_config.max_concurrency,
            map_execution_type=sfn.StateMachineType.STANDARD,
            result_path=sfn.JsonPath.DISCARD,
            comment="One child workflow per chunk; any failed chunk fails the run before the switch",
        )
        score_chunks.item_processor(score)
        switch = tasks.LambdaInvoke(
            self,
            "Switch",
            lambda_function=self.switch_function,
            input_path="$.plan",
            payload_response_only=True,
            result_path="$.summary",
            output_path="$.summary",
        )
        for step in (plan, score_chunks, switch):
            step.add_catch(failed, result_path="$.error")
        self.state_machine_logs = logs.LogGroup(
            self,
            "StateMachineLogs",
            retention=retention(self.runtime_config.log_retention_days),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            comment="Precompute predictions: plan -> score chunks (distributed Map) -> switch version",
            definition_body=sfn.DefinitionBody.from_chainable(plan.next(score_chunks).next(switch)),
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.state_machine_logs, level=sfn.LogLevel.ALL),
            timeout=cdk.Duration.hours(12),
        )
        return machine


def add_predictions_route(service: InferenceService, lookup_function_arn: str) -> apigw.Method | None:
    """GET /predictions/{id} on the inference API: the same stage, auth, API keys, usage plan and
    throttling as POST /predict. The lookup function's permission is granted by its own stack.
    An HTTP API takes the route too (payload 1.0: the same event); a function URL has no routes."""
    if service.function_url is not None:
        return None
    if service.http_api is not None:
        lookup = lambda_.Function.from_function_attributes(
            service.http_api, "PredictionsLookup", function_arn=lookup_function_arn, skip_permissions=True
        )
        service.http_api.add_routes(lookup, [(f"/{PREDICTIONS_PATH}/{{id}}", "GET")], "Predictions")
        return None
    scope = service.api
    lookup = lambda_.Function.from_function_attributes(
        scope, "PredictionsLookup", function_arn=lookup_function_arn, skip_permissions=True
    )
    integration = apigw.LambdaIntegration(lookup, proxy=True, allow_test_invoke=False)
    resource = service.api.root.add_resource(PREDICTIONS_PATH)
    method = resource.add_resource("{id}").add_method(
        "GET",
        integration,
        request_validator=service.request_validator,
        request_parameters={"method.request.path.id": True},
        **service.method_options,
    )
    service.acknowledge_route(method, resource, ", as on POST /predict.")
    return method
