"""The shadow stack: queue + DLQ, the shadow function and its event source mapping, the log bucket,
least-privilege grants on both functions, the DLQ alarm, outputs; and its settings in the config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from cfnlint.api import ManualArgs, lint

from common.layout import PREDICTIONS_PREFIX, RECORDS_PREFIX
from common.layout import SHADOW_CONFIG_KEY as CONFIG_KEY
from infra.config import ConfigError, ServingConfig
from infra.constructs import shadow as shadow_construct
from infra.stacks import ShadowStack
from tests.unit.infra.infra_support import (
    PRIVATE_ENCRYPTED_BUCKET,
    REPO_ROOT,
    SynthesizedApp,
    config_error,
    synthesize,
)

MODEL_BUCKET = {"Fn::ImportValue": "ModelServing-ModelStore-ModelBucketName"}
# Renaming these replaces a retained bucket holding records: change them only with a migration.
STATEFUL_LOGICAL_IDS = {"ShadowLogBucket4D2C0A3B", "ShadowAccessLogsBucket52E4607F"}


@pytest.fixture(scope="module")
def tuned_app(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    return synthesize(
        artifacts_dir,
        tmp_path_factory.mktemp("cdk.out"),
        shadow_batch_size="10",
        shadow_batching_window_seconds="0",
        shadow_timeout_seconds="20",
        shadow_max_receive_count="5",
        shadow_record_expiration_days="7",
        shadow_config_ttl_seconds="2",
        shadow_max_concurrency="2",
        python_version="3.13",
    )


MONITOR = ("Monitor", "Recorder")  # logical ids of the monitor and recorder constructs, in the same stack


def only(
    template: Template, resource_type: str, props: Any = None, *, exclude: str | tuple[str, ...] = "\0"
) -> tuple[str, dict[str, Any]]:
    """The one resource of a type matching `props`, leaving out logical ids starting with `exclude`."""
    found = template.find_resources(resource_type, {"Properties": props} if props is not None else None)
    found = {key: value for key, value in found.items() if not key.startswith(exclude)}
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    logical_id, resource = next(iter(found.items()))
    return logical_id, dict(resource)


def statements(template: Template, role_logical_id: str) -> list[dict[str, Any]]:
    found = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


# -- queue and DLQ ---------------------------------------------------------------------------------


def test_queue_is_encrypted_and_redrives_to_the_dlq_after_max_receives(shadow: Template) -> None:
    dlq_id, _ = only(shadow, "AWS::SQS::Queue", {"RedrivePolicy": Match.absent()}, exclude=MONITOR)
    shadow.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "SqsManagedSseEnabled": True,
            "VisibilityTimeout": 6 * 60,  # six times the shadow function's timeout
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}, "maxReceiveCount": 3},
        },
    )
    shadow.has_resource_properties(
        "AWS::SQS::Queue", {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 24 * 3600}
    )


def test_both_queues_deny_requests_without_tls(shadow: Template) -> None:
    policies = shadow.find_resources("AWS::SQS::QueuePolicy")
    assert (
        len([key for key in policies if not key.startswith(MONITOR)]) == 2
    )  # and the monitor's and recorder's DLQs
    for policy in policies.values():
        (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Deny"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_dlq_alarm_fires_on_one_message(shadow: Template) -> None:
    dlq_id, _ = only(shadow, "AWS::SQS::Queue", {"RedrivePolicy": Match.absent()}, exclude=MONITOR)
    shadow.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}],
            "Statistic": "Maximum",
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "EvaluationPeriods": 1,
            "TreatMissingData": "notBreaching",
        },
    )


# -- the shadow function -------------------------------------------------------------------------------


def test_shadow_function_handler_runtime_and_environment(shadow: Template) -> None:
    shadow.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": shadow_construct.HANDLER,
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "Timeout": 60,
            "MemorySize": 1024,
            "TracingConfig": {"Mode": "Active"},
            "Environment": {
                "Variables": {
                    "MODEL_BUCKET": MODEL_BUCKET,
                    "LOG_BUCKET": {"Ref": Match.string_like_regexp("ShadowLogBucket")},
                    "POWERTOOLS_SERVICE_NAME": "shadow",
                    "POWERTOOLS_METRICS_NAMESPACE": "ModelServing",
                    "LOG_LEVEL": "INFO",
                }
            },
        },
    )


def test_the_shadow_function_has_reserved_concurrency_unless_configured_off(
    shadow: Template, open_app: SynthesizedApp
) -> None:
    """Reserved concurrency guarantees and caps the shadow: it can never take the live function's share."""
    shadow.has_resource_properties(
        "AWS::Lambda::Function", {"Handler": shadow_construct.HANDLER, "ReservedConcurrentExecutions": 5}
    )
    Template.from_stack(open_app.stack(ShadowStack)).has_resource_properties(
        "AWS::Lambda::Function",
        {"Handler": shadow_construct.HANDLER, "ReservedConcurrentExecutions": Match.absent()},
    )


