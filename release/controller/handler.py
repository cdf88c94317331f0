"""The controller's Lambda handler: one function runs every step, named in the task's payload
(`{"step": "advance", "state": {...}}`); the release names come from its environment.

It ships in the retraining image (functions/retraining/Dockerfile copies release/), started with
this module's `handler` as its command (infra/constructs/release_controller.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from release.alias import Routing
from release.aws import AwsClients
from release.clock import SystemClock
from release.context import ReleaseContext
from release.controller.execution import release_id_of
from release.controller.steps import State, run_step
from release.controller.takeover import CONTROLLER_HOLDER
from release.gates import GateState
from release.target import Target

ENVIRONMENT = ("MODELCTL_FUNCTION", "MODELCTL_ALIAS", "MODELCTL_RELEASE_TABLE")
FLEET_ALARMS_ENV = "RELEASE_FLEET_ALARMS"


class LogReporter:
    """What a step tells the operator goes to the function's log."""

    def info(self, message: str) -> None:
        print(message, flush=True)

    def warn(self, message: str) -> None:
        print(f"warning: {message}", flush=True)

    def bake(
        self, *, step: int, steps: int, routing: Routing, elapsed_s: float, bake_s: float,
        gates: Sequence[GateState],
    ) -> None:  # fmt: skip
        self.info(f"baking step {step}/{steps} {routing.describe()}: {elapsed_s:.0f}/{bake_s:.0f} s")

    def bake_done(self) -> None:
        return None


class NoPrompt:
    def confirm(self, question: str) -> bool:
        return False


@dataclass(frozen=True)
class Settings:
    target: Target

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        missing = [name for name in ENVIRONMENT if not env.get(name)]
        if missing:
            raise RuntimeError(f"the release controller lacks {', '.join(missing)} in its environment")
        alarms = tuple(a for a in env.get(FLEET_ALARMS_ENV, "").split(",") if a)
        return cls(
            Target(
                function_name=env["MODELCTL_FUNCTION"],
                alias_name=env["MODELCTL_ALIAS"],
                stack_name="",
                release_table=env["MODELCTL_RELEASE_TABLE"],
                model_bucket=env.get("MODELCTL_MODEL_BUCKET", ""),
                fleet_alarms=alarms,
            )
        )


def context(settings: Settings, clients: AwsClients, who: str) -> ReleaseContext:
    return ReleaseContext(
        target=settings.target,
        clients=clients,
        clock=SystemClock(),
        reporter=LogReporter(),
        prompt=NoPrompt(),
        identity=lambda: f"{who} {CONTROLLER_HOLDER}",
    )


def step_event(event: Mapping[str, Any]) -> tuple[str, State]:
    """The task payload (with the task token of a .waitForTaskToken task), or the EventBridge
    event of an execution that timed out, failed or was stopped (then: clean up, from the
    execution's own input)."""
    if "step" in event:
        payload: State = dict(event["state"])
        if event.get("token"):  # a .waitForTaskToken task (the approval)
            payload["task_token"] = str(event["token"])
        return str(event["step"]), payload
    detail = event.get("detail") or {}
    state: State = json.loads(detail.get("input") or "{}")
    state.setdefault("release_id", release_id_of(str(detail.get("name", ""))))
    state["error"] = {"Error": f"execution {detail.get('status', 'ended')}", "Cause": detail.get("cause", "")}
    return "clean_up", state


_clients: AwsClients | None = None


def handler(event: dict[str, Any], _context: Any) -> State:
    global _clients
    if _clients is None:
        _clients = AwsClients()
    step, state = step_event(event)
    ctx = context(Settings.from_env(os.environ), _clients, str(state.get("who") or "unknown"))
    return run_step(ctx, step, state)
