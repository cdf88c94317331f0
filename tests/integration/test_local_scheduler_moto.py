"""The local scheduler against moto: an enabled schedule starts its state machine when due."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
from moto import mock_aws

from localcloud.scheduler import Scheduler


@mock_aws
def test_enabled_rate_rule_starts_an_execution_when_due_and_disabled_rules_do_not() -> None:
    events = boto3.client("events", region_name="us-east-1")
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    role = "arn:aws:iam::123456789012:role/sfn"
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    machine = sfn.create_state_machine(name="retrain", definition=definition, roleArn=role)["stateMachineArn"]
    events.put_rule(Name="on", ScheduleExpression="rate(5 minutes)", State="ENABLED")
    events.put_rule(Name="off", ScheduleExpression="rate(5 minutes)", State="DISABLED")
    for name in ("on", "off"):
        events.put_targets(Rule=name, Targets=[{"Id": "t", "Arn": machine, "RoleArn": role}])
    now = [datetime(2026, 11, 22, 10, 0, tzinfo=UTC)]
    invoked: list[tuple[str, str, bytes]] = []
    scheduler = Scheduler(
        events,
        sfn,
        lambda f, q, e: invoked.append((f, q, e)),
        region="us-east-1",
        account="123456789012",
        clock=lambda: now[0],
    )
    scheduler.tick()  # learns the schedule: next fire at 10:05
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []
    now[0] += timedelta(minutes=4)
    scheduler.tick()
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []
    now[0] += timedelta(minutes=1, seconds=1)
    scheduler.tick()
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert len(executions) == 1
    assert scheduler.fired == [("on", machine)]
    started = sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(started["input"])["detail-type"] == "Scheduled Event"
    now[0] += timedelta(minutes=5)
    scheduler.tick()  # the next fire is a second, distinctly named execution
    names = {e["name"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    assert len(names) == 2 and all(name.startswith("on-2026") for name in names), names
