"""The controller's steps against moto, driven in the order the state machine runs them: the
weights, the bakes' gate checks, a firing gate, an abort, a failure's cleanup, the lock."""

from __future__ import annotations

from typing import Any

import pytest

from release.context import ReleaseContext
from release.controller.execution import ControllerOptions, execution_input
from release.controller.steps import run_step
from release.errors import LockHeldError, RefusedError
from release.plan import shift_plan
from release.target import TargetFlags
from tests.unit.modelctl.world import No, Notes, World


def context(world: World) -> ReleaseContext:
    return world.factory().context(TargetFlags(), reporter=Notes(), prompt=No())


def started(world: World, release_id: str = "r1", bake_s: float = 30.0) -> dict[str, Any]:
    plan = shift_plan("2", "1", [25, 50, 100], bake_s)
    options = ControllerOptions(reason="test", check_every_s=10)
    return execution_input(release_id, "tester", plan, options)


def step(world: World, name: str, state: dict[str, Any]) -> dict[str, Any]:
    return run_step(context(world), name, state)


def test_a_shift_moves_step_by_step_and_bakes_behind_the_gates(world: World) -> None:
    state = step(world, "begin", started(world))
    assert world.release_lock().holder() is not None
    state = step(world, "advance", state)
    assert world.alias_routing() == ("1", {"2": 0.25})
    assert state["release"]["next"] == "bake" and state["release"]["wait_s"] == 10
    state = step(world, "check", state)
    assert state["release"]["next"] == "bake"
    world.clock.advance(31)
    state = step(world, "check", state)
    assert state["release"]["next"] == "step"
    state = step(world, "advance", state)
    world.clock.advance(31)
    state = step(world, "check", state)
    state = step(world, "advance", state)
    assert world.alias_routing() == ("2", {})
    assert state["release"]["next"] == "finish"
    state = step(world, "finish", state)
    assert world.release_lock().holder() is None
    assert world.state_item().get("release_id") is None
    assert ("shift", "completed") in world.actions()


def test_a_firing_gate_rolls_back_and_releases_the_lock(world: World) -> None:
    state = step(world, "advance", step(world, "begin", started(world)))
    world.set_alarm(world.gate_alarm("2", "errors"), "ALARM")
    state = step(world, "check", state)
    assert state["release"]["next"] == "fired"
    step(world, "roll_back", state)
    assert world.alias_routing() == ("1", {})
    assert world.release_lock().holder() is None
    assert ("shift rollback", "rolled back") in world.actions()
    assert world.alarm_names() == []  # the gates are deleted


def test_an_abort_ends_the_execution_without_touching_the_alias(world: World) -> None:
    state = step(world, "advance", step(world, "begin", started(world)))
    ctx = context(world)
    ctx.store.request_abort("r1", "someone", "stop")
    state = step(world, "check", state)
    assert state["release"]["next"] == "aborted"
    assert world.alias_routing() == ("1", {"2": 0.25})  # the aborting command moves it back


def test_a_second_release_is_refused_while_one_runs(world: World) -> None:
    step(world, "begin", started(world))
    with pytest.raises(RefusedError, match="in progress"):
        step(world, "begin", started(world, "r2"))


def test_the_lock_held_by_another_command_refuses_the_release(world: World) -> None:
    world.release_lock().acquire("other", "canary v3")
    with pytest.raises(LockHeldError):
        step(world, "begin", started(world))
    assert world.state_item().get("release_id") is None


def test_the_cleanup_rolls_back_and_releases_the_lock(world: World) -> None:
    state = step(world, "advance", step(world, "begin", started(world)))
    state["error"] = {"Error": "States.TaskFailed", "Cause": "boom"}
    state = step(world, "clean_up", state)
    assert state["cleanup"] == "rolled back to v1"
    assert world.alias_routing() == ("1", {})
    assert world.release_lock().holder() is None
    assert world.state_item().get("release_id") is None


def test_the_cleanup_of_a_timed_out_execution_takes_the_lock_over(world: World) -> None:
    state = step(world, "advance", step(world, "begin", started(world)))
    del state["release"]  # the EventBridge event carries the execution's input only
    step(world, "clean_up", state)
    assert world.alias_routing() == ("1", {})
    assert world.release_lock().holder() is None


def test_a_shift_of_the_version_a_canary_left_at_its_weight_continues_it(world: World) -> None:
    """`canary 2 --weight 10` then `shift 2 --steps 50,100`, both in the controller: the shift takes
    the idle canary over (one release at a time, the alias moved on from 10%)."""
    from release.plan import canary_plan

    canary = execution_input("c1", "tester", canary_plan("2", "1", 10, 0), ControllerOptions())
    state = step(world, "advance", step(world, "begin", canary))
    step(world, "finish", state)
    assert world.alias_routing() == ("1", {"2": 0.1}) and world.release_lock().holder() is None
    shift = execution_input("s1", "tester", shift_plan("2", "1", [50, 100], 30), ControllerOptions())
    state = step(world, "advance", step(world, "begin", shift))
    assert world.alias_routing() == ("1", {"2": 0.5})
    assert world.state_item().get("release_id") == "s1"
    with pytest.raises(RefusedError, match="in progress"):
        step(world, "begin", execution_input("x1", "t", shift_plan("3", "1", [50], 30), ControllerOptions()))
