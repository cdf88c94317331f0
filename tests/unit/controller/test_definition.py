"""The release controller's state machine as CDK synthesizes it: the states and their order, every
task caught into the cleanup, the Wait reading its seconds from the state, the timeout, the role
scoped to the serving function, cfn-lint and cdk-nag clean."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template
from cfnlint.api import ManualArgs, lint

from tests.unit.infra.infra_support import release_controller_stack
from tests.unit.infra.infra_support import state_machine_definition as definition

TASKS = ("Begin", "Advance", "Check", "Finish", "RollBack", "Approved", "Decline")


@pytest.fixture(scope="module")
def stack() -> cdk.Stack:
    return release_controller_stack(fleet_alarm_names=["errors", "rate", "p99"])


@pytest.fixture(scope="module")
def template(stack: cdk.Stack) -> Template:
    return Template.from_stack(stack)


def test_the_states_run_begin_then_steps_bakes_and_checks(template: Template) -> None:
    states = definition(template)["States"]
    assert definition(template)["StartAt"] == "Begin"
    assert states["Begin"]["Next"] == "AfterBegin"
    assert {c["StringEquals"]: c["Next"] for c in states["AfterBegin"]["Choices"]}["step"] == "Advance"
    assert states["Advance"]["Next"] == "AfterStep"
    assert states["Bake"] == {"Type": "Wait", "SecondsPath": "$.release.wait_s", "Next": "Check"}
    assert states["Check"]["Next"] == "AfterCheck"
    routes = {c["StringEquals"]: c["Next"] for c in states["AfterCheck"]["Choices"]}
    assert routes == {
        "bake": "Bake",
        "step": "Advance",
        "fired": "RollBack",
        "aborted": "Aborted",
        "approve": "AwaitApproval",
    }
    assert states["AfterCheck"]["Default"] == "Finish"
    assert states["RollBack"]["Next"] == "GateFired"
    assert states["Finish"]["Next"] == "Released"


def test_every_task_is_caught_into_the_cleanup(template: Template) -> None:
    states = definition(template)["States"]
    for name in TASKS:
        (catch,) = states[name]["Catch"]
        assert catch == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "CleanUp"}
        assert states[name]["Parameters"]["state.$"] == "$"
    assert states["CleanUp"]["Next"] == "Failed"
    assert states["CleanUp"]["Catch"][0]["Next"] == "Failed"


def test_approval_waits_for_a_task_token_with_its_own_timeout(template: Template) -> None:
    """`modelctl approve` answers the token (on to Approved); reject or the timeout go to Decline,
    which rolls back; any other failure goes to the cleanup."""
    states = definition(template)["States"]
    wait = states["AwaitApproval"]
    assert wait["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
    assert wait["Parameters"]["Payload"] == {
        "step": "await_approval",
        "state.$": "$",
        "token.$": "$$.Task.Token",
    }
    assert wait["TimeoutSecondsPath"] == "$.release.approval_timeout_s"
    assert wait["ResultPath"] == "$.approval" and wait["Next"] == "Approved"
    declined, failed = wait["Catch"]
    assert declined == {
        "ErrorEquals": ["ReleaseRejected", "States.Timeout"],
        "ResultPath": "$.approval_error",
        "Next": "Decline",
    }
    assert failed["Next"] == "CleanUp"
    assert states["Approved"]["Next"] == "AfterApproval"
    assert states["Decline"]["Next"] == "AfterDecline"
    assert states["AfterDecline"]["Default"] == "NotApproved"


def test_a_failed_cleanup_lands_in_a_queue_with_an_alarm(template: Template) -> None:
    """The cleanup is the one asynchronous invocation: what fails after its retries (or cannot be
    delivered by EventBridge) is kept in a queue, and an alarm says so."""
    queues = template.find_resources("AWS::SQS::Queue")
    (queue,) = queues
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}},
        },
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {"Targets": [Match.object_like({"DeadLetterConfig": {"Arn": {"Fn::GetAtt": [queue, "Arn"]}}})]},
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
            "Threshold": 1,
        },
    )


def test_the_execution_has_a_timeout_and_is_standard(template: Template) -> None:
    assert definition(template)["TimeoutSeconds"] == 24 * 3600
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {"StateMachineType": "STANDARD"})


def test_ended_executions_are_sent_to_the_cleanup(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.states"],
                "detail": Match.object_like({"status": ["TIMED_OUT", "FAILED", "ABORTED"]}),
            }
        },
    )


def test_the_function_may_change_only_the_serving_alias(template: Template) -> None:
    policies = template.find_resources("AWS::IAM::Policy")
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    lambda_actions = {
        action
        for s in statements
        for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        if action.startswith("lambda:")
    }
    assert "lambda:UpdateAlias" in lambda_actions
    assert not {"lambda:PublishVersion", "lambda:UpdateFunctionConfiguration", "lambda:*"} & lambda_actions
    alias_statement = next(s for s in statements if "lambda:UpdateAlias" in s["Action"])
    assert json.dumps(alias_statement["Resource"]).count("serving-fn") == 2


def test_the_state_machine_role_only_invokes_the_controller(template: Template) -> None:
    roles = template.find_resources("AWS::IAM::Role")
    (machine_role,) = [k for k, r in roles.items() if "states" in json.dumps(r["Properties"])]
    policies = template.find_resources("AWS::IAM::Policy")
    actions = {
        a
        for p in policies.values()
        if machine_role in json.dumps(p["Properties"]["Roles"])
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert {a for a in actions if a.startswith("lambda:")} == {"lambda:InvokeFunction"}
    assert not {a for a in actions if a.startswith(("dynamodb:", "cloudwatch:Put", "s3:"))}


def test_cdk_nag_finds_nothing_unacknowledged(stack: cdk.Stack) -> None:
    errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp(".*"))
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("AwsSolutions|Serverless")
    )
    assert errors == [] and warnings == []


def test_cfn_lint_passes(template: Template, tmp_path: Path) -> None:
    path = tmp_path / "controller.json"
    path.write_text(json.dumps(template.to_json()))
    matches = lint(path.read_text(), config=ManualArgs(regions=["eu-west-1"]))
    assert [m for m in matches if m.rule.id.startswith("E")] == []
