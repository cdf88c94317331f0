"""Approval steps against moto, in the state machine's order: a shift that waits for a person before
going past 50%, approved, rejected, timed out, or with a gate that fired while it waited; the
decision in the history, the lease held over the wait, the approval request removed."""

from __future__ import annotations

from typing import Any

import pytest

from release.controller.approval import REJECTED_ERROR, ApprovalStore, Decision, decide
from release.controller.execution import ControllerOptions, execution_input
from release.errors import RefusedError
from release.plan import shift_plan
from tests.unit.controller.test_steps import step
from tests.unit.modelctl.world import World


def with_approval(approve_at: float = 50, timeout_s: float = 600) -> dict[str, Any]:
    plan = shift_plan("2", "1", [25, 50, 100], 10)
    options = ControllerOptions(reason="test", approve_at=approve_at, approval_timeout_s=timeout_s)
    return execution_input("r1", "tester", plan, options)


def approvals(world: World) -> ApprovalStore:
    return ApprovalStore(world.dynamodb, world.table, world.function, world.alias)


def waiting(world: World) -> dict[str, Any]:
    """Begin, 25%, 50%: the next step (100%) goes past 50, so the release asks for approval."""
    state = step(world, "begin", with_approval())
    assert state["release"]["next"] == "step"
    for expected in ("step", "approve"):
        state = step(world, "advance", state)
        world.clock.advance(11)
        state = step(world, "check", state)
        assert state["release"]["next"] == expected
    state["task_token"] = "token-1"
    return step(world, "await_approval", state)


class FakeStepFunctions:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def send_task_success(self, **kwargs: Any) -> None:
        self.calls.append(("success", kwargs))

    def send_task_failure(self, **kwargs: Any) -> None:
        self.calls.append(("failure", kwargs))


def test_the_release_waits_at_50_percent_with_the_token_stored_and_the_lease_extended(world: World) -> None:
    state = waiting(world)
    approval = approvals(world).get()
    assert approval is not None and approval.task_token == "token-1"
    assert (approval.percent, approval.next_percent) == (50, 100)
    assert world.alias_routing() == ("1", {"2": 0.5})
    lease = world.release_lock().holder()
    assert lease is not None and lease.expires_at - world.clock.now().timestamp() > 600
    assert ("shift approval", "requested") in world.actions()
    assert "task_token" not in state


def test_approve_sends_the_decision_and_the_controller_records_it_and_moves_on(world: World) -> None:
    state = waiting(world)
    sfn = FakeStepFunctions()
    decide(sfn, approvals(world), "r1", Decision(approved=True, by="alice", reason="looks good"))
    ((kind, call),) = sfn.calls
    assert kind == "success" and call["taskToken"] == "token-1"
    state["approval"] = Decision.from_json(call["output"]).__dict__
    state = step(world, "approved", state)
    assert state["release"]["next"] == "step" and state["release"]["approved"] is True
    assert approvals(world).get() is None
    (entry,) = [e for e in world.history_items() if e["outcome"] == "approved"]
    assert (entry["who"], entry["reason"]) == ("alice", "looks good")
    state = step(world, "advance", state)
    assert world.alias_routing() == ("2", {}) and state["release"]["next"] == "finish"


def test_a_gate_that_fired_during_the_wait_rolls_back_after_approval(world: World) -> None:
    state = waiting(world)
    world.set_alarm(world.gate_alarm("2", "errors"), "ALARM")
    state["approval"] = {"approved": True, "by": "alice"}
    state = step(world, "approved", state)
    assert state["release"]["next"] == "fired"
    step(world, "roll_back", state)
    assert world.alias_routing() == ("1", {})


def test_reject_rolls_back_and_records_who_and_why(world: World) -> None:
    state = waiting(world)
    sfn = FakeStepFunctions()
    decide(sfn, approvals(world), "r1", Decision(approved=False, by="bob", reason="latency"))
    ((kind, call),) = sfn.calls
    assert kind == "failure" and call["error"] == REJECTED_ERROR
    state["approval_error"] = {"Error": call["error"], "Cause": call["cause"]}
    state = step(world, "decline", state)
    assert state["release"]["next"] == "rejected"
    assert world.alias_routing() == ("1", {})
    assert world.release_lock().holder() is None
    assert ("shift approval", "rejected") in world.actions()
    rollback = [e for e in world.history_items() if e["action"] == "shift rollback"]
    assert rollback and rollback[0]["reason"] == "rejected by bob: latency"
    assert approvals(world).get() is None


def test_no_decision_in_time_rolls_back(world: World) -> None:
    state = waiting(world)
    state["approval_error"] = {"Error": "States.Timeout", "Cause": ""}
    state = step(world, "decline", state)
    assert state["release"]["next"] == "timed out"
    assert world.alias_routing() == ("1", {})
    rollback = [e for e in world.history_items() if e["action"] == "shift rollback"]
    assert "timed out" in rollback[0]["reason"]


def test_approve_with_nobody_waiting_is_refused(world: World) -> None:
    with pytest.raises(RefusedError, match="no release is waiting for approval"):
        decide(FakeStepFunctions(), approvals(world), None, Decision(approved=True, by="alice"))


def test_approval_before_the_first_step_when_it_already_goes_past_the_weight(world: World) -> None:
    plan = shift_plan("2", "1", [60, 100], 10)
    state = step(world, "begin", execution_input("r1", "t", plan, ControllerOptions(approve_at=50)))
    assert state["release"]["next"] == "approve"
    assert world.alias_routing() == ("1", {})


@pytest.mark.parametrize("approve_at", [-1, 100, 150])
def test_a_weight_outside_0_to_100_is_refused(approve_at: float) -> None:
    with pytest.raises(RefusedError, match="--approve-at"):
        ControllerOptions(approve_at=approve_at)
