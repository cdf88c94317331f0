"""The retraining workflow's function: one container image, one handler, the step named in the event.

    {"step": "prepare" | "train" | "evaluate" | "gate" | "register" | "release" | "collect",
     "execution": "<execution ARN>", "started_at": "<ISO time>", "state": {...the workflow state...}}

Thin: parse the event, call the step in `retrain/`, return its result (the state machine stores it
under the step's result path). Errors propagate: their class names (StepError, TransientStepError,
ReleaseBusyError) are what the state machine's Retry and Catch rules see.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from retrain.errors import StepError
from retrain.settings import RetrainSettings

Step = Callable[[dict[str, Any], str, datetime], dict[str, Any]]


@cache
def _clients() -> Any:
    from modelctl.release.aws import AwsClients

    return AwsClients()


@cache
def _settings() -> RetrainSettings:
    return RetrainSettings.from_env(os.environ)


def _prepare(state: dict[str, Any], execution: str, started: datetime) -> dict[str, Any]:
    from common.model.metadata import ModelMetadata
    from modelctl.release.models import read_published_metadata
    from monitoring.join import labelled_predictions
    from retrain.prepare import prepare
    from retrain.production import find_production
    from retrain.runstore import run_id_of

    settings, clients = _settings(), _clients()
    production = find_production(clients.lambda_, settings.function_name, settings.alias_name)
    metadata: ModelMetadata = read_published_metadata(clients.s3, production.model_uri)
    return prepare(
        s3=clients.s3,
        settings=settings,
        feedback_source=labelled_predictions,
        production=production,
        production_features=list(metadata.feature_names),
        run_id=run_id_of(execution),
        until=started,
    )


def _train(state: dict[str, Any], execution: str, started: datetime) -> dict[str, Any]:
    from retrain.train import train

    return train(s3=_clients().s3, settings=_settings(), prepared=state["prepared"])


def _collect(state: dict[str, Any], execution: str, started: datetime) -> dict[str, Any]:
    from retrain.sagemaker import collect

    return collect(
        s3=_clients().s3, settings=_settings(), prepared=state["prepared"], job=state["training_job"]
    )


def _evaluate(state: dict[str, Any], execution: str, started: datetime) -> dict[str, Any]:
    from retrain.evaluate import evaluate

    return evaluate(
        s3=_clients().s3, settings=_settings(), prepared=state["prepared"], candidate=state["candidate"]
    )


def _gate(state: dict[str, Any], execution: str, started: datetime) -> dict[str, Any]:
    from retrain.gate import decide

    return decide(_settings(), state["evaluation"], state["prepared"])


def _register(state: dict[str, Any], execution: str, started: datetime) -> dict[str, Any]:
    from retrain.register import register

    return register(
        s3=_clients().s3,
        settings=_settings(),
        prepared=state["prepared"],
        candidate=state["candidate"],
        evaluation=state["evaluation"],
        gate=state["gate"],
        execution=execution,
        now=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _release(state: dict[str, Any], execution: str, started: datetime) -> dict[str, Any]:
    from retrain.release import Release, release
    from retrain.runstore import RunStore

    settings, clients = _settings(), _clients()
    alarms = tuple(a for a in os.environ.get("RETRAIN_FLEET_ALARMS", "").split(",") if a)
    return release(
        settings=settings,
        releaser=Release(settings, clients, who=f"retraining:{execution}", fleet_alarms=alarms),
        registered=state["registered"],
        store=RunStore(clients.s3, settings.model_bucket),
        prepared=state["prepared"],
        execution=execution,
    )


STEPS: dict[str, Step] = {
    "prepare": _prepare,
    "train": _train,
    "collect": _collect,
    "evaluate": _evaluate,
    "gate": _gate,
    "register": _register,
    "release": _release,
}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    step = STEPS.get(str(event.get("step")))
    if step is None:
        raise StepError(f"unknown step {event.get('step')!r}; known steps: {', '.join(STEPS)}")
    execution = str(event.get("execution") or "")
    if not execution:
        raise StepError("the event names no execution")
    started = _parse_time(str(event.get("started_at") or ""))
    state = event.get("state")
    return step(state if isinstance(state, dict) else {}, execution, started)


def _parse_time(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise StepError(f"started_at {text!r} is not an ISO time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
