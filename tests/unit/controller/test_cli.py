"""`modelctl canary|shift|bluegreen --controller` through Typer's runner against moto: what the
command says when the controller is not deployed, and what it refuses before starting one."""

from __future__ import annotations

import json

from modelctl.render.console import ConsoleReporter, TyperPrompt
from release.controller.steps import run_step
from release.target import TargetFlags
from tests.unit.modelctl.world import World, run_cli


def test_without_the_controller_deployed_the_command_says_so_and_suggests_in_process(world: World) -> None:
    code, output, _ = run_cli(world.factory(), "canary", "2", "--weight", "10", "--controller")
    assert code == 1
    assert "release controller is not deployed" in output and "--in-process" in output
    assert world.alias_routing() == ("1", {})


def test_a_release_in_progress_refuses_a_controller_release_before_it_starts(world: World) -> None:
    session = world.session
    sfn = session.client("stepfunctions")
    role = "arn:aws:iam::123456789012:role/controller"
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    arn = sfn.create_state_machine(name="controller", definition=definition, roleArn=role)["stateMachineArn"]
    factory = world.factory(env={**world.env, "MODELCTL_RELEASE_CONTROLLER": arn})
    code, output, _ = run_cli(factory, "canary", "2", "--weight", "10", "--skip-pre-traffic-check")
    assert code == 0, output
    code, output, _ = run_cli(factory, "canary", "3", "--weight", "10", "--controller")
    assert code == 1 and "in progress" in output, output
    assert sfn.list_executions(stateMachineArn=arn)["executions"] == []


def test_ctrl_c_detaches_and_abort_rolls_back_and_stops_the_execution(world: World) -> None:
    """GIVEN a release started in the controller and detached from with Ctrl-C, WHEN its steps
    move the alias and `modelctl abort` runs, THEN the alias is back and the execution stopped."""
    sfn = world.session.client("stepfunctions")
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    arn = sfn.create_state_machine(
        name="controller", definition=definition, roleArn="arn:aws:iam::123456789012:role/controller"
    )["stateMachineArn"]
    factory = world.factory(env={**world.env, "MODELCTL_RELEASE_CONTROLLER": arn})

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    world.clock.on_sleep.append(interrupt)
    code, output, _ = run_cli(factory, "canary", "2", "--weight", "10", "--controller")
    world.clock.on_sleep.clear()
    assert code == 0, output
    assert "detached" in output and "modelctl abort" in output
    (execution,) = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert execution["status"] == "RUNNING"
    state = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    ctx = factory.context(TargetFlags(), reporter=ConsoleReporter(), prompt=TyperPrompt())
    run_step(ctx, "advance", run_step(ctx, "begin", state))
    assert world.alias_routing() == ("1", {"2": 0.1})
    code, output, _ = run_cli(factory, "abort", "--reason", "enough")
    assert code == 0, output
    assert world.alias_routing() == ("1", {})
    assert sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "ABORTED"
