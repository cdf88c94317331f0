"""The retraining pipeline: a Step Functions workflow over one container-image function, its schedule,
its notifications and (optionally) an accuracy alarm that starts it early.

```
EventBridge schedule (config) ─┐
LiveAccuracy < threshold alarm ┴─> StateMachine (timeout) ─> SNS topic (success | rejected | failed)
  Prepare -> Train (Lambda image | SageMaker job + Collect) -> Evaluate -> Gate -> Releasable?
     yes: Register -> Release -> Released -> NotifySuccess -> Succeeded
     no:  NotifyRejected -> Rejected
  every task: Retry (Lambda service errors, TransientStepError, ReleaseBusyError; backoff)
              Catch (all) -> NotifyFailure -> Failed
```

Every step is the same function (`retrain/handler.py`), told which step to run by the
task's payload; the state machine keeps each step's small JSON result at its own path.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from common import layout
from infra.config.metrics import MetricsConfig
from infra.config.retrain import RetrainConfig
from infra.config.runtime import RuntimeConfig
from infra.constructs.model_store import MODELS_PREFIX
from infra.constructs.retention import retention
from infra.constructs.retraining_findings import acknowledge_findings
from infra.constructs.retraining_image import REPO_ROOT, SAGEMAKER_ENTRY, image_code, sagemaker_source_archive

# The names of the gate alarms release.gates creates: modelctl-<function>-<alias>-v<version>-<kind>.
GATE_ALARM_PREFIX = "modelctl-"

RUNS_PREFIX = layout.RETRAINING_PREFIX
FEEDBACK_PREFIXES = (layout.FEEDBACK_PREFIX, *layout.PREDICTION_LOG_PREFIXES)  # the join reads these
SHADOW_CONFIG_KEY = layout.SHADOW_CONFIG_KEY
SAGEMAKER_OUTPUT_PREFIX = layout.SAGEMAKER_OUTPUT_PREFIX
TRANSIENT_ERRORS = ["TransientStepError"]
LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
]
RELEASE_BUSY_ERRORS = ["ReleaseBusyError"]
LIVE_ACCURACY_METRIC = "LiveAccuracy"


class RetrainingPipeline(Construct):
    """The workflow, its function (or training job), topic, schedule and optional accuracy alarm."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: RuntimeConfig,
        metrics: MetricsConfig,
        retrain: RetrainConfig,
        model_bucket: s3.IBucket,
        feedback_bucket: s3.IBucket,
        shadow_config_uri: str,
        function_name: str,
        alias_name: str,
        release_table_name: str,
        fleet_alarm_names: list[str],
        code: lambda_.DockerImageCode | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.runtime_config = runtime
        self.metrics_config = metrics
        self.retrain_config = retrain
        self.model_bucket = model_bucket
        self.feedback_bucket = feedback_bucket
        stack = cdk.Stack.of(self)
        self.serving_function_arn = stack.format_arn(
            service="lambda",
            resource="function",
            resource_name=function_name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        self.serving_function_name = function_name
        self.serving_alias_name = alias_name
        self.release_table = dynamodb.Table.from_table_name(self, "ReleaseTable", release_table_name)
        self.topic = sns.Topic(
            self,
            "Notifications",
            display_name="Model retraining outcomes",
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
            enforce_ssl=True,
        )
        self.function = self._function(
            code or image_code(runtime),
            shadow_config_uri=shadow_config_uri,
            function_name=function_name,
            alias_name=alias_name,
            fleet_alarm_names=fleet_alarm_names,
        )
        self.role = self.function.role
        self._grant()
        self.training_role: iam.Role | None = None
        self.log_group = logs.LogGroup(
            self, "WorkflowLogs", retention=retention(self.runtime_config.log_retention_days)
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(self._definition()),
            timeout=cdk.Duration.minutes(self.retrain_config.workflow_timeout_minutes),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL),
            comment="Retraining: prepare, train, evaluate, gate, register, release, notify",
        )
        self.topic.grant_publish(self.state_machine)
        self.schedule = events.Rule(
            self,
            "Schedule",
            schedule=events.Schedule.expression(self.retrain_config.schedule),
            enabled=self.retrain_config.schedule_enabled,
            description="Starts the retraining workflow (serving.retrain_schedule)",
            targets=[
                targets.SfnStateMachine(
                    self.state_machine, input=events.RuleTargetInput.from_object({"trigger": "schedule"})
                )
            ],
        )
        self.accuracy_alarm: cw.Alarm | None = None
        self.accuracy_rule: events.Rule | None = None
        if self.retrain_config.accuracy_alarm_threshold > 0:
            self._accuracy_trigger()
        acknowledge_findings(self, function=self.function, rules=(self.schedule, self.accuracy_rule))

    # -- the function ------------------------------------------------------------------------------

    def _function(
        self,
        code: lambda_.DockerImageCode,
        *,
        shadow_config_uri: str,
        function_name: str,
        alias_name: str,
        fleet_alarm_names: list[str],
    ) -> lambda_.DockerImageFunction:
        environment = {
            "RETRAIN_MODEL_BUCKET": self.model_bucket.bucket_name,
            "RETRAIN_FEEDBACK_BUCKET": self.feedback_bucket.bucket_name,
            "RETRAIN_SHADOW_CONFIG_URI": shadow_config_uri,
            "RETRAIN_FLEET_ALARMS": ",".join(fleet_alarm_names),
            "MODELCTL_FUNCTION": function_name,
            "MODELCTL_ALIAS": alias_name,
            "MODELCTL_RELEASE_TABLE": self.release_table.table_name,
            "RETRAIN_BASE_DATA": self.retrain_config.base_data,
            "RETRAIN_TARGET_COLUMN": self.retrain_config.target_column,
            "RETRAIN_PIPELINE": self.retrain_config.pipeline,
            "RETRAIN_FEEDBACK_LOOKBACK_DAYS": str(self.retrain_config.feedback_lookback_days),
            "RETRAIN_MIN_FEEDBACK_ROWS": str(self.retrain_config.min_feedback_rows),
            "RETRAIN_GATE_METRIC": self.retrain_config.gate_metric,
            "RETRAIN_GATE_MARGIN": repr(self.retrain_config.gate_margin),
            "RETRAIN_MAX_CLASS_SHARE": repr(self.retrain_config.max_class_share),
            "RETRAIN_BUSINESS_METRIC": self.retrain_config.business_metric,
            "RETRAIN_RELEASE": self.retrain_config.release,
            "RETRAIN_SHADOW_SAMPLE_PERCENT": repr(self.retrain_config.shadow_sample_percent),
            "RETRAIN_CANARY_WEIGHT": repr(self.retrain_config.canary_weight),
            "RETRAIN_CANARY_BAKE_SECONDS": str(self.retrain_config.canary_bake_seconds),
            "RETRAIN_SHIFT_STEPS": self.retrain_config.shift_steps,
            "RETRAIN_SHIFT_BAKE_SECONDS": str(self.retrain_config.shift_bake_seconds),
            "POWERTOOLS_SERVICE_NAME": "retraining",
        }
        log_group = logs.LogGroup(
            self, "FunctionLogs", retention=retention(self.runtime_config.log_retention_days)
        )
        role = iam.Role(
            self,
            "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Retraining steps: run data, registry, feedback, release (lock, versions, alias)",
        )
        log_group.grant_write(role)
        return lambda_.DockerImageFunction(
            self,
            "Function",
            role=role,
            code=code,
            architecture=lambda_.Architecture.ARM_64
            if self.runtime_config.architecture == "arm64"
            else lambda_.Architecture.X86_64,
            memory_size=self.retrain_config.memory_mb,
            timeout=cdk.Duration.seconds(self.retrain_config.timeout_seconds),
            ephemeral_storage_size=cdk.Size.mebibytes(2048),
            environment=environment,
            tracing=lambda_.Tracing.ACTIVE,
            description="Retraining workflow steps (one image, the step named in the event)",
            log_group=log_group,
        )

    def _grant(self) -> None:
        function = self.function
        model, feedback = self.model_bucket, self.feedback_bucket
        statements = [
            # run staging + watermark, and the registry (register writes with If-None-Match only)
            (
                ["s3:GetObject", "s3:PutObject"],
                [model.arn_for_objects(f"{p}*") for p in (RUNS_PREFIX, MODELS_PREFIX)],
            ),
            # labelled feedback and prediction records (common.observe.label_join), the shadow configuration
            (["s3:GetObject"], [feedback.arn_for_objects(f"{p}*") for p in FEEDBACK_PREFIXES]),
            (["s3:GetObject", "s3:PutObject"], [feedback.arn_for_objects(SHADOW_CONFIG_KEY)]),
            # listing: a missing object is NoSuchKey (not AccessDenied), and the join lists prefixes
            (["s3:ListBucket"], [model.bucket_arn, feedback.bucket_arn]),
        ]
        for actions, resources in statements:
            function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=resources))
        self.release_table.grant_read_write_data(function)  # release lock and history
        versions = f"{self.serving_function_arn}:*"
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "lambda:GetAlias",
                    "lambda:GetFunction",
                    "lambda:GetFunctionConfiguration",
                    "lambda:ListVersionsByFunction",
                    "lambda:UpdateFunctionConfiguration",
                    "lambda:PublishVersion",
                    "lambda:UpdateAlias",
                    "lambda:InvokeFunction",
                ],
                resources=[self.serving_function_arn, versions],
            )
        )
        # Canary gates: release.gates names each alarm modelctl-<function>-<alias>-v<version>-<kind>, so
        # writes are scoped to that prefix; DescribeAlarms and GetMetricData are reads left on `*`.
        gate_alarms = cdk.Stack.of(self).format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=f"{GATE_ALARM_PREFIX}{self.serving_function_name}-{self.serving_alias_name}-v*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"], resources=[gate_alarms]
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData"], resources=["*"]
            )
        )

    # -- the workflow ------------------------------------------------------------------------------

    def _step(self, name: str, step: str, result_path: str, failure: sfn.IChainable) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            name,
            lambda_function=self.function,
            payload=sfn.TaskInput.from_object(
                {
                    "step": step,
                    "execution": sfn.JsonPath.execution_id,
                    "started_at": sfn.JsonPath.string_at("$$.Execution.StartTime"),
                    "state": sfn.JsonPath.entire_payload,
                }
            ),
            payload_response_only=True,
            retry_on_service_exceptions=False,  # our own rule below also covers TooManyRequests
            result_path=result_path,
            task_timeout=sfn.Timeout.duration(cdk.Duration.seconds(self.retrain_config.timeout_seconds + 60)),
        )
        task.add_retry(
            errors=LAMBDA_SERVICE_ERRORS, interval=cdk.Duration.seconds(2), max_attempts=6, backoff_rate=2
        )
        task.add_retry(
            errors=TRANSIENT_ERRORS, interval=cdk.Duration.seconds(5), max_attempts=3, backoff_rate=2
        )
        if step == "release":  # someone else's release holds the lock: wait for it
            task.add_retry(
                errors=RELEASE_BUSY_ERRORS,
                interval=cdk.Duration.seconds(30),
                max_attempts=5,
                backoff_rate=2,
                max_delay=cdk.Duration.minutes(5),
            )
        task.add_catch(failure, errors=[sfn.Errors.ALL], result_path="$.error")
        return task

    def _notify(
        self, name: str, outcome: str, subject: str, fields: dict[str, str], failed: sfn.IChainable
    ) -> tasks.SnsPublish:
        """Publish the outcome to the topic (a failed publish ends the execution in `failed`)."""
        message = {
            "outcome": outcome,
            "execution": sfn.JsonPath.execution_id,
            **{key: sfn.JsonPath.string_at(path) for key, path in fields.items()},
        }
        task = tasks.SnsPublish(
            self,
            name,
            topic=self.topic,
            subject=subject,
            message=sfn.TaskInput.from_object(message),
            message_attributes={"outcome": tasks.MessageAttribute(value=outcome)},
            result_path=sfn.JsonPath.DISCARD,
        )
        task.add_catch(failed, errors=[sfn.Errors.ALL], result_path="$.notify_error")
        return task

    def _outcome(self, name: str, outcome: str) -> sfn.Pass:
        """Set `$.outcome`, which the CLI reports."""
        return sfn.Pass(self, name, result=sfn.Result.from_string(outcome), result_path="$.outcome")

    def _definition(self) -> sfn.IChainable:
        failed = sfn.Fail(
            self, "Failed", error="RetrainingFailed", cause="a step failed: see the failure notification"
        )
        notify_failure = self._notify(
            "NotifyFailure",
            "failed",
            "Retraining failed",
            {"error": "$.error.Error", "cause": "$.error.Cause"},
            failed,
        )
        notify_failure.next(failed)

        prepare = self._step("Prepare", "prepare", "$.prepared", notify_failure)
        train = self._train(notify_failure)
        evaluate = self._step("Evaluate", "evaluate", "$.evaluation", notify_failure)
        gate = self._step("Gate", "gate", "$.gate", notify_failure)
        register = self._step("Register", "register", "$.registered", notify_failure)
        release = self._step("Release", "release", "$.released", notify_failure)
        # After a release: a clean place for more states (e.g. precompute predictions) before the
        # success notification; `released` marks the outcome the CLI reports.
        released = self._outcome("Released", "released")
        notify_success = self._notify(
            "NotifySuccess",
            "released",
            "Retraining released a new model",
            {"model_version": "$.registered.model_version", "summary": "$.released.summary"},
            failed,
        )
        rejected = self._outcome("Rejected", "rejected")
        notify_rejected = self._notify(
            "NotifyRejected",
            "rejected",
            "Retraining rejected the candidate",
            {"model_version": "$.candidate.model_version", "summary": "$.gate.summary"},
            failed,
        )
        releasable = (
            sfn.Choice(self, "Releasable?")
            .when(
                sfn.Condition.boolean_equals("$.gate.releasable", True),
                register.next(release)
                .next(released)
                .next(notify_success)
                .next(sfn.Succeed(self, "Succeeded")),
            )
            .otherwise(rejected.next(notify_rejected).next(sfn.Succeed(self, "CandidateRejected")))
        )
        return prepare.next(train).next(evaluate).next(gate).next(releasable)

    def _train(self, failure: sfn.IChainable) -> sfn.IChainable:
        if self.retrain_config.compute == "lambda":
            return self._step("Train", "train", "$.candidate", failure)
        job = self._training_job()
        job.add_retry(
            errors=["SageMaker.AmazonSageMakerException"],
            interval=cdk.Duration.seconds(30),
            max_attempts=3,
            backoff_rate=2,
        )
        job.add_catch(failure, errors=[sfn.Errors.ALL], result_path="$.error")
        collect = self._step("Collect", "collect", "$.candidate", failure)
        return job.next(collect)

    def _training_job(self) -> tasks.SageMakerCreateTrainingJob:
        """Train with the managed scikit-learn image: the same training code, no 15-minute limit."""
        archive = sagemaker_source_archive(REPO_ROOT / ".build" / "sagemaker")
        source = s3_assets.Asset(self, "TrainingSource", path=str(archive))
        role = iam.Role(
            self,
            "TrainingRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker training job of the retraining workflow",
        )
        self.model_bucket.grant_read(role, f"{RUNS_PREFIX}*")
        self.model_bucket.grant_put(role, f"{SAGEMAKER_OUTPUT_PREFIX}*")
        self.model_bucket.grant_read(self.function, f"{SAGEMAKER_OUTPUT_PREFIX}*")
        source.grant_read(role)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    cdk.Stack.of(self).format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="/aws/sagemaker/TrainingJobs:*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        role.add_to_policy(iam.PolicyStatement(actions=["cloudwatch:PutMetricData"], resources=["*"]))
        self.training_role = role
        instance = self.retrain_config.sagemaker_instance_type.removeprefix("ml.")
        return tasks.SageMakerCreateTrainingJob(
            self,
            "TrainOnSageMaker",
            training_job_name=sfn.JsonPath.format("retrain-{}", sfn.JsonPath.string_at("$.prepared.run_id")),
            role=role,
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_registry(self.retrain_config.sagemaker_image_uri),
                training_input_mode=tasks.InputMode.FILE,
            ),
            hyperparameters={
                "sagemaker_program": SAGEMAKER_ENTRY,
                "sagemaker_submit_directory": source.s3_object_url,
                "pipeline": self.retrain_config.pipeline,
                "parent-version": sfn.JsonPath.string_at("$.prepared.production.model_version"),
            },
            input_data_config=[
                tasks.Channel(
                    channel_name="train",
                    data_source=tasks.DataSource(
                        s3_data_source=tasks.S3DataSource(
                            s3_location=tasks.S3Location.from_json_expression("$.prepared.train_uri"),
                            s3_data_type=tasks.S3DataType.S3_PREFIX,
                        )
                    ),
                )
            ],
            output_data_config=tasks.OutputDataConfig(
                s3_output_location=tasks.S3Location.from_bucket(self.model_bucket, SAGEMAKER_OUTPUT_PREFIX)
            ),
            resource_config=tasks.ResourceConfig(
                instance_count=1,
                instance_type=ec2.InstanceType(instance),
                volume_size=cdk.Size.gibibytes(30),
            ),
            stopping_condition=tasks.StoppingCondition(
                max_runtime=cdk.Duration.minutes(max(5, self.retrain_config.workflow_timeout_minutes - 15))
            ),
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            result_path="$.training_job",
        )

    # -- early start on falling accuracy ----------------------------------------------------------

    def _accuracy_trigger(self) -> None:
        """An alarm on the monitoring helper's LiveAccuracy metric; its ALARM state starts a run."""
        metric = cw.Metric(
            namespace=self.metrics_config.metrics_namespace,
            metric_name=LIVE_ACCURACY_METRIC,
            dimensions_map={"service": self.metrics_config.service_name},
            statistic=cw.Stats.MINIMUM,
            period=cdk.Duration.seconds(self.retrain_config.accuracy_alarm_period_seconds),
        )
        self.accuracy_alarm = cw.Alarm(
            self,
            "LiveAccuracyAlarm",
            metric=metric,
            threshold=self.retrain_config.accuracy_alarm_threshold,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description="Live accuracy over the last window fell below "
            "serving.retrain_accuracy_alarm_threshold: retraining starts early",
        )
        self.accuracy_rule = events.Rule(
            self,
            "AccuracyAlarmRule",
            description="Starts the retraining workflow when the live accuracy alarm goes to ALARM",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[self.accuracy_alarm.alarm_arn],
                detail={"state": {"value": ["ALARM"]}},
            ),
            targets=[
                targets.SfnStateMachine(
                    self.state_machine,
                    input=events.RuleTargetInput.from_object({"trigger": "accuracy_alarm"}),
                )
            ],
        )
