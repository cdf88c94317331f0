"""Where `modelctl precompute` finds the state machine, table and work bucket.

Each name comes from the first source that has it: `MODELCTL_PRECOMPUTE_*` variables, then the
precompute stack's outputs (the local cloud's deployment file when AWS_ENDPOINT_URL is loopback,
CloudFormation otherwise) read through the same sources as the release commands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from release.errors import RefusedError
from release.target import OutputsSource

DEFAULT_PRECOMPUTE_STACK = "ModelServing-Precompute"
STACK_ENV = "MODELCTL_PRECOMPUTE_STACK"
NAMES = {
    "state_machine_arn": ("MODELCTL_PRECOMPUTE_STATE_MACHINE", "StateMachineArn"),
    "table_name": ("MODELCTL_PREDICTIONS_TABLE", "PredictionsTableName"),
    "work_bucket": ("MODELCTL_PRECOMPUTE_BUCKET", "WorkBucketName"),
    "max_items": ("MODELCTL_PRECOMPUTE_MAX_ITEMS", "MaxItems"),
}


@dataclass(frozen=True)
class PrecomputeResources:
    stack_name: str
    state_machine_arn: str
    table_name: str
    work_bucket: str
    max_items: int


def resolve_resources(
    stack: str | None, env: Mapping[str, str], source: Callable[[], OutputsSource]
) -> PrecomputeResources:
    stack_name = stack or env.get(STACK_ENV) or DEFAULT_PRECOMPUTE_STACK
    values = {key: env[variable] for key, (variable, _) in NAMES.items() if env.get(variable)}
    if len(values) < len(NAMES):
        outputs = source().outputs(stack_name)
        for key, (variable, output) in NAMES.items():
            if key not in values:
                if not outputs.get(output):
                    raise RefusedError(
                        f"stack {stack_name} has no output {output} (or set {variable}): deploy the "
                        "precompute stack of this version"
                    )
                values[key] = outputs[output]
    try:
        max_items = int(values["max_items"])
    except ValueError as exc:
        raise RefusedError(f"the precompute cap {values['max_items']!r} is not a number") from exc
    return PrecomputeResources(
        stack_name=stack_name,
        state_machine_arn=values["state_machine_arn"],
        table_name=values["table_name"],
        work_bucket=values["work_bucket"],
        max_items=max_items,
    )