def test_event_source_mapping_takes_batches_from_config_with_partial_failures(shadow: Template) -> None:
    queue_id, _ = only(shadow, "AWS::SQS::Queue", {"RedrivePolicy": Match.any_value()})
    shadow_function = Match.object_like({"Handler": "shadow.handler.handler"})
    function_id, _ = only(shadow, "AWS::Lambda::Function", shadow_function)
    shadow.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]},
            "FunctionName": {"Ref": function_id},
            "BatchSize": 1000,
            "MaximumBatchingWindowInSeconds": 5,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": 5},
        },
    )


def test_shadow_role_reads_models_writes_records_consumes_its_queue_only(shadow: Template) -> None:
    shadow_role = Match.object_like({"Description": Match.string_like_regexp("^Shadow")})
    role_id, role = only(shadow, "AWS::IAM::Role", shadow_role)
    assert "ManagedPolicyArns" not in role["Properties"]
    granted = statements(shadow, role_id)
    actions = sorted(
        a for s in granted for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert actions == sorted(
        [
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "s3:GetObject",
            "s3:PutObject",
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
            "sqs:ReceiveMessage",
            "xray:PutTelemetryRecords",
            "xray:PutTraceSegments",
        ]
    )
    by_action = {s["Action"]: s["Resource"] for s in granted if isinstance(s["Action"], str)}
    assert json.dumps(by_action["s3:GetObject"]).endswith('"/models/*"]]}')
    assert MODEL_BUCKET in by_action["s3:GetObject"]["Fn::Join"][1]
    puts = by_action["s3:PutObject"]
    put_prefixes = {
        json.dumps(resource).rsplit('"/', 1)[1] for resource in (puts if isinstance(puts, list) else [puts])
    }
    assert put_prefixes == {f'{RECORDS_PREFIX}*"]]}}'}  # live-only predictions: the recorder's now


# -- the log bucket -----------------------------------------------------------------------------------


def test_stateful_logical_ids_are_stable(shadow: Template) -> None:
    assert set(shadow.find_resources("AWS::S3::Bucket")) == STATEFUL_LOGICAL_IDS


def test_log_bucket_is_private_encrypted_retained_and_expires_records(shadow: Template) -> None:
    shadow.has_resource(
        "AWS::S3::Bucket",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like(
                {
                    **PRIVATE_ENCRYPTED_BUCKET,
                    "LoggingConfiguration": Match.object_like({"LogFilePrefix": "shadow-log-bucket/"}),
                    "LifecycleConfiguration": {
                        "Rules": [
                            {
                                "Id": "ExpireShadowRecords",
                                "Prefix": RECORDS_PREFIX,  # the configuration object never expires
                                "ExpirationInDays": 30,
                                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                                "Status": "Enabled",
                            },
                            {
                                "Id": "ExpirePredictionLog",
                                "Prefix": PREDICTIONS_PREFIX,
                                "ExpirationInDays": 90,
                                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                                "Status": "Enabled",
                            },
                            {
                                "Id": "ExpireFeedback",
                                "Prefix": "feedback/",
                                "ExpirationInDays": 90,
                                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                                "Status": "Enabled",
                            },
                            {
                                "Id": "ExpirePredictionRecords",
                                "Prefix": "prediction-log/",  # the recorder's rows
                                "ExpirationInDays": 90,
                                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                                "Status": "Enabled",
                            },
                            {  # Athena's query results (infra/constructs/query.py)
                                "Id": "ExpireQueryResults",
                                "Prefix": "athena-results/",
                                "ExpirationInDays": 7,
                                "Status": "Enabled",
                            },
                        ]
                    },
                }
            ),
        },
    )


