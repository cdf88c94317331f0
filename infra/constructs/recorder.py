"""The prediction log's durable path: the inference function's log group -> subscription filter
("prediction served" lines) -> recorder function -> rows in the log bucket, and the shadow's share
forwarded to the shadow queue (docs/prediction-log.md).

```
inference (every answered request: one "prediction served" line with its record, before it returns)
   --> its log group --SubscriptionFilter { $.message = "prediction served" }--> recorder (async invoke)
recorder --PutObject prediction-log/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz--> LogBucket
recorder --SendMessageBatch (the shadow's sample)--> shadow Queue
   a delivery that keeps failing (2 retries) --> DeadLetterQueue (alarm >= 1)
```

The recorder lives in the shadow stack, beside the log bucket and the shadow queue it writes to and
the other consumers of the log; the serving stack holds the subscription filter and the invoke
permission, because they belong to the inference function's log group, and imports the recorder's
ARN through a stable export name as it imports the queue and the bucket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from common import layout
from infra.bundling import BundleTarget
from infra.config.metrics import MetricsConfig
from infra.config.runtime import RuntimeConfig
from infra.constructs.function_code import bundled_function_code
from infra.constructs.python_function import python_function

if TYPE_CHECKING:
    from infra.config import ServingConfig
    from infra.constructs.shadow import ShadowLogging

from infra.constructs.queues import dead_letter_queue, queue_not_empty_alarm
from infra.nag import (
    XRAY_REASON,
    acknowledge,
    acknowledge_pinned_runtime,
    checkov_skip_function,
    resource_finding,
)

HANDLER = "recorder.handler.handler"
RECORDER_FUNCTION = "recorder"
PREDICTION_LOG_PREFIX = layout.PREDICTION_LOG_PREFIX
SERVED_LINES = '{ $.message = "prediction served" }'
"""The lines carrying a served request's record (inference.record_line)."""
RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = cdk.Duration.hours(6)
TIMEOUT = cdk.Duration.seconds(60)
MEMORY_MB = 512

RECORDS_REASON = (
    "s3:PutObject on prediction-log/* of the log bucket: object names are derived from each delivered "
    "batch's lines (prediction-log/dt=YYYY-MM-DD/hour=HH/<hash>.jsonl.gz), so they cannot be listed "
    "in advance."
)
DLQ_OF_DLQ_REASON = (
    "This queue IS the recorder's dead-letter queue (deliveries that failed every retry): a DLQ of the DLQ "
    "would only move the same events again. It has an alarm at >= 1 message and 14 days of retention."
)
DEAD_LETTER_CONFIG_REASON = (
    "Failed deliveries are kept by the function's DeadLetterConfig (an SQS queue with an alarm) after the "
    "async retries: the event itself, which can be replayed as it is; an on-failure destination would "
    "add a second copy of the same event."
)
NO_RESERVATION_REASON = (
    "Invoked asynchronously by CloudWatch Logs: a throttled invocation stays in Lambda's queue and is "
    "retried for up to the event's maximum age, then kept in the DLQ; a reservation would only withhold "
    "account concurrency from the live function."
)


class PredictionRecorder(Construct):
    """The recorder function, its asynchronous retries, its DLQ and the DLQ's alarm."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: RuntimeConfig,
        metrics: MetricsConfig,
        code: lambda_.Code,
        log_bucket: s3.IBucket,
        shadow_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue")
        records = log_bucket.arn_for_objects(f"{PREDICTION_LOG_PREFIX}*")
        made = python_function(
            self,
            runtime=runtime,
            code=code,
            handler=HANDLER,
            description="Recorder: served-prediction lines -> prediction log in S3 (+ the shadow's share)",
            role_description="Recorder function: write prediction-log/*, send to the shadow queue, X-Ray",
            memory_mb=MEMORY_MB,
            timeout=TIMEOUT,
            environment={
                "LOG_BUCKET": log_bucket.bucket_name,
                "SHADOW_QUEUE_URL": shadow_queue.queue_url,
                "POWERTOOLS_SERVICE_NAME": "recorder",
                "POWERTOOLS_METRICS_NAMESPACE": metrics.metrics_namespace,
            },
            statements=[iam.PolicyStatement(actions=["s3:PutObject"], resources=[records])],
            dead_letter_queue=self.dead_letter_queue,
        )
        self.function, self.role, self.function_log_group = made.function, made.role, made.log_group
        shadow_queue.grant_send_messages(self.role)
        self.function.configure_async_invoke(retry_attempts=RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE)
        self.dead_letter_alarm = queue_not_empty_alarm(
            self,
            "DeadLetterAlarm",
            self.dead_letter_queue,
            (
                "Log deliveries the recorder failed on every retry are in its DLQ: the predictions they "
                "carry are not in the prediction log yet; read the recorder's logs, fix, replay the events"
            ),
        )
        acknowledge(
            self.role,
            {
                resource_finding(self.role, records): RECORDS_REASON,
                "AwsSolutions-IAM5[Resource::*]": XRAY_REASON,
            },
        )
        acknowledge(self.dead_letter_queue, {"Serverless-SQSRedrivePolicy": DLQ_OF_DLQ_REASON})
        acknowledge(
            self.function.node.find_child("EventInvokeConfig"),
            {"Serverless-LambdaAsyncFailureDestination": DEAD_LETTER_CONFIG_REASON},
        )
        checkov_skip_function(self.function, concurrency=NO_RESERVATION_REASON)
        acknowledge_pinned_runtime(
            self.function, runtime, "; the recorder runs the same runtime as the inference function."
        )

    def outputs(self) -> dict[str, tuple[str, str]]:
        """The stack outputs: name -> (value, description)."""
        return {
            "RecorderFunctionArn": (self.function.function_arn, "Served-prediction lines -> S3"),
            "RecorderDeadLetterQueueUrl": (self.dead_letter_queue.queue_url, "Failed log deliveries"),
            "RecorderDeadLetterAlarmName": (self.dead_letter_alarm.alarm_name, "Deliveries in its DLQ"),
        }


def shadow_stack_recorder(
    scope: Construct, config: ServingConfig, target: BundleTarget, shadow: ShadowLogging
) -> PredictionRecorder:
    """The recorder as the shadow stack holds it: beside the log bucket and the shadow queue."""
    return PredictionRecorder(
        scope,
        "Recorder",
        runtime=config.runtime,
        metrics=config.metrics,
        code=bundled_function_code(RECORDER_FUNCTION, target=target),
        log_bucket=shadow.log_bucket,
        shadow_queue=shadow.queue,
    )


def subscribe_recorder(
    scope: Construct, *, log_group: logs.ILogGroup, recorder_arn: str
) -> logs.CfnSubscriptionFilter:
    """The inference function's log group delivers its served lines to the recorder (`recorder_arn`,
    an import of the shadow stack's export): the invoke permission for CloudWatch Logs, scoped to this
    log group and account, and the subscription filter, created after the permission."""
    stack = cdk.Stack.of(scope)
    permission = lambda_.CfnPermission(
        scope,
        "RecorderInvokePermission",
        action="lambda:InvokeFunction",
        function_name=recorder_arn,
        principal="logs.amazonaws.com",
        source_account=stack.account,
        source_arn=log_group.log_group_arn,
    )
    subscription = logs.CfnSubscriptionFilter(
        scope,
        "RecorderSubscription",
        log_group_name=log_group.log_group_name,
        filter_pattern=SERVED_LINES,
        destination_arn=recorder_arn,
    )
    subscription.node.add_dependency(permission)
    return subscription
