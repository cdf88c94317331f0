"""Shadow logging: the queue the recorder forwards the shadow's sample to, the shadow function that
scores each mirrored request with the candidate model, and the bucket of records the report reads.

```
recorder (the shadow's sample) --SendMessage--> Queue --(event source: batch, partial failures)--> Function
                                    └─ after maxReceiveCount receives: DeadLetterQueue (alarm >= 1)
Function --PutObject records/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz--> LogBucket <-- modelctl shadow report
modelctl shadow start/stop --PutObject control/shadow.json--> LogBucket --GetObject--> inference (TTL cache)
```

The recorder function (infra/constructs/recorder.py) sends the shadow's sample of the served requests
to the queue. Least privilege: the shadow function may receive/delete from its queue, read `models/*`
and put `records/*`; the inference function may get the one configuration object.
The log bucket holds request data: encrypted, TLS-only, private, access-logged, records expire.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from common import layout
from infra.config.metrics import MetricsConfig
from infra.config.monitor import PredictionLogConfig
from infra.config.runtime import RuntimeConfig
from infra.config.shadow import ShadowConfig
from infra.constructs.buckets import access_logs_bucket, expiry, private_bucket
from infra.constructs.model_store import MODELS_PREFIX
from infra.constructs.python_function import python_function
from infra.constructs.queues import dead_letter_queue, encrypted_queue, queue_not_empty_alarm
from infra.constructs.recorder import subscribe_recorder
from infra.nag import (
    XRAY_REASON,
    acknowledge,
    acknowledge_pinned_runtime,
    checkov_skip,
    checkov_skip_function,
    resource_finding,
)

HANDLER = "shadow.handler.handler"
SHADOW_FUNCTION = "shadow"
# The storage layout is functions/common/layout.py's, shared with the functions that read and write it.
CONFIG_KEY = layout.SHADOW_CONFIG_KEY
RECORDS_PREFIX = layout.RECORDS_PREFIX
# shadow_record.PREDICTIONS_PREFIX: live-only records of the prediction log (docs/monitoring.md), and
# feedback.FEEDBACK_PREFIX: ground-truth labels from POST /feedback.
PREDICTIONS_PREFIX = layout.PREDICTIONS_PREFIX
FEEDBACK_PREFIX = layout.FEEDBACK_PREFIX
# The recorder's rows: every answered request (infra/constructs/recorder.py).
PREDICTION_LOG_PREFIX = layout.PREDICTION_LOG_PREFIX
VISIBILITY_TIMEOUT_FACTOR = 6  # AWS's guidance for SQS event sources: 6x the function's timeout
QUEUE_RETENTION = cdk.Duration.days(4)

SHADOW_MODEL_READ_REASON = (
    "s3:GetObject on models/* of the model store: the candidate model a shadow scores with is chosen at "
    "run time (modelctl shadow start), so any immutable artifact under models/ may be read; nothing else."
)
SHADOW_RECORDS_REASON = (
    "s3:PutObject on records/* of the shadow log bucket: object names are derived from each batch's "
    "messages (records/dt=YYYY-MM-DD/hour=HH/<hash>.jsonl.gz), so they cannot be listed in advance."
)
SHADOW_DLQ_REASON = (
    "This queue IS the shadow queue's dead-letter queue (redrive after maxReceiveCount): a DLQ of the DLQ "
    "would only move the same messages again. It has an alarm at >= 1 message and 14 days of retention."
)
SHADOW_ESM_REASON = (
    "SQS event sources do not support on-failure destinations (only stream and Kafka sources do): failed "
    "messages are reported as batch item failures and moved to the DLQ by the queue's redrive policy."
)
SHADOW_NO_RESERVATION_REASON = (
    "serving.shadow_reserved_concurrency=0 was chosen explicitly (an account whose concurrency quota cannot "
    "spare a reservation); the event source's maximum concurrency still bounds the shadow function."
)
SHADOW_ACCESS_LOGS_REASON = (
    "The log bucket's server access logs: S3 writes each log object once, they expire with the records; "
    "logging or versioning the log bucket itself would only move the finding."
)
SHADOW_ASYNC_REASON = (
    "Invoked by its SQS event source mapping only (synchronously, never asynchronously): failures go to the "
    "shadow queue's DLQ through its redrive policy; a function DLQ would never receive anything."
)


class ShadowLogging(Construct):
    """Queue + DLQ (+ alarm), shadow function + event source mapping, log bucket (+ access logs)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: RuntimeConfig,
        metrics: MetricsConfig,
        shadow: ShadowConfig,
        prediction_log: PredictionLogConfig,
        code: lambda_.Code,
        model_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.runtime_config = runtime
        self.metrics_config = metrics
        self.shadow_config = shadow
        self.prediction_log_config = prediction_log
        self.model_bucket = model_bucket
        self._queues()
        self._buckets()
        self.function = self._function(code)
        self.event_source = event_sources.SqsEventSource(
            self.queue,
            batch_size=self.shadow_config.batch_size,
            max_batching_window=(
                cdk.Duration.seconds(self.shadow_config.batching_window_seconds)
                if self.shadow_config.batching_window_seconds
                else None
            ),
            report_batch_item_failures=True,
            max_concurrency=self.shadow_config.max_concurrency,
        )
        self.function.add_event_source(self.event_source)  # also grants consuming the queue
        self.dead_letter_alarm = self._dead_letter_alarm()
        self._acknowledge_findings()

    def _acknowledge_findings(self) -> None:
        model_objects = self.model_bucket.arn_for_objects(f"{MODELS_PREFIX}*")
        record_objects = self.log_bucket.arn_for_objects(f"{RECORDS_PREFIX}*")
        acknowledge(
            self.role,
            {
                resource_finding(self.role, model_objects): SHADOW_MODEL_READ_REASON,
                resource_finding(self.role, record_objects): SHADOW_RECORDS_REASON,
                "AwsSolutions-IAM5[Resource::*]": XRAY_REASON,
            },
        )
        acknowledge(self.dead_letter_queue, {"Serverless-SQSRedrivePolicy": SHADOW_DLQ_REASON})
        acknowledge(self.function, {"Serverless-LambdaDLQ": SHADOW_ASYNC_REASON})
        self._checkov_skips()
        mapping = next(
            child for child in self.function.node.children if child.node.id.startswith("SqsEventSource")
        )
        acknowledge(mapping, {"Serverless-LambdaEventSourceMappingDestination": SHADOW_ESM_REASON})
        acknowledge_pinned_runtime(
            self.function,
            self.runtime_config,
            "; the shadow function runs the same runtime as the inference function.",
        )

    @property
    def config_uri(self) -> str:
        return f"s3://{self.log_bucket.bucket_name}/{CONFIG_KEY}"

    def _queues(self) -> None:
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue")
        self.queue = encrypted_queue(
            self,
            "Queue",
            retention_period=QUEUE_RETENTION,
            visibility_timeout=cdk.Duration.seconds(
                VISIBILITY_TIMEOUT_FACTOR * self.shadow_config.timeout_seconds
            ),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=self.shadow_config.max_receive_count, queue=self.dead_letter_queue
            ),
        )

    def _buckets(self) -> None:
        days = self.shadow_config.record_expiration_days
        self.access_logs_bucket = access_logs_bucket(self, days)
        self.log_bucket = private_bucket(
            self,
            "LogBucket",
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="shadow-log-bucket/",
            # Feedback is ground truth nothing can regenerate: an overwrite or a delete keeps the earlier
            # version, which expires as the current one would have.
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(**expiry("ExpireShadowRecords", RECORDS_PREFIX, days)),
                *(
                    s3.LifecycleRule(**expiry(rule_id, prefix, self.prediction_log_config.expiration_days))
                    for rule_id, prefix in (
                        ("ExpirePredictionLog", PREDICTIONS_PREFIX),
                        ("ExpireFeedback", FEEDBACK_PREFIX),
                        ("ExpirePredictionRecords", PREDICTION_LOG_PREFIX),
                    )
                ),
            ],
        )

    def _checkov_skips(self) -> None:
        no_reservation = None if self.shadow_config.reserved_concurrency else SHADOW_NO_RESERVATION_REASON
        checkov_skip_function(self.function, concurrency=no_reservation)
        checkov_skip(self.function, {"CKV_AWS_116": SHADOW_ASYNC_REASON})
        checkov_skip(
            self.access_logs_bucket,
            {"CKV_AWS_18": SHADOW_ACCESS_LOGS_REASON, "CKV_AWS_21": SHADOW_ACCESS_LOGS_REASON},
        )

    def _function(self, code: lambda_.Code) -> lambda_.Function:
        made = python_function(
            self,
            runtime=self.runtime_config,
            code=code,
            handler=HANDLER,
            description="Shadow: scores mirrored requests with the candidate model, writes records to S3",
            role_description=(
                "Shadow function: consume the shadow queue, read models/*, write records/*, X-Ray"
            ),
            memory_mb=self.shadow_config.memory_mb,
            timeout=cdk.Duration.seconds(self.shadow_config.timeout_seconds),
            reserved_concurrency=self.shadow_config.reserved_concurrency or None,
            environment={
                "MODEL_BUCKET": self.model_bucket.bucket_name,
                "LOG_BUCKET": self.log_bucket.bucket_name,
                "POWERTOOLS_SERVICE_NAME": "shadow",
                "POWERTOOLS_METRICS_NAMESPACE": self.metrics_config.metrics_namespace,
            },
            statements=[
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[self.model_bucket.arn_for_objects(f"{MODELS_PREFIX}*")],
                ),
                iam.PolicyStatement(
                    actions=["s3:PutObject"],
                    resources=[self.log_bucket.arn_for_objects(f"{RECORDS_PREFIX}*")],
                ),
            ],
        )
        self.function_log_group, self.role = made.log_group, made.role
        return made.function

    def _dead_letter_alarm(self) -> cw.Alarm:
        return queue_not_empty_alarm(
            self,
            "DeadLetterAlarm",
            self.dead_letter_queue,
            (
                "Shadow messages the shadow function failed maxReceiveCount times are in the DLQ: "
                "read them (aws sqs receive-message) and the shadow function's logs"
            ),
        )


