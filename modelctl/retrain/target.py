"""Where `modelctl retrain|models` find the workflow: the same sources as the release commands
(flags -> MODELCTL_* variables -> the local cloud's deployment record or CloudFormation outputs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from release.errors import RefusedError
from release.target import DEFAULT_STACK, OutputsSource

STATE_MACHINE_ENV = "MODELCTL_STATE_MACHINE"
RETRAIN_STACK_ENV = "MODELCTL_RETRAIN_STACK"


@dataclass(frozen=True)
class RetrainTarget:
    state_machine_arn: str
    stack_name: str


def retrain_stack_name(env: Mapping[str, str]) -> str:
    serving = env.get("MODELCTL_STACK") or DEFAULT_STACK
    return env.get(RETRAIN_STACK_ENV) or serving.removesuffix("-Serving") + "-Retraining"


def resolve_retrain_target(
    flag: str | None, env: Mapping[str, str], source: Callable[[], OutputsSource]
) -> RetrainTarget:
    stack = retrain_stack_name(env)
    arn = flag or env.get(STATE_MACHINE_ENV)
    if not arn:
        chosen = source()
        arn = chosen.outputs(stack).get("StateMachineArn")
        if not arn:
            raise RefusedError(
                f"stack {stack} ({chosen.description}) has no output StateMachineArn: deploy the retraining "
                f"stack, or pass --state-machine / set {STATE_MACHINE_ENV}"
            )
    return RetrainTarget(state_machine_arn=arn, stack_name=stack)
