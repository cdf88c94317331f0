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

import hashlib
import io
import tarfile
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
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

from infra.config import ServingConfig
from infra.constructs.model_store import MODELS_PREFIX
from infra.constructs.retention import retention

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "functions/retraining/Dockerfile"
HANDLER = "retrain.handler.handler"
RUNS_PREFIX = "retraining/"
FEEDBACK_PREFIXES = ("feedback/", "records/", "predictions/")  # what monitoring.join reads
SHADOW_CONFIG_KEY = "control/shadow.json"  # infra.constructs.shadow.CONFIG_KEY
SAGEMAKER_OUTPUT_PREFIX = "retraining/sagemaker-output/"
# The image's build context is the repository, narrowed to what its Dockerfile copies (docker
# ignore rules: last match wins). `cdk synth` stages exactly these files; it never runs Docker.
IMAGE_SOURCES = ("training", "retrain", "release", "monitoring", "functions/common")
IMAGE_CONTEXT = (*IMAGE_SOURCES, "functions/retraining")  # and the Dockerfile with its requirements
IMAGE_EXCLUDE = ["*", *(f"!{path}" for path in IMAGE_CONTEXT), "**/__pycache__", "**/*.pyc"]
# Source packages of the SageMaker training job's entry script (sagemaker_submit_directory).
SAGEMAKER_SOURCES = {"training": "training", "retrain": "retrain", "common": "functions/common"}
SAGEMAKER_REQUIREMENTS = "skl2onnx==1.20.0\nonnx==1.23.2\nonnxruntime==1.31.1\n"
SAGEMAKER_ENTRY = "train_entry.py"
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


def image_code(config: ServingConfig) -> lambda_.DockerImageCode:
    """The training image, staged at synth (no Docker), built and pushed by `cdk deploy`."""
    return lambda_.DockerImageCode.from_image_asset(
        str(REPO_ROOT),
        file=DOCKERFILE,
        exclude=IMAGE_EXCLUDE,
        ignore_mode=cdk.IgnoreMode.DOCKER,
        build_args={"PYTHON_VERSION": config.python_version},
        platform=ecr_assets.Platform.LINUX_ARM64
        if config.architecture == "arm64"
        else ecr_assets.Platform.LINUX_AMD64,
        cmd=[HANDLER],
    )


