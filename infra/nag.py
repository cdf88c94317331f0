"""cdk-nag: the rule packs the app runs, and every acknowledged finding with its reason.

cdk-nag 3 is a CDK policy-validation plugin (not an Aspect any more): `add_checks` registers the
AwsSolutions and Serverless packs with `Validations.of(app)`, and any finding that is not
acknowledged (error or warning) fails `cdk synth` and is listed in cdk.out's
`policy-validation-report.json`. Acknowledgments use `Validations.of(construct).acknowledge`
(cdk-nag 3 removed `NagSuppressions`), always on the narrowest construct and, for rules that
report several findings (IAM4, IAM5), one finding at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks, NagPack, ServerlessChecks
from constructs import IConstruct

from common.layout import FEEDBACK_PREFIX, MODELS_PREFIX, PREDICTIONS_PREFIX, RECORDS_PREFIX
from infra.config import PYTHON_VERSIONS
from infra.constructs import InferenceService, ModelStore
from infra.constructs.feedback import FeedbackApi
from infra.constructs.monitor import LiveMonitor
from infra.constructs.precompute import Precompute
from infra.constructs.retraining import RetrainingPipeline
from infra.constructs.shadow import ShadowLogging

BUCKET_DEPLOYMENT_PREFIX = "Custom::CDKBucketDeployment"
# What aws-cdk-lib's BucketDeployment handler is granted: read the CDK assets bucket, write the
# destination prefix. Anything else showing up after an upgrade fails the synth instead of being
# acknowledged silently.
_BUCKET_DEPLOYMENT_WILDCARDS = re.compile(
    r"^(Action::s3:(GetObject|GetBucket|List|DeleteObject|Abort)\*"
    r"|Resource::arn:(<AWS::Partition>|aws[a-z-]*):s3:::cdk-[a-z0-9]+-assets-[^/]+/\*"
    r"|Resource::<[A-Za-z0-9]+\.Arn>/\*)$"
)


def rule_packs(scope: IConstruct | None = None) -> list[NagPack]:
    """The packs the app runs; acknowledged rules are also written to the template metadata."""
    return [
        AwsSolutionsChecks(scope, verbose=True, write_suppressions_to_cloud_formation=True),
        ServerlessChecks(scope, verbose=True),
    ]


def add_checks(app: cdk.App) -> None:
    cdk.Validations.of(app).add_plugins(*rule_packs(app))


def acknowledge(scope: IConstruct, findings: Mapping[str, str]) -> None:
    for rule_id, reason in findings.items():
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))


# -- finding ids, computed the way cdk-nag computes them --------------------------------------------


def flatten_cfn_reference(node: Any) -> str:
    """cdk-nag's flattening of an intrinsic into the string used in finding ids."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in node:
            return flatten_cfn_reference(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in node:
            return flatten_cfn_reference(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{flatten_cfn_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def resource_finding(scope: IConstruct, value: str) -> str:
    """The IAM5 finding id of a policy resource (a token such as a bucket ARN is resolved first)."""
    return f"AwsSolutions-IAM5[Resource::{flatten_cfn_reference(cdk.Stack.of(scope).resolve(value))}]"


def wildcard_findings(policy: iam.CfnPolicy) -> list[str]:
    """The IAM5 findings of one policy: wildcard actions and resources of its Allow statements."""
    document = cdk.Stack.of(policy).resolve(policy.policy_document)
    found: list[str] = []
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        for action in _as_list(statement.get("Action")):
            if "*" in action:
                found.append(f"Action::{action}")
        for resource in _as_list(statement.get("Resource")):
            flat = flatten_cfn_reference(resource)
            if "*" in flat:
                found.append(f"Resource::{flat}")
    return list(dict.fromkeys(found))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _policies_under(scope: IConstruct) -> Iterable[iam.CfnPolicy]:
    return (child for child in scope.node.find_all() if isinstance(child, iam.CfnPolicy))


# -- the model store --------------------------------------------------------------------------------


def suppress_model_store(store: ModelStore) -> None:
    acknowledge(
        store.access_logs_bucket,
        {
            "AwsSolutions-S1": "This bucket receives the model bucket's server access logs; logging it "
            "to itself would loop, and another log bucket would only move the finding.",
        },
    )
    stack = cdk.Stack.of(store)
    for handler in stack.node.children:
        if handler.node.id.startswith(BUCKET_DEPLOYMENT_PREFIX):
            _suppress_bucket_deployment_handler(handler)


IAM4 = "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/{}]"
_HANDLER = "aws-cdk-lib's BucketDeployment handler (a CDK-managed singleton, not configurable here)"
BUCKET_DEPLOYMENT_REASONS = {
    IAM4.format(
        "AWSLambdaBasicExecutionRole"
    ): f"{_HANDLER} logs with the AWS managed basic execution policy.",
    "AwsSolutions-L1": f"{_HANDLER}: aws-cdk-lib pins the runtime its AWS CLI layer supports.",
    "Serverless-LambdaLatestVersion": f"{_HANDLER}: aws-cdk-lib pins the runtime (see AwsSolutions-L1).",
    "Serverless-LambdaDLQ": f"{_HANDLER} is a custom resource handler; failures fail the deploy.",
    "Serverless-LambdaTracing": f"{_HANDLER} runs once per deploy; CloudFormation reports its failures.",
}
BUCKET_DEPLOYMENT_IAM5_REASON = (
    f"{_HANDLER}: copies the artifact from the CDK assets bucket to models/<version>/ with the grants "
    "aws-cdk-lib generates for that (each wildcard is checked against an allow-list first)."
)
MODEL_READ_REASON = (
    "grant_read on the model store, limited to objects under models/: every published function version "
    "pins one immutable artifact there, so the role reads that prefix and never writes."
)
XRAY_REASON = (
    "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions (tracing: ACTIVE)."
)
SYNC_ONLY_REASON = (
    "Invoked synchronously by API Gateway only: errors go back to the caller. A DLQ or failure destination "
    "applies to asynchronous invocations, which never happen."
)
API_LOGGING_ROLE_REASON = (
    "API Gateway's account-level logging role: AWS documents this managed policy for it "
    "(created because serving.api_gateway_cloudwatch_role is true)."
)
AUTH_REASONS = {
    "api_key": "Clients authenticate with API keys tied to a usage plan (serving.api_auth=api_key); "
    "set api_auth=iam for SigV4 authorization.",
    "none": "serving.api_auth=none was chosen explicitly: a public endpoint protected by throttling only.",
}
CALLERS = {"api_key": "API keys", "iam": "IAM (SigV4)", "none": "no authentication (api_auth=none)"}
PREFLIGHT_REASON = (
    "CORS preflight (OPTIONS) requests carry no credentials by design; the mock integration only returns "
    "CORS headers."
)


def _suppress_bucket_deployment_handler(handler: IConstruct) -> None:
    """The singleton Lambda that aws-cdk-lib's BucketDeployment creates; its props are not ours."""
    acknowledge(handler, BUCKET_DEPLOYMENT_REASONS)
    for policy in _policies_under(handler):
        for finding in wildcard_findings(policy):
            if not _BUCKET_DEPLOYMENT_WILDCARDS.match(finding):
                raise ValueError(f"unexpected wildcard in {policy.node.path}: {finding}; review it first")
            acknowledge(handler, {f"AwsSolutions-IAM5[{finding}]": BUCKET_DEPLOYMENT_IAM5_REASON})


# -- the inference service --------------------------------------------------------------------------


def suppress_inference_service(service: InferenceService) -> None:
    config = service.config
    model_objects = f"{service.model_bucket.bucket_arn}/models/*"
    acknowledge(
        service.role,
        {
            "AwsSolutions-IAM5[Action::s3:GetObject*]": MODEL_READ_REASON,
            "AwsSolutions-IAM5[Action::s3:GetBucket*]": MODEL_READ_REASON,
            "AwsSolutions-IAM5[Action::s3:List*]": MODEL_READ_REASON,
            resource_finding(service.role, model_objects): MODEL_READ_REASON,
            "AwsSolutions-IAM5[Resource::*]": XRAY_REASON,
        },
    )
    if config.python_version != PYTHON_VERSIONS[-1]:
        pinned = (
            f"serving.python_version={config.python_version} was pinned in the config (newest supported: "
            f"{PYTHON_VERSIONS[-1]}), e.g. while a dependency has no wheels for the newest runtime."
        )
        acknowledge(service.function, {"AwsSolutions-L1": pinned, "Serverless-LambdaLatestVersion": pinned})
    acknowledge(service.function, {"Serverless-LambdaDLQ": SYNC_ONLY_REASON})
    limits = "stage throttling" + (" and the API-key usage plan" if config.api_auth == "api_key" else "")
    acknowledge(
        service.api.deployment_stage,
        {
            "AwsSolutions-APIG3": "No WAF web ACL (its cost is not justified yet): callers are limited by "
            f"{limits}; a web ACL can be associated with the stage later without changes here.",
        },
    )
    cloud_watch_role = service.api.node.try_find_child("CloudWatchRole")
    if cloud_watch_role is not None:
        acknowledge(
            cloud_watch_role, {IAM4.format("AmazonAPIGatewayPushToCloudWatchLogs"): API_LOGGING_ROLE_REASON}
        )
    cognito = f"Machine-to-machine API without a Cognito user pool: callers use {CALLERS[config.api_auth]}."
    for method in (service.predict_method, service.health_method):
        findings = {"AwsSolutions-COG4": cognito}
        if config.api_auth in AUTH_REASONS:  # IAM authorization satisfies APIG4
            findings["AwsSolutions-APIG4"] = AUTH_REASONS[config.api_auth]
        acknowledge(method, findings)
    for preflight in service.cors_preflight_methods():
        acknowledge(
            preflight, {"AwsSolutions-APIG4": PREFLIGHT_REASON, "AwsSolutions-COG4": PREFLIGHT_REASON}
        )


# -- shadow logging ---------------------------------------------------------------------------------


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
SHADOW_ASYNC_REASON = (
    "Invoked by its SQS event source mapping only (synchronously, never asynchronously): failures go to the "
    "shadow queue's DLQ through its redrive policy; a function DLQ would never receive anything."
)


def suppress_shadow_logging(shadow: ShadowLogging) -> None:
    model_objects = shadow.model_bucket.arn_for_objects(f"{MODELS_PREFIX}*")
    record_objects = shadow.log_bucket.arn_for_objects(f"{RECORDS_PREFIX}*")
    acknowledge(
        shadow.role,
        {
            resource_finding(shadow.role, model_objects): SHADOW_MODEL_READ_REASON,
            resource_finding(shadow.role, record_objects): SHADOW_RECORDS_REASON,
            resource_finding(shadow.role, shadow.log_bucket.arn_for_objects(f"{PREDICTIONS_PREFIX}*")): (
                SHADOW_RECORDS_REASON.replace("records/", "predictions/")
            ),
            "AwsSolutions-IAM5[Resource::*]": XRAY_REASON,
        },
    )
    acknowledge(shadow.dead_letter_queue, {"Serverless-SQSRedrivePolicy": SHADOW_DLQ_REASON})
    acknowledge(shadow.function, {"Serverless-LambdaDLQ": SHADOW_ASYNC_REASON})
    mapping = next(
        child for child in shadow.function.node.children if child.node.id.startswith("SqsEventSource")
    )
    acknowledge(mapping, {"Serverless-LambdaEventSourceMappingDestination": SHADOW_ESM_REASON})
    config = shadow.config
    if config.python_version != PYTHON_VERSIONS[-1]:
        pinned = (
            f"serving.python_version={config.python_version} was pinned in the config (newest supported: "
            f"{PYTHON_VERSIONS[-1]}); the shadow function runs the same runtime as the inference function."
        )
        acknowledge(shadow.function, {"AwsSolutions-L1": pinned, "Serverless-LambdaLatestVersion": pinned})


# -- precomputed predictions ------------------------------------------------------------------------

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
PRECOMPUTE_LOG_BUCKET_REASON = (
    "The work bucket holds inputs and short-lived run files (runs/ expire after 7 days); the model store's "
    "and the shadow records' buckets are access-logged. Enable access logs here if inputs are sensitive."
)


def _precompute_wildcard_reason(finding: str) -> str:
    for pattern, reason in PRECOMPUTE_WILDCARDS:
        if re.fullmatch(pattern, finding):
            return reason
    raise ValueError(f"unexpected wildcard in the precompute construct: {finding}; review it first")


def suppress_precompute(precompute: Precompute) -> None:
    for policy in _policies_under(precompute):
        for finding in wildcard_findings(policy):
            acknowledge(policy, {f"AwsSolutions-IAM5[{finding}]": _precompute_wildcard_reason(finding)})
    for function in (
        precompute.plan_function,
        precompute.score_function,
        precompute.switch_function,
        precompute.lookup_function,
    ):
        acknowledge(function, {"Serverless-LambdaDLQ": PRECOMPUTE_DLQ_REASON})
        config = precompute.config
        if config.python_version != PYTHON_VERSIONS[-1]:
            pinned = (
                f"serving.python_version={config.python_version} was pinned in the config (newest supported: "
                f"{PYTHON_VERSIONS[-1]}); the precompute functions run the same runtime as inference."
            )
            acknowledge(function, {"AwsSolutions-L1": pinned, "Serverless-LambdaLatestVersion": pinned})
    acknowledge(precompute.bucket, {"AwsSolutions-S1": PRECOMPUTE_LOG_BUCKET_REASON})


def suppress_predictions_route(service: InferenceService, method: IConstruct) -> None:
    config = service.config
    findings = {
        "AwsSolutions-COG4": "Machine-to-machine API without a Cognito user pool: callers use "
        f"{CALLERS[config.api_auth]}, as on POST /predict."
    }
    if config.api_auth in AUTH_REASONS:
        findings["AwsSolutions-APIG4"] = AUTH_REASONS[config.api_auth]
    acknowledge(method, findings)


# -- monitoring (feedback route, monitor function) ---------------------------------------------------


MONITOR_READ_REASON = (
    "s3:GetObject on records/*, predictions/* and feedback/* of the prediction log bucket and models/* of "
    "the model store, s3:ListBucket limited to those prefixes: object names are content hashes under "
    "hour partitions (dt=YYYY-MM-DD/hour=HH/), so they cannot be listed in advance."
)
MONITOR_METRICS_REASON = (
    "cloudwatch:PutMetricData supports no resource-level permissions; the statement is limited to the "
    "configured namespace by the cloudwatch:namespace condition."
)
FEEDBACK_S3_REASON = (
    "s3:PutObject on feedback/* of the prediction log bucket (names are content hashes under hour "
    "partitions) and s3:GetObject on models/* (the class labels of the live model's metadata)."
)
SCHEDULED_REASON = (
    "Invoked by its EventBridge schedule (asynchronously, with the target's retry attempts): a missed run "
    "is superseded by the next one over the same window, so failed events need no DLQ."
)


def suppress_feedback_api(feedback: FeedbackApi) -> None:
    config = feedback.config
    model_objects = feedback.model_bucket.arn_for_objects(f"{MODELS_PREFIX}*")
    findings = {
        resource_finding(feedback.role, model_objects): FEEDBACK_S3_REASON,
        resource_finding(feedback.role, feedback.feedback_objects_arn): FEEDBACK_S3_REASON,
        "AwsSolutions-IAM5[Resource::*]": XRAY_REASON,
    }
    acknowledge(feedback.role, findings)
    acknowledge(feedback.function, {"Serverless-LambdaDLQ": SYNC_ONLY_REASON})
    method_findings = {
        "AwsSolutions-COG4": f"Machine-to-machine API without a Cognito user pool: callers use "
        f"{CALLERS[config.api_auth]}."
    }
    if config.api_auth in AUTH_REASONS:
        method_findings["AwsSolutions-APIG4"] = AUTH_REASONS[config.api_auth]
    acknowledge(feedback.method, method_findings)
    _acknowledge_pinned_runtime(feedback.function, config.python_version)


def suppress_monitor(monitor: LiveMonitor) -> None:
    findings = {
        resource_finding(monitor.role, monitor.log_bucket.arn_for_objects(f"{prefix}*")): MONITOR_READ_REASON
        for prefix in (RECORDS_PREFIX, PREDICTIONS_PREFIX, FEEDBACK_PREFIX)
    }
    findings[resource_finding(monitor.role, monitor.model_bucket.arn_for_objects(f"{MODELS_PREFIX}*"))] = (
        MONITOR_READ_REASON
    )
    findings["AwsSolutions-IAM5[Resource::*]"] = f"{MONITOR_METRICS_REASON} {XRAY_REASON}"
    acknowledge(monitor.role, findings)
    acknowledge(monitor.function, {"Serverless-LambdaDLQ": SCHEDULED_REASON})
    acknowledge(monitor.schedule, {"Serverless-EventBusDLQ": SCHEDULED_REASON})
    _acknowledge_pinned_runtime(monitor.function, monitor.config.python_version)


def _acknowledge_pinned_runtime(function: IConstruct, python_version: str) -> None:
    if python_version != PYTHON_VERSIONS[-1]:
        pinned = (
            f"serving.python_version={python_version} was pinned in the config (newest supported: "
            f"{PYTHON_VERSIONS[-1]}); every function of the app runs the same runtime."
        )
        acknowledge(function, {"AwsSolutions-L1": pinned, "Serverless-LambdaLatestVersion": pinned})


# -- retraining -------------------------------------------------------------------------------------


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
    "modelctl's canary gates create and read per-version alarms whose names are derived at run time; "
    "CloudWatch GetMetricData has no resource-level permissions."
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
    (re.compile(_ARN + r"s3:::[^/]+/(retraining|models|feedback|records|predictions)/\*$"), RETRAIN_S3),
    (re.compile(_ARN + r"s3:::[^/]+/retraining/sagemaker-output/\*$"), RETRAIN_TRAINING_REASON),
    (re.compile(_ARN + r"s3:::cdk-[a-z0-9]+-assets-[^/]+/\*$"), RETRAIN_TRAINING_REASON),
    (re.compile(_ARN + r"logs:.*:log-group:/aws/sagemaker/TrainingJobs:\*$"), RETRAIN_TRAINING_REASON),
    (re.compile(_ARN + r"lambda:.*:function:.+:\*$"), RETRAIN_LAMBDA_REASON),
    (re.compile(r"^Resource::<[A-Za-z0-9]+\.Arn>:\*$"), RETRAIN_STATES_REASON),
    (re.compile(_ARN + r"sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/\*$"), RETRAIN_JOBS_REASON),
)
RETRAIN_SYNC_REASON = (
    "Invoked synchronously by the Step Functions workflow only: every task has a Retry and a Catch that "
    "sends the failure to the notification topic; asynchronous invocations never happen."
)
RETRAIN_RULE_DLQ_REASON = (
    "The target is the workflow (StartExecution); EventBridge retries a failed start for 24 hours, and the "
    "next schedule or alarm starts a run anyway. Failed runs themselves notify the SNS topic."
)


def _retrain_reason(finding: str, where: str) -> str:
    for pattern, reason in _RETRAIN_WILDCARDS:
        if pattern.match(finding):
            return reason
    if finding == "Resource::*":
        return XRAY_REASON if "StateMachine" in where else f"{XRAY_REASON} {RETRAIN_ALARMS_REASON}"
    raise ValueError(f"unexpected wildcard in {where}: {finding}; review it first")


def suppress_retraining(pipeline: RetrainingPipeline) -> None:
    for policy in _policies_under(pipeline):
        for finding in wildcard_findings(policy):
            reason = _retrain_reason(finding, policy.node.path)
            acknowledge(policy, {f"AwsSolutions-IAM5[{finding}]": reason})
    acknowledge(pipeline.function, {"Serverless-LambdaDLQ": RETRAIN_SYNC_REASON})
    for rule in (pipeline.schedule, pipeline.accuracy_rule):
        if rule is not None:
            acknowledge(rule, {"Serverless-EventBusDLQ": RETRAIN_RULE_DLQ_REASON})
