"""Deployable units: the stateful model store, and the stateless serving stack that uses it.

Stacks only compose constructs and declare outputs; each construct acknowledges its own cdk-nag
findings. The model store is kept in its own stack so the serving stack can be replaced or destroyed freely.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.bundling import BundleTarget
from infra.config import ServingConfig
from infra.constructs import (
    InferenceService,
    ModelStore,
    ReleaseState,
    bundled_function_code,
    model_key_prefix,
)
from infra.constructs.feedback import FEEDBACK_FUNCTION, FeedbackApi
from infra.constructs.inference_service import ALIAS_NAME
from infra.constructs.monitor import MONITOR_FUNCTION, LiveMonitor
from infra.constructs.precompute import (
    CONTROL_FUNCTION,
    LOOKUP_FUNCTION,
    SCORE_FUNCTION,
    Precompute,
    add_predictions_route,
)
from infra.constructs.query import LogQueries
from infra.constructs.recorder import shadow_stack_recorder
from infra.constructs.release_controller import ReleaseController, controller_code
from infra.constructs.retraining import RetrainingPipeline
from infra.constructs.shadow import CONFIG_KEY, SHADOW_FUNCTION, ShadowLogging, connect_inference_function
from infra.constructs.snapstart import apply_snapstart
from infra.constructs.sticky_routing import connect_sticky_routing
from infra.nag import LOG_GROUP_KMS, checkov_skip, checkov_skip_function

INFERENCE_FUNCTION = "inference"
SHADOW_EXPORTS = ("QueueArn", "QueueUrl", "LogBucketName", "RecorderFunctionArn")
# Serving stack outputs the retraining workflow needs (exported under <stack>-<name>).
RETRAINING_IMPORTS = (
    "FunctionName",
    "AliasName",
    "ReleaseTableName",
    "ErrorsAlarmName",
    "ErrorRateAlarmName",
    "P99DurationAlarmName",
)


class ModelStoreStack(cdk.Stack):
    """Stateful: the model bucket (retained) and the upload of the configured artifact."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ServingConfig,
        env: cdk.Environment | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env,
            description="Model store: immutable model artifacts under models/<version>/ (stateful, retained)",
        )
        self.model_store = ModelStore(
            self,
            "ModelStore",
            artifact_dir=config.inference.model_artifact_dir,
            model_version=config.inference.model_version,
            access_log_expiration_days=config.runtime.log_retention_days,
            log_retention_days=config.runtime.log_retention_days,
        )
        # An explicit, documented export: the serving stack imports the bucket by this name, so the
        # contract between the stacks is one stable string (and cdk-nag findings are deterministic).
        self.model_bucket_export_name = f"{self.stack_name}-ModelBucketName"
        cdk.CfnOutput(
            self,
            "ModelBucketName",
            value=self.model_store.bucket.bucket_name,
            description="Bucket of model artifacts",
            export_name=self.model_bucket_export_name,
        )
        cdk.CfnOutput(
            self,
            "ModelUri",
            value=self.model_store.model_uri,
            description="Artifact uploaded by this deployment",
        )

    def imported_bucket(self, consumer: cdk.Stack) -> s3.IBucket:
        """The model bucket as `consumer` sees it: through this stack's export, construct id
        "ModelBucket"."""
        return s3.Bucket.from_bucket_name(
            consumer, "ModelBucket", cdk.Fn.import_value(self.model_bucket_export_name)
        )


def _bundle_target(config: ServingConfig) -> BundleTarget:
    """The Lambda platform the stacks' function bundles are built for."""
    runtime = config.runtime
    return BundleTarget(architecture=runtime.architecture, python_version=runtime.python_version)