def connect_inference_function(
    function: lambda_.Function,
    *,
    log_group: logs.LogGroup,
    recorder_arn: str,
    log_bucket_name: str,
    config_ttl_seconds: int,
    prediction_log_sample_percent: float = 0.0,
) -> None:
    """Record every answered request and let the shadow sample them: the function's log group
    delivers its "prediction served" lines to the recorder, and the function reads the one shadow
    configuration object (which share carries inputs, and which candidate the shadow scores).

    Takes plain values (imports of the shadow stack's exports) so the serving stack depends on the
    shadow stack through stable export names, as it does on the model store.
    """
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["s3:GetObject"],
            resources=[f"arn:{cdk.Aws.PARTITION}:s3:::{log_bucket_name}/{CONFIG_KEY}"],
        )
    )
    function.add_environment("SHADOW_CONFIG_URI", f"s3://{log_bucket_name}/{CONFIG_KEY}")
    function.add_environment("SHADOW_CONFIG_TTL_SECONDS", str(config_ttl_seconds))
    # The share of requests whose record carries their inputs even without a shadow (docs/monitoring.md).
    function.add_environment("PREDICTION_LOG_SAMPLE_PERCENT", f"{prediction_log_sample_percent:g}")
    subscribe_recorder(log_group, log_group=log_group, recorder_arn=recorder_arn)
