"""The retraining workflow's cdk-nag findings and why each is acceptable; `RetrainingPipeline`
acknowledges them on its own resources as its last step."""

from __future__ import annotations

import re
from collections.abc import Iterable

from aws_cdk import aws_logs as logs
from constructs import IConstruct

from infra.nag import (
    LOG_GROUP_KMS,
    XRAY_REASON,
    acknowledge,
    acknowledge_wildcards,
    checkov_skip,
    checkov_skip_function,
    matching_reason,
)

RETRAIN_S3_REASON = (
    "Object-level grants on named prefixes only: retraining/* (the run's staging data and the watermark), "
    "models/* (read production, register new versions with If-None-Match: never overwritten), feedback/* "
    "and records/* of the shadow log bucket (labelled feedback and prediction records); CDK's grant_read "
    "expands to GetObject*/GetBucket*/List*. No delete anywhere."
)
RETRAIN_LAMBDA_REASON = (
    "The serving function's versions (<function>:*): the release step publishes a version pinning the new "
    "model, reads versions and the alias, and invokes the new version for the pre-traffic check "
    "(modelctl's release code)."
)
RETRAIN_ALARMS_REASON = (
    "modelctl's canary gates read their per-version alarms (DescribeAlarms, a read) and metrics "
    "(GetMetricData has no resource-level permissions); creating and deleting alarms is scoped to the gate "
    "alarms' name prefix modelctl-<function>-<alias>-v*."
)
RETRAIN_STATES_REASON = (
    "Step Functions invokes the workflow's function by qualified ARN (<function arn>:*), as CDK's "
    "LambdaInvoke grants it; only that one function."
)
RETRAIN_TRAINING_REASON = (
    "The SageMaker training job reads the run's prepared data (retraining/*), writes its output "
    "(retraining/sagemaker-output/*), reads its source archive from the CDK assets bucket, writes its own "
    "log group and metrics (PutMetricData has no resource-level permissions)."
)
RETRAIN_JOBS_REASON = (
    "Step Functions' createTrainingJob.sync integration (CDK's grant): the job's name is derived from the "
    "execution at run time (retrain-<run id>), so the role may create, describe and stop training-job/*."
)
_ARN = r"^Resource::arn:(?:<AWS::Partition>|aws[a-z-]*):"
RETRAIN_S3 = RETRAIN_S3_REASON
_RETRAIN_WILDCARDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Action::s3:(GetObject|GetBucket|List|Abort|DeleteObject)\*$"), RETRAIN_S3_REASON),
    (
        re.compile(_ARN + r"s3:::[^/]+/(retraining|models|feedback|prediction-log|records|predictions)/\*$"),
        RETRAIN_S3,
    ),
    (re.compile(_ARN + r"s3:::[^/]+/retraining/sagemaker-output/\*$"), RETRAIN_TRAINING_REASON),
    (re.compile(_ARN + r"s3:::cdk-[a-z0-9]+-assets-[^/]+/\*$"), RETRAIN_TRAINING_REASON),
    (re.compile(_ARN + r"logs:.*:log-group:/aws/sagemaker/TrainingJobs:\*$"), RETRAIN_TRAINING_REASON),
    (re.compile(_ARN + r"lambda:.*:function:.+:\*$"), RETRAIN_LAMBDA_REASON),
    (re.compile(_ARN + r"cloudwatch:.*:alarm:modelctl-.+-v\*$"), RETRAIN_ALARMS_REASON),
    (re.compile(r"^Resource::<[A-Za-z0-9]+\.Arn>:\*$"), RETRAIN_STATES_REASON),
    (re.compile(_ARN + r"sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/\*$"), RETRAIN_JOBS_REASON),
)
RETRAIN_SYNC_REASON = (
    "Invoked synchronously by the Step Functions workflow only: every task has a Retry and a Catch that "
    "sends the failure to the notification topic; asynchronous invocations never happen."
)
RETRAIN_CONCURRENCY = (
    "Runs only inside the retraining workflow, one step at a time per run (a run a day or on an alarm): a "
    "reservation would withhold account concurrency all the time for at most a few executions."
)
RETRAIN_RULE_DLQ_REASON = (
    "The target is the workflow (StartExecution); EventBridge retries a failed start for 24 hours, and the "
    "next schedule or alarm starts a run anyway. Failed runs themselves notify the SNS topic."
)


def _wildcard_reason(finding: str, where: str) -> str:
    reason = matching_reason(_RETRAIN_WILDCARDS, finding)
    if reason is not None:
        return reason
    if finding == "Resource::*":
        return XRAY_REASON if "StateMachine" in where else f"{XRAY_REASON} {RETRAIN_ALARMS_REASON}"
    raise ValueError(f"unexpected wildcard in {where}: {finding}; review it first")


def acknowledge_findings(
    pipeline: IConstruct, *, function: IConstruct, rules: Iterable[IConstruct | None]
) -> None:
    """Every IAM5 wildcard under the pipeline, its function's DLQ, and its rules' event bus DLQ."""
    acknowledge_wildcards(pipeline, _wildcard_reason)
    acknowledge(function, {"Serverless-LambdaDLQ": RETRAIN_SYNC_REASON})
    checkov_skip_function(
        function, invoked_by="by the Step Functions workflow", concurrency=RETRAIN_CONCURRENCY
    )
    for child in pipeline.node.find_all():
        if isinstance(child, logs.CfnLogGroup):
            checkov_skip(child, {"CKV_AWS_158": LOG_GROUP_KMS})
    for rule in rules:
        if rule is not None:
            acknowledge(rule, {"Serverless-EventBusDLQ": RETRAIN_RULE_DLQ_REASON})