class ShadowStack(cdk.Stack):
    """Shadow deployment: the mirror queue (+ DLQ and its alarm), the shadow function scoring mirrored
    requests with the candidate model, and the bucket of records (retained). Deployed before the
    serving stack, whose inference function sends to the queue (docs/shadow.md)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ServingConfig,
        model_store: ModelStoreStack,
        code: lambda_.Code | None = None,
        monitor_code: lambda_.Code | None = None,
        env: cdk.Environment | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env,
            description="Shadow deployment: mirror queue -> shadow function (candidate model) -> S3 records",
        )
        target = _bundle_target(config)
        if code is None:
            code = bundled_function_code(SHADOW_FUNCTION, target=target)
        self.add_stack_dependency(model_store, "the shadow function reads candidates from the model store")
        model_bucket = model_store.imported_bucket(self)
        self.shadow = ShadowLogging(
            self,
            "Shadow",
            runtime=config.runtime,
            metrics=config.metrics,
            shadow=config.shadow,
            prediction_log=config.prediction_log,
            code=code,
            model_bucket=model_bucket,
        )
        # Live accuracy and drift of the prediction log, on a schedule (docs/monitoring.md).
        self.monitor = LiveMonitor(
            self,
            "Monitor",
            runtime=config.runtime,
            metrics=config.metrics,
            monitor=config.monitor,
            code=monitor_code or bundled_function_code(MONITOR_FUNCTION, target=target),
            log_bucket=self.shadow.log_bucket,
            model_bucket=model_bucket,
        )
        self.recorder = shadow_stack_recorder(self, config, target, self.shadow)  # docs/prediction-log.md
        # Athena over the log bucket: the reports' large windows (docs/queries.md).
        self.queries = LogQueries(
            self,
            "Queries",
            log_bucket=self.shadow.log_bucket,
            bytes_scanned_cutoff=config.prediction_log.query_scan_cutoff_gb * 1024**3,
        )
        # Explicit exports, as for the model bucket: the serving stack imports these stable names.
        self.export_names = {name: f"{self.stack_name}-{name}" for name in SHADOW_EXPORTS}
        shadow = self.shadow
        outputs = {
            "QueueUrl": (shadow.queue.queue_url, "Queue the inference function mirrors requests to"),
            "QueueArn": (shadow.queue.queue_arn, "ARN of the shadow queue"),
            "DeadLetterQueueUrl": (shadow.dead_letter_queue.queue_url, "Mirrored messages that failed"),
            "LogBucketName": (shadow.log_bucket.bucket_name, "Shadow records and the active configuration"),
            "ConfigUri": (shadow.config_uri, "The active shadow configuration (modelctl shadow start/stop)"),
            "FunctionName": (shadow.function.function_name, "Shadow function (candidate model)"),
            "DeadLetterAlarmName": (shadow.dead_letter_alarm.alarm_name, "Messages in the shadow DLQ"),
            "MonitorFunctionName": (self.monitor.function.function_name, "Live accuracy and drift metrics"),
            **self.recorder.outputs(),
            **self.queries.outputs(),
        }
        for name, (value, description) in outputs.items():
            cdk.CfnOutput(
                self, name, value=value, description=description, export_name=self.export_names.get(name)
            )


class PrecomputeStack(cdk.Stack):
    """Precomputed predictions: the batch job (Step Functions, distributed Map) scoring a data set or a
    grid into the predictions table, and the lookup function the serving API routes
    GET /predictions/{id} to. Deployed before the serving stack (docs/precompute.md)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ServingConfig,
        model_store: ModelStoreStack,
        env: cdk.Environment | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env,
            description="Precomputed predictions: batch scoring into DynamoDB, served by key",
        )
        target = _bundle_target(config)
        self.add_stack_dependency(model_store, "the scoring workers read models from the model store")
        model_bucket = model_store.imported_bucket(self)
        self.precompute = Precompute(
            self,
            "Precompute",
            runtime=config.runtime,
            precompute=config.precompute,
            lookup_timeout_seconds=config.inference.timeout_seconds,
            control_code=bundled_function_code(CONTROL_FUNCTION, target=target),
            score_code=bundled_function_code(SCORE_FUNCTION, target=target),
            lookup_code=bundled_function_code(LOOKUP_FUNCTION, target=target),
            model_bucket=model_bucket,
        )
        self.lookup_export_name = f"{self.stack_name}-LookupFunctionArn"
        precompute = self.precompute
        outputs = {
            "StateMachineArn": (precompute.state_machine.state_machine_arn, "modelctl precompute starts it"),
            "PredictionsTableName": (precompute.table.table_name, "Predictions and the served version"),
            "WorkBucketName": (precompute.bucket.bucket_name, "Inputs (inputs/) and run files (runs/)"),
            "LookupFunctionArn": (precompute.lookup_function.function_arn, "GET /predictions/{id}"),
            "MaxItems": (str(config.precompute.max_items), "Most rows (grid combinations) per run"),
        }
        for name, (value, description) in outputs.items():
            cdk.CfnOutput(
                self,
                name,
                value=value,
                description=description,
                export_name=self.lookup_export_name if name == "LookupFunctionArn" else None,
            )


