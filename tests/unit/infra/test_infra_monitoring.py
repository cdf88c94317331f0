"""Monitoring in the stacks: POST /feedback on the inference API (same key, validator) served by the
feedback function with least privilege; the monitor function on its schedule; prediction logging
wired into the inference function; the config keys; cfn-lint and cdk-nag on both stacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from cfnlint.api import ManualArgs, lint

from common.layout import FEEDBACK_PREFIX
from infra.constructs import feedback as feedback_construct
from infra.stacks import ShadowStack
from tests.unit.infra.infra_support import SynthesizedApp, config_error, synthesize
from tests.unit.infra.test_infra_shadow import only, statements

LOG_BUCKET = {"Fn::ImportValue": "ModelServing-Shadow-LogBucketName"}


@pytest.fixture(scope="module")
def tuned_app(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    return synthesize(
        artifacts_dir,
        tmp_path_factory.mktemp("cdk.out"),
        prediction_log_sample_percent="2.5",
        monitor_schedule="rate(15 minutes)",
        monitor_window_hours="6",
        monitor_metric="balanced_accuracy",
        monitor_min_labelled="50",
        feedback_max_items="20",
        api_auth="iam",
    )


def logical_id(template: Template, resource_type: str, props: Any) -> str:
    return only(template, resource_type, props)[0]


def test_post_feedback_is_a_route_of_the_api_with_the_key_and_the_validator(template: Template) -> None:
    resource_id = logical_id(template, "AWS::ApiGateway::Resource", {"PathPart": "feedback"})
    function_id = logical_id(
        template, "AWS::Lambda::Function", Match.object_like({"Handler": "feedback.handler.handler"})
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "ResourceId": {"Ref": resource_id},
            "ApiKeyRequired": True,
            "AuthorizationType": "NONE",
            "RequestValidatorId": Match.any_value(),
            "Integration": Match.object_like(
                {
                    "Type": "AWS_PROXY",
                    "Uri": {"Fn::Join": ["", Match.array_with([{"Fn::GetAtt": [function_id, "Arn"]}])]},
                }
            ),
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {"FunctionName": {"Fn::GetAtt": [function_id, "Arn"]}, "Principal": "apigateway.amazonaws.com"},
    )


def test_the_feedback_function_reads_model_metadata_and_writes_feedback_only(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "feedback.handler.handler",
            "Environment": {
                "Variables": Match.object_like(
                    {"LOG_BUCKET": LOG_BUCKET, "FEEDBACK_MAX_ITEMS": "1000", "MAX_BODY_BYTES": "262144"}
                )
            },
        },
    )
    role_id = logical_id(
        template, "AWS::IAM::Role", Match.object_like({"Description": Match.string_like_regexp("^Feedback")})
    )
    granted = {
        (s["Action"] if isinstance(s["Action"], str) else ",".join(sorted(s["Action"]))): json.dumps(
            s["Resource"]
        )
        for s in statements(template, role_id)
    }
    assert set(granted) == {
        "logs:CreateLogStream,logs:PutLogEvents",
        "s3:GetObject",
        "s3:PutObject",
        "xray:PutTelemetryRecords,xray:PutTraceSegments",
    }
    assert granted["s3:PutObject"].endswith(f'"/{FEEDBACK_PREFIX}*"]]}}')
    assert json.dumps(LOG_BUCKET) in granted["s3:PutObject"]
    assert granted["s3:GetObject"].endswith('"/models/*"]]}')


def test_the_inference_function_logs_predictions_at_the_configured_rate(tuned_app: SynthesizedApp) -> None:
    tuned_app.serving_template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "inference.handler.handler",
            "Environment": {"Variables": Match.object_like({"PREDICTION_LOG_SAMPLE_PERCENT": "2.5"})},
        },
    )


def test_the_monitor_runs_on_its_schedule_and_puts_metrics_in_its_namespace_only(shadow: Template) -> None:
    function_id = logical_id(
        shadow, "AWS::Lambda::Function", Match.object_like({"Handler": "monitor.handler.handler"})
    )
    shadow.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(1 hour)",
            "State": "ENABLED",
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [function_id, "Arn"]}})],
        },
    )
    shadow.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "monitor.handler.handler",
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "METRICS_NAMESPACE": "ModelServing",
                        "SERVICE_NAME": "inference",
                        "WINDOW_HOURS": "24",
                        "QUALITY_METRIC": "f1_macro",
                        "MIN_LABELLED": "20",
                    }
                )
            },
        },
    )
    role_id = logical_id(
        shadow, "AWS::IAM::Role", Match.object_like({"Description": Match.string_like_regexp("^Monitor")})
    )
    granted = statements(shadow, role_id)
    put = next(s for s in granted if s["Action"] == "cloudwatch:PutMetricData")
    assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": "ModelServing"}}
    listing = next(s for s in granted if s["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {
        "StringLike": {"s3:prefix": ["prediction-log/*", "records/*", "predictions/*", "feedback/*"]}
    }
    actions = {a for s in granted for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not {"s3:PutObject", "s3:DeleteObject"} & actions


def test_failed_monitor_runs_go_to_its_dead_letter_queue_with_an_alarm(shadow: Template) -> None:
    (queue_id,) = [key for key in shadow.find_resources("AWS::SQS::Queue") if key.startswith("Monitor")]
    shadow.has_resource_properties(
        "AWS::SQS::Queue", {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 24 * 3600}
    )
    shadow.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "monitor.handler.handler",
            "DeadLetterConfig": {"TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}},
        },
    )
    shadow.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
            "Threshold": 1,
        },
    )


def test_config_reaches_the_monitor_and_feedback(tuned_app: SynthesizedApp) -> None:
    tuned = Template.from_stack(tuned_app.stack(ShadowStack))
    tuned.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(15 minutes)"})
    tuned.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "monitor.handler.handler",
            "Environment": {
                "Variables": Match.object_like(
                    {"WINDOW_HOURS": "6", "QUALITY_METRIC": "balanced_accuracy", "MIN_LABELLED": "50"}
                )
            },
        },
    )
    tuned_app.serving_template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {"HttpMethod": "POST", "AuthorizationType": "AWS_IAM", "ApiKeyRequired": False},
    )
    tuned_app.serving_template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "feedback.handler.handler",
            "Environment": {"Variables": Match.object_like({"FEEDBACK_MAX_ITEMS": "20"})},
        },
    )


@pytest.mark.parametrize("app_name", ["synthesized", "tuned_app"])
def test_cfn_lint_and_cdk_nag_on_both_stacks(app_name: str, request: pytest.FixtureRequest) -> None:
    from infra import nag

    app: SynthesizedApp = request.getfixturevalue(app_name)
    for stack in (app.stack(ShadowStack), app.serving):
        template = Template.from_stack(stack).to_json()
        problems = [
            f"{m.rule.id} {m.message}"
            for m in lint(json.dumps(template), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
            if m.rule.id not in {"W3005", "W6001"}  # W6001: the serving stack's ModelBucketName output
        ]
        assert problems == []
        findings = [
            f"{violation.rule_name}: {[str(r.construct_path) for r in violation.violating_resources]}"
            for pack in nag.rule_packs()
            for violation in pack.validate_scope(stack).violations
        ]
        assert findings == []


def test_the_infra_constants_match_the_functions() -> None:
    assert feedback_construct.FEEDBACK_PREFIX == FEEDBACK_PREFIX


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("prediction_log_sample_percent", 101, "serving.prediction_log_sample_percent must be a percentage"),
        ("prediction_log_expiration_days", 0, "serving.prediction_log_expiration_days"),
        ("feedback_max_items", 0, "serving.feedback_max_items"),
        ("monitor_schedule", "every hour", "serving.monitor_schedule must be an EventBridge"),
        ("monitor_window_hours", 0, "serving.monitor_window_hours"),
        ("monitor_metric", "auc", "serving.monitor_metric must be one of accuracy"),
        ("monitor_min_labelled", 0, "serving.monitor_min_labelled"),
    ],
)
def test_invalid_monitoring_settings_name_the_key(
    artifacts_dir: Path, key: str, value: Any, expected: str
) -> None:
    assert expected in config_error(artifacts_dir, **{key: value})