def test_the_log_bucket_is_versioned_and_earlier_versions_expire_with_their_prefix(shadow: Template) -> None:
    """Feedback is ground truth nothing regenerates: an overwrite or a delete keeps the earlier version."""
    _, bucket = only(shadow, "AWS::S3::Bucket", {"LoggingConfiguration": Match.any_value()})
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert all(
        rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == rule["ExpirationInDays"] for rule in rules
    )


def test_log_buckets_deny_requests_without_tls(shadow: Template) -> None:
    for logical_id in STATEFUL_LOGICAL_IDS:
        shadow.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": logical_id},
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                            )
                        ]
                    )
                },
            },
        )


# -- the inference function's side ----------------------------------------------------------------------


def test_inference_function_reads_the_one_configuration_object_and_sends_nothing(
    template: Template,
) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "inference.handler.handler",
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "SHADOW_QUEUE_URL": Match.absent(),
                        "SHADOW_CONFIG_URI": {
                            "Fn::Join": [
                                "",
                                [
                                    "s3://",
                                    {"Fn::ImportValue": "ModelServing-Shadow-LogBucketName"},
                                    f"/{CONFIG_KEY}",
                                ],
                            ]
                        },
                        "SHADOW_CONFIG_TTL_SECONDS": "5",
                        "PREDICTION_LOG_SAMPLE_PERCENT": "10",
                    }
                )
            },
        },
    )
    policies = json.dumps(  # the inference function's (the feedback function's: test_infra_monitoring.py)
        {k: v for k, v in template.find_resources("AWS::IAM::Policy").items() if "Feedback" not in k}
    )
    assert f'{{"Fn::ImportValue": "ModelServing-Shadow-LogBucketName"}}, "/{CONFIG_KEY}"' in policies
    for forbidden in ("sqs:SendMessage", "sqs:ReceiveMessage", "sqs:*", "s3:PutObject", "records/"):
        assert forbidden not in policies


# -- stack, outputs, options, checks -------------------------------------------------------------------


def test_outputs_and_exports(synthesized: SynthesizedApp, shadow: Template) -> None:
    outputs = shadow.to_json()["Outputs"]
    assert set(outputs) == {
        "QueueUrl",
        "QueueArn",
        "DeadLetterQueueUrl",
        "LogBucketName",
        "ConfigUri",
        "FunctionName",
        "DeadLetterAlarmName",
        "MonitorFunctionName",
        "RecorderFunctionArn",
        "RecorderDeadLetterQueueUrl",
        "RecorderDeadLetterAlarmName",
        # Athena over the log bucket (infra/constructs/query.py, docs/queries.md)
        "QueryWorkGroup",
        "QueryDatabase",
        "PredictionLogTable",
        "FeedbackTable",
        "ShadowRecordsTable",
    }
    exported = {name: o["Export"]["Name"] for name, o in outputs.items() if "Export" in o}
    assert exported == {
        "QueueUrl": "ModelServing-Shadow-QueueUrl",
        "QueueArn": "ModelServing-Shadow-QueueArn",
        "LogBucketName": "ModelServing-Shadow-LogBucketName",
        "RecorderFunctionArn": "ModelServing-Shadow-RecorderFunctionArn",
    }
    stack = synthesized.stack(ShadowStack)
    assert [s.stack_name for s in stack.dependencies] == ["ModelServing-ModelStore"]


def test_config_options_reach_the_stack(tuned_app: SynthesizedApp) -> None:
    tuned = Template.from_stack(tuned_app.stack(ShadowStack))
    tuned.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": Match.absent(),
            "ScalingConfig": {"MaximumConcurrency": 2},
        },
    )
    tuned.has_resource_properties("AWS::Lambda::Function", {"Timeout": 20, "Runtime": "python3.13"})
    tuned.has_resource_properties(
        "AWS::SQS::Queue",
        {"VisibilityTimeout": 120, "RedrivePolicy": Match.object_like({"maxReceiveCount": 5})},
    )
    tuned.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [Match.object_like({"Id": "ExpireShadowRecords", "ExpirationInDays": 7})]
                )
            }
        },
    )
    tuned_app.serving_template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"SHADOW_CONFIG_TTL_SECONDS": "2"})}},
    )


@pytest.mark.parametrize("app_name", ["synthesized", "tuned_app"])
def test_cfn_lint_and_cdk_nag_on_the_shadow_stack(app_name: str, request: pytest.FixtureRequest) -> None:
    from infra import nag

    app: SynthesizedApp = request.getfixturevalue(app_name)
    template = Template.from_stack(app.stack(ShadowStack)).to_json()
    problems = [
        f"{m.rule.id} {m.message}"
        for m in lint(json.dumps(template), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
        if m.rule.id not in {"W3005"}
    ]
    assert problems == []
    findings = [
        f"{violation.rule_name}: {[str(r.construct_path) for r in violation.violating_resources]}"
        for pack in nag.rule_packs()
        for violation in pack.validate_scope(app.stack(ShadowStack)).violations
    ]
    assert findings == []
    acknowledged = {
        rule["id"]
        for resource in template["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    }
    assert "AwsSolutions-IAM5[Resource::*]" in acknowledged


def test_the_infra_constants_match_the_functions() -> None:
    assert shadow_construct.CONFIG_KEY == CONFIG_KEY
    assert shadow_construct.RECORDS_PREFIX == RECORDS_PREFIX


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("shadow_batch_size", 0, "serving.shadow_batch_size must be an integer from 1 to 10000"),
        ("shadow_batching_window_seconds", 301, "serving.shadow_batching_window_seconds"),
        ("shadow_timeout_seconds", 901, "serving.shadow_timeout_seconds must be an integer from 1 to 900"),
        ("shadow_memory_mb", 64, "serving.shadow_memory_mb"),
        ("shadow_max_receive_count", 0, "serving.shadow_max_receive_count"),
        ("shadow_max_concurrency", 1, "serving.shadow_max_concurrency must be an integer from 2"),
        ("shadow_record_expiration_days", 0, "serving.shadow_record_expiration_days"),
        ("shadow_config_ttl_seconds", 0, "serving.shadow_config_ttl_seconds"),
    ],
)
def test_invalid_shadow_settings_name_the_key(
    artifacts_dir: Path, key: str, value: Any, expected: str
) -> None:
    assert expected in config_error(artifacts_dir, **{key: value})


def test_a_batch_above_ten_needs_a_batching_window(artifacts_dir: Path) -> None:
    with pytest.raises(ConfigError, match="above 10 needs shadow_batching_window_seconds >= 1"):
        ServingConfig.from_context(
            {
                "model_artifacts_dir": str(artifacts_dir),
                "shadow_batch_size": 11,
                "shadow_batching_window_seconds": 0,
            },
            base_dir=REPO_ROOT,
        )
