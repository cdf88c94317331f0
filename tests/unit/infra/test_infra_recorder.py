"""The prediction log's durable path in the templates (contract 2 of issue 16): the inference
function logs to its own log group, which a subscription filter on the served lines connects to the
recorder (with the invoke permission for CloudWatch Logs, scoped to that group); the recorder has its
async retries, its dead-letter queue and the queue's alarm, and may write prediction-log/* and send
to the shadow queue only."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match, Template

from infra.constructs.recorder import SERVED_LINES

RECORDER_ARN = {"Fn::ImportValue": "ModelServing-Shadow-RecorderFunctionArn"}


def logical_id(template: Template, kind: str, properties: dict[str, object]) -> str:
    (found,) = template.find_resources(kind, {"Properties": properties})
    return str(found)


def test_the_inference_function_s_log_group_delivers_its_served_lines_to_the_recorder(
    template: Template,
) -> None:
    function = logical_id(template, "AWS::Lambda::Function", {"Handler": "inference.handler.handler"})
    log_group = template.find_resources("AWS::Lambda::Function")[function]["Properties"]["LoggingConfig"][
        "LogGroup"
    ]
    group_id = log_group["Ref"]
    assert template.find_resources("AWS::Logs::LogGroup")[group_id]
    template.has_resource_properties(
        "AWS::Logs::SubscriptionFilter",
        {"LogGroupName": {"Ref": group_id}, "FilterPattern": SERVED_LINES, "DestinationArn": RECORDER_ARN},
    )
    assert SERVED_LINES == '{ $.message = "prediction served" }'
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": RECORDER_ARN,
            "Principal": "logs.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [group_id, "Arn"]},
            "SourceAccount": {"Ref": "AWS::AccountId"},
        },
    )
    (subscription,) = template.find_resources("AWS::Logs::SubscriptionFilter").values()
    (permission,) = template.find_resources(
        "AWS::Lambda::Permission", {"Properties": {"Principal": "logs.amazonaws.com"}}
    )
    assert permission in subscription["DependsOn"]


def test_the_recorder_retries_and_keeps_what_keeps_failing_in_its_dlq(shadow: Template) -> None:
    recorder = logical_id(shadow, "AWS::Lambda::Function", {"Handler": "recorder.handler.handler"})
    properties = shadow.find_resources("AWS::Lambda::Function")[recorder]["Properties"]
    dlq_arn = properties["DeadLetterConfig"]["TargetArn"]
    assert dlq_arn["Fn::GetAtt"][1] == "Arn" and dlq_arn["Fn::GetAtt"][0] in shadow.find_resources(
        "AWS::SQS::Queue"
    )
    shadow.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": recorder}, "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600},
    )
    shadow.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Threshold": 1,
            "Dimensions": [
                {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_arn["Fn::GetAtt"][0], "QueueName"]}}
            ],
        },
    )
    variables = properties["Environment"]["Variables"]
    assert set(variables) >= {"LOG_BUCKET", "SHADOW_QUEUE_URL", "POWERTOOLS_METRICS_NAMESPACE"}


def test_the_recorder_may_write_prediction_log_and_send_to_the_shadow_queue_only(shadow: Template) -> None:
    recorder = logical_id(shadow, "AWS::Lambda::Function", {"Handler": "recorder.handler.handler"})
    role = shadow.find_resources("AWS::Lambda::Function")[recorder]["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [
        p
        for p in shadow.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    text = json.dumps(statements)
    assert '"/prediction-log/*"' in text and "s3:PutObject" in text
    assert "s3:GetObject" not in text and "s3:DeleteObject" not in text and '"/records/*"' not in text
    sends = [s for s in statements if "sqs:SendMessage" in json.dumps(s["Action"])]
    assert sends and all(s["Resource"] != "*" for s in sends)
    shadow.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [Match.object_like({"Id": "ExpirePredictionRecords", "Prefix": "prediction-log/"})]
                )
            }
        },
    )
