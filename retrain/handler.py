"""The retraining workflow's function: one container image, one handler, the step named in the event.

    {"step": "prepare" | "train" | "evaluate" | "gate" | "register" | "release" | "collect",
     "execution": "<execution ARN>", "started_at": "<ISO time>", "state": {...the workflow state...}}

Wiring only: the settings are read from the environment once, the collaborators built from them
once (`build`), and the handler parses the event and calls the step in `retrain/`, returning its
result (the state machine stores it under the step's result path). Errors propagate: their class
names (StepError, TransientStepError, ReleaseBusyError) are what the state machine's Retry and
Catch rules see. That is why the settings are read at the first invocation rather than at import:
a missing or malformed variable fails the step with a StepError, not the function's init.
Each step's modules are imported when that step runs, so a step loads only what it uses.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from retrain.errors import StepError
from retrain.settings import RetrainSettings

if TYPE_CHECKING:
    from release.aws import AwsClients

FLEET_ALARMS_ENV = "RETRAIN_FLEET_ALARMS"


@dataclass(frozen=True)
class Steps:
    """The steps with their collaborators: settings, AWS clients (created when first used) and the
    serving stack's fleet alarms that a canary release is gated on."""

    settings: RetrainSettings
    clients: AwsClients
    fleet_alarms: tuple[str, ...] = ()

    def run(self, step: str, state: dict[str, Any], execution: str, started: datetime) -> dict[str, Any]:
        chosen = STEPS.get(step)
        if chosen is None:
            raise StepError(f"unknown step {step!r}; known steps: {', '.join(STEPS)}")
        return chosen(self, state, execution, started)

    def prepare(self, state: dict[str, Any], execution: str, started: datetime) -> dict[str, Any]:
        from common.model.metadata import ModelMetadata
        from common.observe.label_join import labelled_predictions
        from release.models import read_published_metadata
        from retrain.prepare import prepare
        from retrain.production import find_production
        from retrain.runstore import run_id_of

        settings, clients = self.settings, self.clients
        production = find_production(clients.lambda_, settings.function_name, settings.alias_name)
        metadata: ModelMetadata = read_published_metadata(clients.s3, production.model_uri)
        return prepare(
            s3=clients.s3,
            settings=settings,
            feedback_source=labelled_predictions,
            production=production,
            production_features=list(metadata.feature_names),
            production_task=metadata.task,
            run_id=run_id_of(execution),
            until=started,
        )

    def train(self, state: dict[str, Any], execution: str, started: datetime) -> dict[str, Any]:
        from retrain.train import train

        return train(s3=self.clients.s3, settings=self.settings, prepared=state["prepared"])

    def collect(self, state: dict[str, Any], execution: str, started: datetime) -> dict[str, Any]:
        from retrain.sagemaker import collect

        return collect(
            s3=self.clients.s3, settings=self.settings, prepared=state["prepared"], job=state["training_job"]
        )

    def evaluate(self, state: dict[str, Any], execution: str, started: datetime) -> dict[str, Any]:
        from retrain.evaluate import evaluate

        return evaluate(
            s3=self.clients.s3,
            settings=self.settings,
            prepared=state["prepared"],
            candidate=state["candidate"],
        )

    def gate(self, state: dict[str, Any], execution: str, started: datetime) -> dict[str, Any]:
        from retrain.gate import decide

        return decide(self.settings, state["evaluation"], state["prepared"])

    def register(self, state: dict[str, Any], execution: str, started: datetime) -> dict[str, Any]:
        from retrain.register import register

        return register(
            s3=self.clients.s3,
            settings=self.settings,
            prepared=state["prepared"],
            candidate=state["candidate"],
            evaluation=state["evaluation"],
            gate=state["gate"],
            execution=execution,
            now=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def release(self, state: dict[str, Any], execution: str, started: datetime) -> dict[str, Any]:
        from retrain.release import Release, release
        from retrain.runstore import RunStore

        settings, clients = self.settings, self.clients
        return release(
            settings=settings,
            releaser=Release(
                settings, clients, who=f"retraining:{execution}", fleet_alarms=self.fleet_alarms
            ),
            registered=state["registered"],
            store=RunStore(clients.s3, settings.model_bucket),
            prepared=state["prepared"],
            execution=execution,
        )


Step = Callable[[Steps, dict[str, Any], str, datetime], dict[str, Any]]
STEPS: dict[str, Step] = {
    "prepare": Steps.prepare,
    "train": Steps.train,
    "collect": Steps.collect,
    "evaluate": Steps.evaluate,
    "gate": Steps.gate,
    "register": Steps.register,
    "release": Steps.release,
}


def build(environ: Mapping[str, str]) -> Steps:
    """The settings and collaborators of every step, from the function's environment."""
    from release.aws import AwsClients

    alarms = tuple(a for a in environ.get(FLEET_ALARMS_ENV, "").split(",") if a)
    return Steps(RetrainSettings.from_env(environ), AwsClients(), fleet_alarms=alarms)


_steps: Steps | None = None


def steps() -> Steps:
    """This process's steps, built at the first invocation."""
    global _steps
    if _steps is None:
        _steps = build(os.environ)
    return _steps


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    step = str(event.get("step"))
    if step not in STEPS:
        raise StepError(f"unknown step {event.get('step')!r}; known steps: {', '.join(STEPS)}")
    execution = str(event.get("execution") or "")
    if not execution:
        raise StepError("the event names no execution")
    started = _parse_time(str(event.get("started_at") or ""))
    state = event.get("state")
    return steps().run(step, state if isinstance(state, dict) else {}, execution, started)


def _parse_time(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise StepError(f"started_at {text!r} is not an ISO time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
