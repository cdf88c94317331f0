"""Where `modelctl shadow` finds what it acts on: the stacks' outputs, nothing hard-coded.

Read through the release commands' sources (release/target.py): when `AWS_ENDPOINT_URL`
points at this machine (the local cloud, which has no CloudFormation) outputs come from the local
cloud's deployment record (`MODELCTL_LOCAL_DEPLOYMENT`, default `.local-cloud/deployment.json`);
otherwise from CloudFormation's DescribeStacks. Stack names: `MODELCTL_STACK` (default
`ModelServing-Serving`) and `MODELCTL_SHADOW_STACK` (default: the serving stack's name with
`-Shadow` for `-Serving`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from release import target as release_target
from release.aws import aws_errors
from release.errors import ShadowError
from release.target import DEFAULT_STACK, Otherwise, OutputsSource

SERVING_STACK_ENV = "MODELCTL_STACK"
SHADOW_STACK_ENV = "MODELCTL_SHADOW_STACK"


@dataclass(frozen=True)
class ShadowTarget:
    """The names `modelctl shadow` needs, from the serving and shadow stacks' outputs."""

    function_name: str
    alias_name: str
    model_bucket: str
    log_bucket: str
    config_uri: str
    queue_url: str
    dead_letter_queue_url: str
    shadow_function_name: str
    dead_letter_alarm_name: str
    serving_stack: str
    shadow_stack: str


SERVING_OUTPUTS = {
    "function_name": "FunctionName",
    "alias_name": "AliasName",
    "model_bucket": "ModelBucketName",
}
SHADOW_OUTPUTS = {
    "log_bucket": "LogBucketName",
    "config_uri": "ConfigUri",
    "queue_url": "QueueUrl",
    "dead_letter_queue_url": "DeadLetterQueueUrl",
    "shadow_function_name": "FunctionName",
    "dead_letter_alarm_name": "DeadLetterAlarmName",
}


SHADOW_OTHERWISE = Otherwise(choose_stack=f"set {SERVING_STACK_ENV} / {SHADOW_STACK_ENV}", name_directly="")


def outputs_source(env: Mapping[str, str], cloudformation: Callable[[], Any]) -> OutputsSource:
    """The release commands' sources of stack outputs (release/target.py), with what
    this command's operator can do otherwise in their messages."""
    return release_target.outputs_source(env, cloudformation, otherwise=SHADOW_OTHERWISE)


def stack_names(env: Mapping[str, str]) -> tuple[str, str]:
    serving = env.get(SERVING_STACK_ENV) or DEFAULT_STACK
    default_shadow = serving.removesuffix("-Serving") + "-Shadow"
    return serving, env.get(SHADOW_STACK_ENV) or default_shadow


def resolve_target(env: Mapping[str, str], source: OutputsSource) -> ShadowTarget:
    serving_stack, shadow_stack = stack_names(env)
    values: dict[str, str] = {}
    for stack, wanted in ((serving_stack, SERVING_OUTPUTS), (shadow_stack, SHADOW_OUTPUTS)):
        with aws_errors(f"reading the outputs of {stack}", ShadowError):
            outputs = source.outputs(stack)
        missing = [output for output in wanted.values() if not outputs.get(output)]
        if missing:
            raise ShadowError(
                f"stack {stack} ({source.description}) has no output {', '.join(missing)}: deploy the "
                "shadow stack with this version (`make deploy`)"
            )
        values.update({key: outputs[output] for key, output in wanted.items()})
    return ShadowTarget(**values, serving_stack=serving_stack, shadow_stack=shadow_stack)