class ServingStack(cdk.Stack):
    """Stateless: the inference function, its `live` alias, the REST API and the alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ServingConfig,
        model_store: ModelStoreStack,
        code: lambda_.Code | None = None,
        shadow: ShadowStack | None = None,
        precompute: PrecomputeStack | None = None,
        feedback_code: lambda_.Code | None = None,
        env: cdk.Environment | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env,
            description="Model serving: REST API -> Lambda alias live -> ONNX inference function",
        )
        self.config = config
        target = _bundle_target(config)
        if code is None:
            code = bundled_function_code(INFERENCE_FUNCTION, target=target)
        self.add_stack_dependency(model_store, "the model artifact is uploaded before a version can load it")
        model_bucket = model_store.imported_bucket(self)
        self.service = InferenceService(
            self,
            "Inference",
            project=config.project,
            runtime=config.runtime,
            inference=config.inference,
            api=config.api,
            metrics=config.metrics,
            alarms=config.alarms,
            code=code,
            model_bucket=model_bucket,
            model_uri=f"s3://{model_bucket.bucket_name}/{model_key_prefix(config.inference.model_version)}",
            cors_extra_headers=(config.routing.routing_key_header,) if config.routing.enabled else (),
        )
        apply_snapstart(self.service.function, enabled=config.inference.snapstart)
        connect_sticky_routing(
            self.service, function=self.service.function, alias_name=ALIAS_NAME, routing=config.routing
        )
        self.feedback: FeedbackApi | None = None
        if shadow is not None:  # every answered request recorded (docs/prediction-log.md)
            self.add_stack_dependency(shadow, "the inference function's log lines go to the recorder")
            connect_inference_function(
                self.service.function,
                log_group=self.service.function_log_group,
                recorder_arn=cdk.Fn.import_value(shadow.export_names["RecorderFunctionArn"]),
                log_bucket_name=cdk.Fn.import_value(shadow.export_names["LogBucketName"]),
                config_ttl_seconds=config.shadow.config_ttl_seconds,
                prediction_log_sample_percent=config.prediction_log.sample_percent,
            )
            # Ground truth for the logged predictions: POST /feedback (docs/monitoring.md).
            self.feedback = FeedbackApi(
                self,
                "Feedback",
                runtime=config.runtime,
                api=config.api,
                metrics=config.metrics,
                code=feedback_code or bundled_function_code(FEEDBACK_FUNCTION, target=target),
                service=self.service,
                model_bucket=model_bucket,
                model_uri=f"s3://{model_bucket.bucket_name}/{model_key_prefix(config.inference.model_version)}",
                log_bucket_name=cdk.Fn.import_value(shadow.export_names["LogBucketName"]),
            )
        if precompute is not None:  # GET /predictions/{id} answers from the predictions table
            self.add_stack_dependency(precompute, "GET /predictions/{id} invokes its lookup function")
            self.predictions_method = add_predictions_route(
                self.service, cdk.Fn.import_value(precompute.lookup_export_name)
            )
        # modelctl's release history, release in progress and lock (retained; docs/releases.md).
        self.release_state = ReleaseState(self, "ReleaseState")
        outputs = {
            "ApiUrl": (self.service.url, "Base URL of the API: POST <url>predict, GET <url>health, <url>v2/"),
            "FunctionName": (self.service.function.function_name, "Inference function"),
            "AliasName": (self.service.alias.alias_name, "Alias API Gateway invokes"),
            "AliasArn": (self.service.alias.function_arn, "ARN of the live alias"),
            "ModelBucketName": (model_bucket.bucket_name, "Bucket of model artifacts"),
            "ModelVersion": (config.inference.model_version, "Model the deployed function version serves"),
            "ErrorsAlarmName": (self.service.errors_alarm.alarm_name, "Errors on the live alias"),
            "ErrorRateAlarmName": (self.service.error_rate_alarm.alarm_name, "Error rate on the live alias"),
            "P99DurationAlarmName": (
                self.service.duration_alarm.alarm_name,
                "p99 duration on the live alias",
            ),
        }
        outputs["ReleaseTableName"] = (
            self.release_state.table.table_name,
            "modelctl's release history, release in progress and lock",
        )
        if self.feedback is not None:
            outputs["FeedbackFunctionName"] = (self.feedback.function.function_name, "POST /feedback")
            if self.feedback.url is not None:  # serving.api_type=function_url
                outputs["FeedbackUrl"] = (self.feedback.url, "POST here: the feedback function's URL")
        if self.service.api_key is not None:
            outputs["ApiKeyId"] = (
                self.service.api_key.key_id,
                "aws apigateway get-api-key --include-value --api-key <id> gives the key",
            )
        # Explicit exports (as for the model bucket): the retraining stack imports these names.
        self.export_names = {name: f"{self.stack_name}-{name}" for name in RETRAINING_IMPORTS}
        for name, (value, description) in outputs.items():
            cdk.CfnOutput(
                self, name, value=value, description=description, export_name=self.export_names.get(name)
            )


class RetrainingStack(cdk.Stack):
    """Scheduled retraining: the Step Functions workflow over the training image, its schedule,
    notifications and optional accuracy alarm (docs/retraining.md). Deployed after the other three,
    whose bucket, table, function and alarms it names."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ServingConfig,
        model_store: ModelStoreStack,
        shadow: ShadowStack,
        serving: ServingStack,
        release: ReleaseControllerStack | None = None,
        code: lambda_.DockerImageCode | None = None,
        env: cdk.Environment | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env,
            description="Retraining workflow: prepare, train, evaluate, gate, register, release, notify",
        )
        for stack in (model_store, shadow, serving):
            self.add_stack_dependency(stack, "the workflow reads and releases into the serving stacks")
        controller_arn = None
        if config.retrain.release == "shift":  # a multi-step release runs in the release controller
            if release is None:
                raise ValueError("retrain_release 'shift' needs the release controller stack")
            self.add_stack_dependency(release, "the workflow's release step starts the release controller")
            controller_arn = cdk.Fn.import_value(release.controller_export_name)
        model_bucket = model_store.imported_bucket(self)
        log_bucket_name = cdk.Fn.import_value(shadow.export_names["LogBucketName"])
        feedback_bucket = s3.Bucket.from_bucket_name(self, "FeedbackBucket", log_bucket_name)
        imported = {name: cdk.Fn.import_value(export) for name, export in serving.export_names.items()}
        self.pipeline = RetrainingPipeline(
            self,
            "Retraining",
            runtime=config.runtime,
            metrics=config.metrics,
            retrain=config.retrain,
            model_bucket=model_bucket,
            feedback_bucket=feedback_bucket,
            shadow_config_uri=f"s3://{log_bucket_name}/{CONFIG_KEY}",
            function_name=imported["FunctionName"],
            alias_name=imported["AliasName"],
            release_table_name=imported["ReleaseTableName"],
            fleet_alarm_names=[
                imported[name] for name in ("ErrorsAlarmName", "ErrorRateAlarmName", "P99DurationAlarmName")
            ],
            code=code,
        )
        pipeline = self.pipeline
        if controller_arn is not None:  # `shift`: the release step starts the release controller, only it
            pipeline.function.add_environment("MODELCTL_RELEASE_CONTROLLER", controller_arn)
            pipeline.function.add_to_role_policy(
                iam.PolicyStatement(actions=["states:StartExecution"], resources=[controller_arn])
            )
        outputs = {
            "StateMachineArn": (pipeline.state_machine.state_machine_arn, "modelctl retrain starts this"),
            "NotificationTopicArn": (pipeline.topic.topic_arn, "Success, rejection and failure messages"),
            "FunctionName": (pipeline.function.function_name, "The workflow's steps (container image)"),
            "ScheduleRuleName": (pipeline.schedule.rule_name, "serving.retrain_schedule"),
            "ModelBucketName": (model_bucket.bucket_name, "The registry: models/<version>/"),
        }
        if pipeline.accuracy_alarm is not None:
            outputs["AccuracyAlarmName"] = (pipeline.accuracy_alarm.alarm_name, "Starts a run early")
        for name, (value, description) in outputs.items():
            cdk.CfnOutput(self, name, value=value, description=description)


