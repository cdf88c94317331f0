"""Provisioning a synthesized-style template into moto: intrinsics, ordering, idempotency."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from localcloud.aws import AwsClients
from localcloud.provision import physical_name
from localcloud.provision.provisioner import Provisioner
from localcloud.template import Resolver, TemplateError

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": 1209600}},
        "Queue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "VisibilityTimeout": 180,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]},
                    "maxReceiveCount": 3,
                },
            },
        },
        "Logs": {"Type": "AWS::S3::Bucket", "Properties": {"VersioningConfiguration": {"Status": "Enabled"}}},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
        },
        "Machine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                "DefinitionString": {
                    "Fn::Join": [
                        "",
                        [
                            '{"StartAt":"Notify","States":{"Notify":{"Type":"Pass",',
                            '"Result":"${Topic}","End":true}}}',
                        ],
                    ]
                },
                "DefinitionSubstitutions": {"Topic": {"Ref": "Topic"}},
            },
        },
        "Schedule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "ScheduleExpression": "rate(7 days)",
                "State": "DISABLED",
                "Targets": [
                    {"Id": "Target0", "Arn": {"Ref": "Machine"}, "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]}}
                ],
            },
        },
    },
    "Outputs": {
        "QueueUrl": {"Value": {"Ref": "Queue"}},
        "BucketArn": {"Value": {"Fn::Sub": "${Logs.Arn}/dt=*"}},
    },
}


@pytest.fixture()
def assembly(tmp_path: Path) -> Path:
    (tmp_path / "Test.template.json").write_text(json.dumps(TEMPLATE))
    manifest = {
        "artifacts": {
            "Test": {
                "type": "aws:cloudformation:stack",
                "properties": {"templateFile": "Test.template.json", "stackName": "Test"},
            }
        }
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


@pytest.fixture()
def provisioner(assembly: Path, tmp_path: Path) -> Iterator[Provisioner]:
    with mock_aws():
        yield Provisioner(
            AwsClients(), cdk_out=assembly, state_dir=tmp_path / "state", code_builder=lambda name: tmp_path
        )


def test_every_resource_is_created_with_the_templates_settings(provisioner: Provisioner) -> None:
    deployment = provisioner.provision()
    clients = provisioner.clients
    queue_url = deployment.output("QueueUrl")
    attributes = clients.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 3 and redrive["deadLetterTargetArn"].endswith(
        physical_name("Test", "Dlq", max_length=75)
    )
    assert attributes["VisibilityTimeout"] == "180"
    bucket = physical_name("Test", "Logs", max_length=63, lower=True)
    assert clients.s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert deployment.output("BucketArn") == f"arn:aws:s3:::{bucket}/dt=*"
    machine = deployment.of_type("AWS::StepFunctions::StateMachine")[0]
    topic_arn = deployment.of_type("AWS::SNS::Topic")[0].physical_id
    assert machine.local["definition"]["States"]["Notify"]["Result"] == topic_arn
    rule = clients.client("events").describe_rule(Name=deployment.of_type("AWS::Events::Rule")[0].physical_id)
    assert rule["ScheduleExpression"] == "rate(7 days)" and rule["State"] == "DISABLED"
    table = deployment.of_type("AWS::DynamoDB::Table")[0].physical_id
    assert clients.client("dynamodb").describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"


def test_provisioning_twice_changes_nothing(provisioner: Provisioner) -> None:
    first = provisioner.provision()
    assert first.changes > 0
    assert provisioner.provision().changes == 0


def test_unknown_references_are_clear_errors() -> None:
    resolver = Resolver(region="us-east-1", account="123456789012", stack_name="S")
    with pytest.raises(TemplateError, match="not provisioned"):
        resolver.resolve({"Ref": "Missing"})
    with pytest.raises(TemplateError, match="no stack exports"):
        resolver.resolve({"Fn::ImportValue": "Nope"})
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}) == "b"
    assert resolver.resolve({"Fn::Sub": ["${A}-${AWS::Region}", {"A": "x"}]}) == "x-us-east-1"