def sagemaker_source_archive(output_dir: Path) -> Path:
    """A deterministic `sourcedir.tar.gz` of the entry script and the training code (no Docker)."""
    members: dict[str, bytes] = {
        SAGEMAKER_ENTRY: b"from retrain.sagemaker import main\n\nif __name__ == '__main__':\n    main()\n",
        "requirements.txt": SAGEMAKER_REQUIREMENTS.encode(),
    }
    for name, relative in SAGEMAKER_SOURCES.items():
        root = REPO_ROOT / relative
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" not in path.parts:
                members[f"{name}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    digest = hashlib.sha256()
    for key in sorted(members):
        digest.update(key.encode() + b"\0" + members[key] + b"\0")
    target = output_dir / f"sourcedir-{digest.hexdigest()[:16]}.tar.gz"
    if not target.is_file():
        output_dir.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
            for key in sorted(members):
                info = tarfile.TarInfo(key)
                info.size, info.mtime, info.mode = len(members[key]), 0, 0o644
                archive.addfile(info, io.BytesIO(members[key]))
        target.write_bytes(buffer.getvalue())
    return target


class RetrainingPipeline(Construct):
    """The workflow, its function (or training job), topic, schedule and optional accuracy alarm."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ServingConfig,
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
        self.config = config
        self.model_bucket = model_bucket
        self.feedback_bucket = feedback_bucket
        stack = cdk.Stack.of(self)
        self.serving_function_arn = stack.format_arn(
            service="lambda",
            resource="function",
            resource_name=function_name,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        self.release_table = dynamodb.Table.from_table_name(self, "ReleaseTable", release_table_name)
        self.topic = sns.Topic(
            self,
            "Notifications",
            display_name="Model retraining outcomes",
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
            enforce_ssl=True,
        )
        self.function = self._function(
            code or image_code(config),
            shadow_config_uri=shadow_config_uri,
            function_name=function_name,
            alias_name=alias_name,
            fleet_alarm_names=fleet_alarm_names,
        )
        self.role = self.function.role
        self._grant()
        self.training_role: iam.Role | None = None
        self.log_group = logs.LogGroup(self, "WorkflowLogs", retention=retention(config.log_retention_days))
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(self._definition()),
            timeout=cdk.Duration.minutes(config.retrain_workflow_timeout_minutes),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL),
            comment="Retraining: prepare, train, evaluate, gate, register, release, notify",
        )
        self.topic.grant_publish(self.state_machine)
        self.schedule = events.Rule(
            self,
            "Schedule",
            schedule=events.Schedule.expression(config.retrain_schedule),
            enabled=config.retrain_schedule_enabled,
            description="Starts the retraining workflow (serving.retrain_schedule)",
            targets=[
                targets.SfnStateMachine(
                    self.state_machine, input=events.RuleTargetInput.from_object({"trigger": "schedule"})
                )
            ],
        )
        self.accuracy_alarm: cw.Alarm | None = None
        self.accuracy_rule: events.Rule | None = None
        if config.retrain_accuracy_alarm_threshold > 0:
            self._accuracy_trigger()

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
        config = self.config
        environment = {
            "RETRAIN_MODEL_BUCKET": self.model_bucket.bucket_name,
            "RETRAIN_FEEDBACK_BUCKET": self.feedback_bucket.bucket_name,
            "RETRAIN_SHADOW_CONFIG_URI": shadow_config_uri,
            "RETRAIN_FLEET_ALARMS": ",".join(fleet_alarm_names),
            "MODELCTL_FUNCTION": function_name,
            "MODELCTL_ALIAS": alias_name,
            "MODELCTL_RELEASE_TABLE": self.release_table.table_name,
            "RETRAIN_BASE_DATA": config.retrain_base_data,
            "RETRAIN_TARGET_COLUMN": config.retrain_target_column,
            "RETRAIN_PIPELINE": config.retrain_pipeline,
            "RETRAIN_FEEDBACK_LOOKBACK_DAYS": str(config.retrain_feedback_lookback_days),
            "RETRAIN_MIN_FEEDBACK_ROWS": str(config.retrain_min_feedback_rows),
            "RETRAIN_GATE_METRIC": config.retrain_gate_metric,
            "RETRAIN_GATE_MARGIN": repr(config.retrain_gate_margin),
            "RETRAIN_MAX_CLASS_SHARE": repr(config.retrain_max_class_share),
            "RETRAIN_RELEASE": config.retrain_release,
            "RETRAIN_SHADOW_SAMPLE_PERCENT": repr(config.retrain_shadow_sample_percent),
            "RETRAIN_CANARY_WEIGHT": repr(config.retrain_canary_weight),
            "RETRAIN_CANARY_BAKE_SECONDS": str(config.retrain_canary_bake_seconds),
            "POWERTOOLS_SERVICE_NAME": "retraining",
        }
        log_group = logs.LogGroup(self, "FunctionLogs", retention=retention(config.log_retention_days))
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
            if config.architecture == "arm64"
            else lambda_.Architecture.X86_64,
            memory_size=config.retrain_memory_mb,
            timeout=cdk.Duration.seconds(config.retrain_timeout_seconds),
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
            # labelled feedback and prediction records (monitoring.join), the shadow configuration
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
        function.add_to_role_policy(  # canary gates: per-version alarms created and read by modelctl
            iam.PolicyStatement(
                actions=[
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:GetMetricData",
                ],
                resources=["*"],
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
            task_timeout=sfn.Timeout.duration(cdk.Duration.seconds(self.config.retrain_timeout_seconds + 60)),
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

    def _notify(self, name: str, outcome: str, subject: str, fields: dict[str, str]) -> tasks.SnsPublish:
        message = {
            "outcome": outcome,
            "execution": sfn.JsonPath.execution_id,
            **{key: sfn.JsonPath.string_at(path) for key, path in fields.items()},
        }
        return tasks.SnsPublish(
            self,
            name,
            topic=self.topic,
            subject=subject,
            message=sfn.TaskInput.from_object(message),
            message_attributes={"outcome": tasks.MessageAttribute(value=outcome)},
            result_path=sfn.JsonPath.DISCARD,
        )

    def _definition(self) -> sfn.IChainable:
        failed = sfn.Fail(
            self, "Failed", error="RetrainingFailed", cause="a step failed: see the failure notification"
        )
        notify_failure = self._notify(
            "NotifyFailure",
            "failed",
            "Retraining failed",
            {"error": "$.error.Error", "cause": "$.error.Cause"},
        )
        notify_failure.add_catch(failed, errors=[sfn.Errors.ALL], result_path="$.notify_error")
        notify_failure.next(failed)

        prepare = self._step("Prepare", "prepare", "$.prepared", notify_failure)
        train = self._train(notify_failure)
        evaluate = self._step("Evaluate", "evaluate", "$.evaluation", notify_failure)
        gate = self._step("Gate", "gate", "$.gate", notify_failure)
        register = self._step("Register", "register", "$.registered", notify_failure)
        release = self._step("Release", "release", "$.released", notify_failure)
        # After a release: a clean place for more states (e.g. precompute predictions) before the
        # success notification; `released` marks the outcome the CLI reports.
        released = sfn.Pass(
            self, "Released", result=sfn.Result.from_string("released"), result_path="$.outcome"
        )
        notify_success = self._notify(
            "NotifySuccess",
            "released",
            "Retraining released a new model",
            {"model_version": "$.registered.model_version", "summary": "$.released.summary"},
        )
        notify_success.add_catch(failed, errors=[sfn.Errors.ALL], result_path="$.notify_error")
        rejected = sfn.Pass(
            self, "Rejected", result=sfn.Result.from_string("rejected"), result_path="$.outcome"
        )
        notify_rejected = self._notify(
            "NotifyRejected",
            "rejected",
            "Retraining rejected the candidate",
            {"model_version": "$.candidate.model_version", "summary": "$.gate.summary"},
        )
        notify_rejected.add_catch(failed, errors=[sfn.Errors.ALL], result_path="$.notify_error")
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
        if self.config.retrain_compute == "lambda":
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
        config = self.config
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
        instance = config.retrain_sagemaker_instance_type.removeprefix("ml.")
        return tasks.SageMakerCreateTrainingJob(
            self,
            "TrainOnSageMaker",
            training_job_name=sfn.JsonPath.format("retrain-{}", sfn.JsonPath.string_at("$.prepared.run_id")),
            role=role,
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_registry(config.retrain_sagemaker_image_uri),
                training_input_mode=tasks.InputMode.FILE,
            ),
            hyperparameters={
                "sagemaker_program": SAGEMAKER_ENTRY,
                "sagemaker_submit_directory": source.s3_object_url,
                "pipeline": config.retrain_pipeline,
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
                max_runtime=cdk.Duration.minutes(max(5, config.retrain_workflow_timeout_minutes - 15))
            ),
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            result_path="$.training_job",
        )

    # -- early start on falling accuracy ----------------------------------------------------------

    def _accuracy_trigger(self) -> None:
        """An alarm on the monitoring helper's LiveAccuracy metric; its ALARM state starts a run."""
        config = self.config
        metric = cw.Metric(
            namespace=config.metrics_namespace,
            metric_name=LIVE_ACCURACY_METRIC,
            dimensions_map={"service": config.service_name},
            statistic=cw.Stats.MINIMUM,
            period=cdk.Duration.seconds(config.retrain_accuracy_alarm_period_seconds),
        )
        self.accuracy_alarm = cw.Alarm(
            self,
            "LiveAccuracyAlarm",
            metric=metric,
            threshold=config.retrain_accuracy_alarm_threshold,
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