class ReleaseControllerStack(cdk.Stack):
    """The release controller: releases run in Step Functions, not in the operator's terminal
    (docs/releases.md). Deployed after the serving stack, whose function, alias, table and alarms
    it names; `modelctl canary|shift|bluegreen` read its ReleaseControllerArn output."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ServingConfig,
        model_store: ModelStoreStack,
        serving: ServingStack,
        code: lambda_.DockerImageCode | None = None,
        env: cdk.Environment | None = None,
        shadow: ShadowStack | None = None,
    ) -> None:
        super().__init__(
            scope, construct_id, env=env, description="Release controller: canary, shift, blue/green"
        )
        for stack in (model_store, serving):
            self.add_stack_dependency(stack, "the controller releases into the serving stack")
        model_bucket = model_store.imported_bucket(self)
        imported = {name: cdk.Fn.import_value(export) for name, export in serving.export_names.items()}
        self.controller = ReleaseController(
            self,
            "ReleaseController",
            runtime=config.runtime,
            code=code or controller_code(config.runtime),
            model_bucket=model_bucket,
            function_name=imported["FunctionName"],
            alias_name=imported["AliasName"],
            release_table_name=imported["ReleaseTableName"],
            fleet_alarm_names=[
                imported[name] for name in ("ErrorsAlarmName", "ErrorRateAlarmName", "P99DurationAlarmName")
            ],
            log_bucket_name=cdk.Fn.import_value(shadow.export_names["LogBucketName"]) if shadow else None,
        )
        _checkov_skips_of_the_controller(self.controller)
        self.controller_export_name = f"{self.stack_name}-ReleaseControllerArn"
        cdk.CfnOutput(
            self,
            "ReleaseControllerArn",
            value=self.controller.state_machine.state_machine_arn,
            description="modelctl canary|shift|bluegreen (and retraining's shift) start this state machine",
            export_name=self.controller_export_name,
        )
        cdk.CfnOutput(
            self,
            "CleanupFailedAlarmName",
            value=self.controller.cleanup_failed_alarm.alarm_name,
            description="In ALARM when the cleanup of an ended release execution failed",
        )


CONTROLLER_DLQ_REASON = (
    "Its one asynchronous invocation (the EndedExecutions rule's cleanup) has an on-failure destination, "
    "the CleanupDeadLetters queue with an alarm, which keeps the request and the error (a DLQ keeps less)."
)
CONTROLLER_CONCURRENCY_REASON = (
    "Runs only for a release in progress (one per alias, under the release lock): a reservation would "
    "withhold account concurrency all the time for a few executions."
)


def _checkov_skips_of_the_controller(controller: ReleaseController) -> None:
    checkov_skip_function(controller.function, concurrency=CONTROLLER_CONCURRENCY_REASON)
    checkov_skip(controller.function, {"CKV_AWS_116": CONTROLLER_DLQ_REASON})
    for child in controller.node.find_all():
        if isinstance(child, logs.CfnLogGroup):
            checkov_skip(child, {"CKV_AWS_158": LOG_GROUP_KMS})
