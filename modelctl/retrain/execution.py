"""Start a workflow execution and follow it through its history: which states ran, how they ended."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from release.aws import aws_errors
from release.clock import Clock

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


def describe_error(error: str, cause: str) -> str:
    """`StepError: <message>` from a Lambda error's JSON cause (no stack trace), else error and cause."""
    try:
        parsed = json.loads(cause) if cause.startswith("{") else None
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("errorMessage"):
        return f"{parsed.get('errorType') or error}: {parsed['errorMessage']}"[:500]
    return f"{error}: {cause}".strip(": ")[:500]


@dataclass
class StateProgress:
    name: str
    status: str = "running"  # running | done | failed | retrying
    detail: str = ""


@dataclass
class RunView:
    """What the history says so far: states in the order they were entered."""

    states: dict[str, StateProgress] = field(default_factory=dict)
    seen_events: int = 0

    def apply(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type", ""))
        if kind.endswith("StateEntered"):
            name = str(event["stateEnteredEventDetails"]["name"])
            self.states[name] = StateProgress(name)
            if kind == "FailStateEntered":
                self.states[name].status = "failed"
        elif kind.endswith("StateExited"):
            name = str(event["stateExitedEventDetails"]["name"])
            state = self.states.setdefault(name, StateProgress(name))
            if state.status != "failed":  # a caught failure still exits its state
                state.status = "done"
        elif kind in ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut", "LambdaFunctionTimedOut"):
            details: dict[str, Any] = (
                next((v for k, v in event.items() if k.endswith("EventDetails")), {}) or {}
            )
            current = self.current()
            if current is not None:
                current.status = "failed"
                current.detail = describe_error(str(details.get("error", "")), str(details.get("cause", "")))

    def failed(self) -> StateProgress | None:
        """The first state whose task failed (the one the run's Catch sent to the failure path)."""
        return next((s for s in self.states.values() if s.status == "failed" and s.detail), None)

    def current(self) -> StateProgress | None:
        return next(reversed(self.states.values()), None)


@dataclass(frozen=True)
class Finished:
    status: str
    output: dict[str, Any]
    error: str
    cause: str
    failed_state: StateProgress | None = None

    @property
    def outcome(self) -> str:
        """released | registered | rejected | failed | timed out | aborted."""
        if self.status != "SUCCEEDED":
            return {"TIMED_OUT": "timed out", "ABORTED": "aborted"}.get(self.status, "failed")
        return str(self.output.get("outcome") or "succeeded")


def execution_name(clock: Clock, trigger: str) -> str:
    """Unique and readable: `manual-20261122T230501-1a2b3c4d` (the run's staging folder is named so)."""
    return f"{trigger}-{clock.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


class WorkflowRunner:
    def __init__(self, stepfunctions: Any, clock: Clock, *, poll_s: float = 2.0) -> None:
        self.sfn = stepfunctions
        self.clock = clock
        self.poll_s = poll_s

    def start(self, state_machine_arn: str, execution_input: dict[str, Any]) -> str:
        with aws_errors(f"starting {state_machine_arn}"):
            response = self.sfn.start_execution(
                stateMachineArn=state_machine_arn,
                name=execution_name(self.clock, str(execution_input.get("trigger", "manual"))),
                input=json.dumps(execution_input),
            )
        return str(response["executionArn"])

    def events(self, execution_arn: str, view: RunView) -> Iterator[dict[str, Any]]:
        """History events not seen yet, oldest first."""
        collected: list[dict[str, Any]] = []
        with aws_errors(f"reading the history of {execution_arn}"):
            paginator = self.sfn.get_paginator("get_execution_history")
            for page in paginator.paginate(executionArn=execution_arn):
                collected.extend(page["events"])
        collected.sort(key=lambda e: int(e.get("id", 0)))
        fresh = collected[view.seen_events :]
        view.seen_events = len(collected)
        yield from fresh

    def follow(
        self,
        execution_arn: str,
        *,
        on_change: Callable[[RunView], None],
        timeout_s: float,
    ) -> Finished:
        view = RunView()
        deadline = self.clock.monotonic() + timeout_s
        while True:
            with aws_errors(f"reading {execution_arn}"):
                described = self.sfn.describe_execution(executionArn=execution_arn)
            changed = False
            for event in self.events(execution_arn, view):
                view.apply(event)
                changed = True
            if changed:
                on_change(view)
            status = str(described["status"])
            if status in TERMINAL:
                output = json.loads(described.get("output") or "{}")
                return Finished(
                    status=status,
                    output=output if isinstance(output, dict) else {},
                    error=str(described.get("error") or ""),
                    cause=str(described.get("cause") or ""),
                    failed_state=view.failed(),
                )
            if self.clock.monotonic() > deadline:
                from release.errors import RefusedError

                raise RefusedError(
                    f"{execution_arn} is still {status} after {timeout_s:g} s; it goes on running "
                    "(`modelctl retrain --follow <arn>` watches it again)"
                )
            self.clock.sleep(self.poll_s)
