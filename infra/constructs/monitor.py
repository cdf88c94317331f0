"""The monitor: on an EventBridge schedule, a function joins the last window's logged predictions with
feedback and puts `LiveAccuracy`, `LiveQuality` and per-feature `FeatureDrift` (PSI against the
training baseline) into CloudWatch (docs/monitoring.md).

Least privilege: read the log bucket's `records/*`, `predictions/*` and `feedback/*` (and list it),
read `models/*` metadata, and put metrics in the configured namespace only.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from common.layout import FEEDBACK_PREFIX, MODELS_PREFIX, PREDICTIONS_PREFIX, RECORDS_PREFIX
from infra.config import ServingConfig
from infra.constructs.python_function import python_function

HANDLER = "monitor.handler.handler"
MONITOR_FUNCTION = "monitor"
LOG_PREFIXES = (RECORDS_PREFIX, PREDICTIONS_PREFIX, FEEDBACK_PREFIX)


class LiveMonitor(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ServingConfig,
        code: lambda_.Code,
        log_bucket: s3.IBucket,
        model_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.log_bucket = log_bucket
        self.model_bucket = model_bucket
        made = python_function(
            self,
            config=config,
            code=code,
            handler=HANDLER,
            description="Monitor: live accuracy and feature drift of the last window as CloudWatch metrics",
            role_description="Monitor function: read the prediction log and models, put metrics, X-Ray",
            memory_mb=1024,
            timeout=cdk.Duration.minutes(5),
            environment={
                "LOG_BUCKET": log_bucket.bucket_name,
                "MODEL_BUCKET": model_bucket.bucket_name,
                "METRICS_NAMESPACE": config.metrics_namespace,
                "SERVICE_NAME": config.service_name,
                "WINDOW_HOURS": str(config.monitor_window_hours),
                "QUALITY_METRIC": config.monitor_metric,
                "MIN_LABELLED": str(config.monitor_min_labelled),
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
                actions=["s3:GetObject"], resources=[model_bucket.arn_for_objects(f"{MODELS_PREFIX}*")]
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # PutMetricData has no resource-level permissions; scoped by namespace
                conditions={"StringEquals": {"cloudwatch:namespace": config.metrics_namespace}},
            )
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Runs the monitor function: live accuracy and drift metrics",
            schedule=events.Schedule.expression(config.monitor_schedule),
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )
