"""Where `modelctl shadow` finds what it acts on: the stacks' outputs, nothing hard-coded.

The same convention as the release commands: when `AWS_ENDPOINT_URL` points at this machine (the
local cloud, which has no CloudFormation) outputs come from the local cloud's deployment record
(`MODELCTL_LOCAL_DEPLOYMENT`, default `.local-cloud/deployment.json`); otherwise from
CloudFormation's DescribeStacks. Stack names: `MODELCTL_STACK` (default `ModelServing-Serving`) and
`MODELCTL_SHADOW_STACK` (default: the serving stack's name with `-Shadow` for `-Serving`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from modelctl.shadow.errors import ShadowError, aws_call

DEFAULT_SERVING_STACK = "ModelServing-Serving"
DEFAULT_LOCAL_DEPLOYMENT = Path(".local-cloud") / "deployment.json"


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


class OutputsSource(Protocol):
    description: str

    def outputs(self, stack_name: str) -> dict[str, str]: ...


class LocalDeploymentOutputs:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"local cloud deployment {path}"

    def outputs(self, stack_name: str) -> dict[str, str]:
        try:
            document: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ShadowError(
                f"AWS_ENDPOINT_URL points at this machine but {self.path} does not exist: start the local "
                "cloud (`make local`) or set MODELCTL_LOCAL_DEPLOYMENT"
            ) from exc
        except json.JSONDecodeError as exc:
            raise ShadowError(f"{self.path} is not valid JSON: {exc}") from exc
        stacks = document.get("stacks", []) if isinstance(document, dict) else []
        for stack in stacks:
            if stack.get("name") == stack_name:
                return {str(k): str(v) for k, v in (stack.get("outputs") or {}).items()}
        names = ", ".join(str(s.get("name")) for s in stacks) or "none"
        raise ShadowError(f"{self.path} has no stack {stack_name!r} (it has: {names})")


class CloudFormationOutputs:
    def __init__(self, cloudformation: Any) -> None:
        self.cloudformation = cloudformation
        self.description = "CloudFormation"

    def outputs(self, stack_name: str) -> dict[str, str]:
        try:
            response = self.cloudformation.describe_stacks(StackName=stack_name)
        except ClientError as exc:
            message = str(exc.response.get("Error", {}).get("Message", exc))
            if "does not exist" in message:
                raise ShadowError(f"stack {stack_name} does not exist: deploy it (`make deploy`)") from exc
            raise ShadowError(f"reading stack {stack_name}: {message}") from exc
        return {o["OutputKey"]: o["OutputValue"] for o in response["Stacks"][0].get("Outputs", [])}


def is_loopback(url: str | None) -> bool:
    host = urlparse(url or "").hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def outputs_source(env: Mapping[str, str], cloudformation: Callable[[], Any]) -> OutputsSource:
    if is_loopback(env.get("AWS_ENDPOINT_URL")):
        return LocalDeploymentOutputs(Path(env.get("MODELCTL_LOCAL_DEPLOYMENT") or DEFAULT_LOCAL_DEPLOYMENT))
    return CloudFormationOutputs(cloudformation())


def stack_names(env: Mapping[str, str]) -> tuple[str, str]:
    serving = env.get("MODELCTL_STACK") or DEFAULT_SERVING_STACK
    default_shadow = serving.removesuffix("-Serving") + "-Shadow"
    return serving, env.get("MODELCTL_SHADOW_STACK") or default_shadow


def resolve_target(env: Mapping[str, str], source: OutputsSource) -> ShadowTarget:
    serving_stack, shadow_stack = stack_names(env)
    values: dict[str, str] = {}
    for stack, wanted in ((serving_stack, SERVING_OUTPUTS), (shadow_stack, SHADOW_OUTPUTS)):
        with aws_call(f"reading the outputs of {stack}"):
            outputs = source.outputs(stack)
        missing = [output for output in wanted.values() if not outputs.get(output)]
        if missing:
            raise ShadowError(
                f"stack {stack} ({source.description}) has no output {', '.join(missing)}: deploy the "
                "shadow stack with this version (`make deploy`)"
            )
        values.update({key: outputs[output] for key, output in wanted.items()})
    return ShadowTarget(**values, serving_stack=serving_stack, shadow_stack=shadow_stack)
