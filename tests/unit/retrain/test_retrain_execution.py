"""`modelctl retrain` follows a run through its history and reports its outcome."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelctl.retrain.execution import Finished, RunView, WorkflowRunner
from modelctl.retrain.target import resolve_retrain_target
from tests.unit.modelctl.world import FakeClock


def entered(i: int, name: str) -> dict[str, Any]:
    return {"id": i, "type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name}}


def exited(i: int, name: str) -> dict[str, Any]:
    return {"id": i, "type": "TaskStateExited", "stateExitedEventDetails": {"name": name}}


class FakeStepFunctions:
    """Each describe_execution call reveals the next batch of history events."""

    def __init__(self, batches: list[list[dict[str, Any]]], final: dict[str, Any]) -> None:
        self.batches = batches
        self.final = final
        self.events: list[dict[str, Any]] = []
        self.started: list[dict[str, Any]] = []

    def start_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.started.append(kwargs)
        return {"executionArn": "arn:aws:states:us-east-1:1:execution:sm:run-1"}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        if self.batches:
            self.events.extend(self.batches.pop(0))
            return {"status": "RUNNING"}
        return self.final

    def get_paginator(self, name: str) -> Any:
        events = list(reversed(self.events))  # newest first: the runner must sort

        class Paginator:
            def paginate(self, executionArn: str) -> list[dict[str, Any]]:
                return [{"events": events}]

        return Paginator()


def test_states_are_followed_in_order_until_the_run_ends() -> None:
    batches = [
        [entered(1, "Prepare")],
        [exited(2, "Prepare"), entered(3, "Train")],
        [
            {"id": 4, "type": "TaskFailed", "taskFailedEventDetails": {"error": "StepError", "cause": "bad"}},
        ],
    ]
    final = {"status": "FAILED", "error": "RetrainingFailed", "cause": "a step failed", "output": None}
    client = FakeStepFunctions(batches, final)
    clock = FakeClock()
    runner = WorkflowRunner(client, clock, poll_s=1.0)
    arn = runner.start("arn:sm", {"trigger": "manual"})
    assert json.loads(client.started[0]["input"]) == {"trigger": "manual"}
    assert client.started[0]["name"].startswith("manual-20260301T120000-")
    views: list[dict[str, str]] = []
    finished = runner.follow(
        arn, on_change=lambda v: views.append({n: s.status for n, s in v.states.items()}), timeout_s=60
    )
    assert views == [
        {"Prepare": "running"},
        {"Prepare": "done", "Train": "running"},
        {"Prepare": "done", "Train": "failed"},
    ]
    assert finished.outcome == "failed"
    assert finished.failed_state is not None and finished.failed_state.name == "Train"
    assert finished.failed_state.detail == "StepError: bad"
    assert clock.slept == [1.0, 1.0, 1.0]


def test_errors_are_one_line_without_the_stack_trace() -> None:
    from modelctl.retrain.execution import describe_error

    cause = json.dumps({"errorType": "StepError", "errorMessage": "no data", "stackTrace": ["  File x"]})
    assert describe_error("StepError", cause) == "StepError: no data"
    assert describe_error("States.Timeout", "") == "States.Timeout"


def test_outcomes() -> None:
    assert Finished("SUCCEEDED", {"outcome": "released"}, "", "").outcome == "released"
    assert Finished("SUCCEEDED", {"outcome": "rejected"}, "", "").outcome == "rejected"
    assert Finished("TIMED_OUT", {}, "", "").outcome == "timed out"
    view = RunView()
    view.apply(entered(1, "Gate"))
    assert view.current() is not None and view.current().name == "Gate"  # type: ignore[union-attr]


def test_the_state_machine_comes_from_a_flag_a_variable_or_the_retraining_stack() -> None:
    class Outputs:
        description = "test outputs"

        def outputs(self, stack: str) -> dict[str, str]:
            return {"StateMachineArn": f"arn-of-{stack}"} if stack == "App-Retraining" else {}

    env = {"MODELCTL_STACK": "App-Serving"}
    assert resolve_retrain_target("arn-flag", env, Outputs).state_machine_arn == "arn-flag"
    assert resolve_retrain_target(
        None, {**env, "MODELCTL_STATE_MACHINE": "arn-env"}, Outputs
    ).state_machine_arn == ("arn-env")
    assert resolve_retrain_target(None, env, Outputs).state_machine_arn == "arn-of-App-Retraining"
    from release.errors import RefusedError

    with pytest.raises(RefusedError, match="StateMachineArn"):
        resolve_retrain_target(None, {"MODELCTL_STACK": "Other-Serving"}, Outputs)
