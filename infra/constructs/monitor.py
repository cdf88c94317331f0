"""The monitor: on an EventBridge schedule, a function joins the last window's logged predictions with
feedback and puts `LiveAccuracy`, `LiveQuality` and per-feature `FeatureDrift` (PSI against the
training baseline) into CloudWatch (docs/monitoring.md).

Least privilege: read the log bucket's `records/*`, `predictions/*` and `feedback/*` (and list it),
read `models/*` metadata, and put metrics in the configured namespace only.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from common import layout
from infra.config.metrics import MetricsConfig
from infra.config.monitor import MonitorConfig
from infra.config.runtime import RuntimeConfig
from infra.constructs.python_function import python_function
from infra.constructs.queues import dead_letter_queue, queue_not_empty_alarm
from infra.nag import (
    XRAY_REASON,
    acknowledge,
    acknowledge_pinned_runtime,
    checkov_skip,
    resource_finding,
)

HANDLER = "monitor.handler.handler"
MONITOR_FUNCTION = "monitor"
# What the monitor reads: the prediction log (common.observe.prediction_log) and the feedback.
LOG_PREFIXES = (*layout.PREDICTION_LOG_PREFIXES, layout.FEEDBACK_PREFIX)
MONITOR_READ_REASON = (
    "s3:GetObject on prediction-log/*, records/*, predictions/* and feedback/* of the prediction log "
    "bucket and models/* of the model store, s3:ListBucket limited to those prefixes: object names are "
    "content hashes under hour partitions (dt=YYYY-MM-DD/hour=HH/), so they cannot be listed in advance."
)
MONITOR_METRICS_REASON = (
    "cloudwatch:PutMetricData supports no resource-level permissions; the statement is limited to the "
    "configured namespace by the cloudwatch:namespace condition."
)
SCHEDULED_REASON = (
    "Invoked by its EventBridge schedule (asynchronously, with the target's retry attempts): a missed run "
    "is superseded by the next one over the same window; events the function fails go to its own DLQ."
)
FAILED_RUNS_REASON = (
    "This queue is the monitor function's dead-letter queue; nothing consumes it but an operator."
)
MONITOR_CONCURRENCY_REASON = (
    "One invocation per schedule (a few an hour, one at a time): a reservation would withhold account "
    "concurrency all the time for a function that never holds more than one execution."
)


def business_metric_environment(spec: str) -> dict[str, str]:
    """`BUSINESS_METRIC` for functions/monitor/business.py: the metric's JSON document, or nothing."""
    from common.business_metric import parse_spec

    metric = parse_spec(spec)
    return {"BUSINESS_METRIC": json.dumps(metric.to_dict(), separators=(",", ":"))} if metric else {}


class LiveMonitor(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: RuntimeConfig,
        metrics: MetricsConfig,
        monitor: MonitorConfig,
        code: lambda_.Code,
        log_bucket: s3.IBucket,
        model_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.runtime_config = runtime
        self.metrics_config = metrics
        self.monitor_config = monitor
        self.log_bucket = log_bucket
        self.model_bucket = model_bucket
        # Asynchronous (scheduled) invocations that failed every retry land here, so a failing monitor
        # is seen (FailedRunsAlarm) instead of silently leaving its metrics missing.
        self.failed_runs = dead_letter_queue(self, "FailedRuns")
        made = python_function(
            self,
            runtime=self.runtime_config,
            code=code,
            handler=HANDLER,
            description="Monitor: live accuracy and feature drift of the last window as CloudWatch metrics",
            role_description="Monitor function: read the prediction log and models, put metrics, X-Ray",
            memory_mb=1024,
            timeout=cdk.Duration.minutes(5),
            dead_letter_queue=self.failed_runs,
            environment={
                "LOG_BUCKET": log_bucket.bucket_name,
                "MODEL_BUCKET": model_bucket.bucket_name,
                "METRICS_NAMESPACE": self.metrics_config.metrics_namespace,
                "SERVICE_NAME": self.metrics_config.service_name,
                "WINDOW_HOURS": str(self.monitor_config.window_hours),
                "QUALITY_METRIC": self.monitor_config.metric,
                "MIN_LABELLED": str(self.monitor_config.min_labelled),
                **business_metric_environment(self.monitor_config.business_metric),
                "POWERTOOLS_SERVICE_NAME": "monitor",
            },
        )
        self.function, self.role = made.function, made.role
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[log_bucket.arn_for_objects(f"{prefix}*") for prefix in LOG_PREFIXES],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[log_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in LOG_PREFIXES]}},
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[model_bucket.arn_for_objects(f"{layout.MODELS_PREFIX}*")]
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # PutMetricData has no resource-level permissions; scoped by namespace
                conditions={"StringEquals": {"cloudwatch:namespace": self.metrics_config.metrics_namespace}},
            )
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Runs the monitor function: live accuracy and drift metrics",
            schedule=events.Schedule.expression(self.monitor_config.schedule),
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )
        self.failed_runs_alarm = queue_not_empty_alarm(
            self,
            "FailedRunsAlarm",
            self.failed_runs,
            "A scheduled monitor run failed every retry: read the monitor function's logs "
            "and the event in its dead-letter queue",
            period=cdk.Duration.minutes(5),
        )
        self._acknowledge_findings()

    def _acknowledge_findings(self) -> None:
        findings = {
            resource_finding(self.role, self.log_bucket.arn_for_objects(f"{prefix}*")): MONITOR_READ_REASON
            for prefix in LOG_PREFIXES
        }
        findings[
            resource_finding(self.role, self.model_bucket.arn_for_objects(f"{layout.MODELS_PREFIX}*"))
        ] = MONITOR_READ_REASON
        findings["AwsSolutions-IAM5[Resource::*]"] = f"{MONITOR_METRICS_REASON} {XRAY_REASON}"
        acknowledge(self.role, findings)
        acknowledge(self.schedule, {"Serverless-EventBusDLQ": SCHEDULED_REASON})
        acknowledge(
            self.failed_runs,
            {"AwsSolutions-SQS3": FAILED_RUNS_REASON, "Serverless-SQSRedrivePolicy": FAILED_RUNS_REASON},
        )
        checkov_skip(self.function, {"CKV_AWS_115": MONITOR_CONCURRENCY_REASON})
        acknowledge_pinned_runtime(
            self.function, self.runtime_config, "; every function of the app runs the same runtime."
        )
