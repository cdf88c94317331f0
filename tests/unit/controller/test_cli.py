"""`modelctl canary|shift|bluegreen` in the release controller (the default) through Typer's runner
against moto: what the command says when the controller is not deployed, what it refuses before
starting one, `rollback` during a controller release, `approve`/`reject` and `status` of a wait."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from unittest.mock import patch

from modelctl.render.console import ConsoleReporter, TyperPrompt
from release.controller.steps import run_step
from release.controller.takeover import CONTROLLER_HOLDER
from release.target import TargetFlags
from tests.unit.controller.test_approval import FakeStepFunctions
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
    code, output, _ = run_cli(
        factory, "canary", "--in-process", "2", "--weight", "10", "--skip-pre-traffic-check"
    )
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


def controller_factory(world: World) -> tuple[Any, str, Any]:
    sfn = world.session.client("stepfunctions")
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    arn = sfn.create_state_machine(
        name="controller", definition=definition, roleArn="arn:aws:iam::123456789012:role/controller"
    )["stateMachineArn"]
    return sfn, arn, world.factory(env={**world.env, "MODELCTL_RELEASE_CONTROLLER": arn})


def running_in_controller(world: World, extra: tuple[str, ...] = ()) -> tuple[Any, str, Any, dict[str, Any]]:
    """A shift started by the CLI (no flag: the controller is the default) and detached from, its
    first steps run as the controller runs them (its lease names the release controller)."""
    sfn, arn, factory = controller_factory(world)

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    world.clock.on_sleep.append(interrupt)
    code, output, _ = run_cli(factory, "shift", "2", "--steps", "25,50,100", "--bake", "1m", *extra)
    world.clock.on_sleep.clear()
    assert code == 0 and "runs in the release controller" in output, output
    (execution,) = sfn.list_executions(stateMachineArn=arn)["executions"]
    state = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    ctx = factory.context(TargetFlags(), reporter=ConsoleReporter(), prompt=TyperPrompt())
    controller_ctx = replace(ctx, identity=lambda: f"tester {CONTROLLER_HOLDER}")
    state = run_step(controller_ctx, "advance", run_step(controller_ctx, "begin", state))
    return sfn, execution["executionArn"], controller_ctx, state


def test_rollback_during_a_controller_release_aborts_it_and_stops_the_execution(world: World) -> None:
    sfn, execution_arn, _, _ = running_in_controller(world)
    assert world.alias_routing() == ("1", {"2": 0.25})
    factory = world.factory(env={**world.env, "MODELCTL_RELEASE_CONTROLLER": state_machine_of(execution_arn)})
    code, output, _ = run_cli(factory, "rollback", "--reason", "bad")
    assert code == 0, output
    assert "runs in the release controller" in output and "stopped its execution" in output
    assert world.alias_routing() == ("1", {})
    assert sfn.describe_execution(executionArn=execution_arn)["status"] == "ABORTED"
    assert ("abort", "rolled back") in world.actions()
    assert world.release_lock().holder() is None


def test_rollback_while_another_terminal_holds_the_lock_is_still_refused(world: World) -> None:
    world.release_lock().acquire("someone", "shift v3")
    code, output, _ = run_cli(world.factory(), "rollback")
    assert code == 1 and "another release command is running" in output, output


def test_approve_and_reject_from_the_cli(world: World) -> None:
    """GIVEN a shift waiting for approval at 50%, WHEN `approve` runs, THEN the token gets the
    decision; `reject` with nothing waiting any more is refused; `status` shows the wait."""
    _, execution_arn, ctx, state = running_in_controller(world, ("--approve-at", "50"))
    world.clock.advance(61)
    state = run_step(ctx, "advance", run_step(ctx, "check", state))
    world.clock.advance(61)
    state = run_step(ctx, "check", state)
    assert state["release"]["next"] == "approve"
    state["task_token"] = "token-1"
    run_step(ctx, "await_approval", state)
    factory = world.factory(env={**world.env, "MODELCTL_RELEASE_CONTROLLER": state_machine_of(execution_arn)})
    code, output, _ = run_cli(factory, "status")
    assert code == 0 and "waiting for approval" in output and "modelctl approve" in output, output
    fake, real = FakeStepFunctions(), factory.clients.client

    def clients(name: str) -> Any:
        return fake if name == "stepfunctions" else real(name)

    with patch.object(factory.clients, "client", clients):
        code, output, _ = run_cli(factory, "approve", "--reason", "fine")
    assert code == 0 and "approved: release" in output, output
    ((kind, call),) = fake.calls
    assert kind == "success" and call["taskToken"] == "token-1"
    assert json.loads(call["output"])["approved"] is True and json.loads(call["output"])["reason"] == "fine"
    with patch.object(factory.clients, "client", clients):
        code, output, _ = run_cli(factory, "reject")
    assert code == 0 and "rolls back" in output, output
    assert fake.calls[-1][0] == "failure" and fake.calls[-1][1]["error"] == "ReleaseRejected"


def test_approve_with_no_release_in_progress_is_refused(world: World) -> None:
    code, output, _ = run_cli(world.factory(), "approve")
    assert code == 1 and "nothing waits for approval" in output, output


def test_approve_at_is_refused_in_process(world: World) -> None:
    code, output, _ = run_cli(
        world.factory(), "shift", "2", "--steps", "50,100", "--in-process", "--approve-at", "50"
    )
    assert code == 1 and "--approve-at runs in the release controller only" in output, output


def state_machine_of(execution_arn: str) -> str:
    return execution_arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
