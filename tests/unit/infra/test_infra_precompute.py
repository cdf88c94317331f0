"""The precompute stack: table, work bucket, functions, the state machine's distributed Map, the
GET /predictions/{id} route on the serving API, cfn-lint and the shared names with the functions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk.assertions import Match, Template
from cfnlint.api import ManualArgs, lint

from common import layout
from common.precompute import table as precompute_table
from infra.constructs import precompute as construct
from infra.stacks import PrecomputeStack
from tests.unit.infra.infra_support import SynthesizedApp, synthesize
from tests.unit.infra.infra_support import state_machine_definition as definition
from tests.unit.infra.test_infra_compliance import ACCEPTED_CFN_LINT_WARNINGS


@pytest.fixture(scope="module")
def precompute_template(synthesized: SynthesizedApp) -> Template:
    return Template.from_stack(synthesized.stack(PrecomputeStack))


def test_names_shared_with_the_functions_are_equal() -> None:
    assert construct.RUNS_PREFIX == layout.RUNS_PREFIX
    assert construct.INPUTS_PREFIX == layout.INPUTS_PREFIX
    assert (construct.PARTITION_KEY, construct.SORT_KEY, construct.TTL_ATTRIBUTE) == (
        precompute_table.PARTITION_KEY,
        precompute_table.SORT_KEY,
        precompute_table.TTL_ATTRIBUTE,
    )


def test_table_is_on_demand_encrypted_recoverable_with_ttl(precompute_template: Template) -> None:
    precompute_template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "SSESpecification": {"SSEEnabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
            },
            "DeletionPolicy": "Retain",
        },
    )


def test_run_files_expire_and_the_bucket_is_private(precompute_template: Template) -> None:
    precompute_template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": Match.object_like({"BlockPublicAcls": True}),
            "LifecycleConfiguration": {
                "Rules": [Match.object_like({"Prefix": "runs/", "ExpirationInDays": 7, "Status": "Enabled"})]
            },
        },
    )


def test_state_machine_is_plan_then_distributed_map_then_switch(precompute_template: Template) -> None:
    document = definition(precompute_template)
    states = document["States"]
    assert document["StartAt"] == "Plan"
    assert states["Plan"]["Next"] == "ScoreChunks" and states["ScoreChunks"]["Next"] == "Switch"
    score = states["ScoreChunks"]
    assert score["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert score["ItemReader"]["Parameters"]["Key.$"] == "$.plan.manifest_key"
    assert score["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
    assert score["MaxConcurrency"] == 20
    assert score["ResultPath"] is None
    assert states["Plan"]["Parameters"] == {"run_id.$": "$$.Execution.Name", "request.$": "$"}
    assert states["Switch"]["InputPath"] == "$.plan"
    for name in ("Plan", "ScoreChunks", "Switch"):
        assert states[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}
        ]
    assert states["Failed"]["Type"] == "Fail"
    throttling = score["ItemProcessor"]["States"]["ScoreChunk"]["Retry"]
    assert any("Lambda.TooManyRequestsException" in r["ErrorEquals"] for r in throttling)
    precompute_template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL"}),
        },
    )


def test_functions_get_only_what_they_use(precompute_template: Template) -> None:
    policies = precompute_template.find_resources("AWS::IAM::Policy")
    actions = {
        action
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert "dynamodb:BatchWriteItem" in actions and "dynamodb:PutItem" in actions
    assert not {a for a in actions if a.startswith("dynamodb:") and "*" in a}
    assert not {"dynamodb:DeleteItem", "dynamodb:Scan", "s3:DeleteObject"} & actions


def test_lookup_is_invocable_by_api_gateway_on_its_path_only(precompute_template: Template) -> None:
    (permission,) = precompute_template.find_resources("AWS::Lambda::Permission").values()
    assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    assert "/GET/predictions/*" in json.dumps(permission["Properties"]["SourceArn"])


def test_outputs_name_what_modelctl_and_the_retraining_workflow_need(precompute_template: Template) -> None:
    outputs = precompute_template.to_json()["Outputs"]
    assert {
        "StateMachineArn",
        "PredictionsTableName",
        "WorkBucketName",
        "LookupFunctionArn",
        "MaxItems",
    } <= set(outputs)
    assert outputs["MaxItems"]["Value"] == "1000000"


def test_serving_api_routes_predictions_with_the_same_key_and_throttling(template: Template) -> None:
    template.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": "{id}"})
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "GET",
            "ApiKeyRequired": True,
            "RequestParameters": {"method.request.path.id": True},
            "Integration": Match.object_like({"Type": "AWS_PROXY"}),
        },
    )
    methods = template.find_resources("AWS::ApiGateway::Method", {"Properties": {"HttpMethod": "GET"}})
    lookup = [m for m in methods.values() if "LookupFunctionArn" in json.dumps(m)]
    assert len(lookup) == 1


def test_cfn_lint_finds_no_errors_in_the_precompute_template(synthesized: SynthesizedApp) -> None:
    template = Template.from_stack(synthesized.stack(PrecomputeStack)).to_json()
    matches = lint(json.dumps(template), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    problems = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id not in ACCEPTED_CFN_LINT_WARNINGS]
    assert problems == []


def test_live_inference_only_when_precompute_is_disabled(
    artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    app = synthesize(artifacts_dir, tmp_path_factory.mktemp("cdk.out"), precompute_enabled="false")
    assert not any(isinstance(child, PrecomputeStack) for child in app.app.node.children)
    assert not app.serving_template.find_resources(
        "AWS::ApiGateway::Resource", {"Properties": {"PathPart": "{id}"}}
    )


def test_the_scoring_function_has_reserved_concurrency_unless_configured_off(
    precompute_template: Template, open_app: SynthesizedApp
) -> None:
    """Reserved concurrency guarantees and caps a batch run: it can never take the live function's share."""
    precompute_template.has_resource_properties(
        "AWS::Lambda::Function", {"Handler": construct.SCORE_HANDLER, "ReservedConcurrentExecutions": 20}
    )
    Template.from_stack(open_app.stack(PrecomputeStack)).has_resource_properties(
        "AWS::Lambda::Function",
        {"Handler": construct.SCORE_HANDLER, "ReservedConcurrentExecutions": Match.absent()},
    )
