"""Where the release's names come from: the only module that knows about environments.

Each name is taken from the first source that has it:

1. command-line flags (`--function`, `--alias`, `--stack`);
2. environment variables (`MODELCTL_FUNCTION`, `MODELCTL_ALIAS`, `MODELCTL_STACK`,
   `MODELCTL_RELEASE_TABLE`, `MODELCTL_MODEL_BUCKET`);
3. the serving stack's outputs: from the local cloud's `.local-cloud/deployment.json` when
   `AWS_ENDPOINT_URL` points at loopback (the local cloud has no CloudFormation), otherwise from
   CloudFormation's DescribeStacks. Outputs are read only when a flag or variable leaves a gap.

The other commands read their stacks' outputs through the same sources (`outputs_source`):
`modelctl shadow` (release/shadow/resources.py), `precompute`, `retrain`; an `Otherwise` says in
their error messages what else their operator can do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from release.aws import aws_errors, error_code, error_message
from release.errors import AwsCallError, RefusedError

DEFAULT_STACK = "ModelServing-Serving"
DEFAULT_LOCAL_DEPLOYMENT = Path(".local-cloud") / "deployment.json"
FLEET_ALARM_OUTPUTS = ("ErrorsAlarmName", "ErrorRateAlarmName", "P99DurationAlarmName")
ENV = {
    "function_name": "MODELCTL_FUNCTION",
    "alias_name": "MODELCTL_ALIAS",
    "stack_name": "MODELCTL_STACK",
    "release_table": "MODELCTL_RELEASE_TABLE",
    "model_bucket": "MODELCTL_MODEL_BUCKET",
}
OUTPUTS = {
    "function_name": "FunctionName",
    "alias_name": "AliasName",
    "release_table": "ReleaseTableName",
    "model_bucket": "ModelBucketName",
}
FLAG_NAMES = {
    "function_name": "--function / MODELCTL_FUNCTION",
    "alias_name": "--alias / MODELCTL_ALIAS",
    "release_table": "MODELCTL_RELEASE_TABLE",
    "model_bucket": "MODELCTL_MODEL_BUCKET",
}


@dataclass(frozen=True)
class TargetFlags:
    function_name: str | None = None
    alias_name: str | None = None
    stack_name: str | None = None


@dataclass(frozen=True)
class Target:
    """The function and alias a release acts on, and where its state lives."""

    function_name: str
    alias_name: str
    stack_name: str
    release_table: str
    model_bucket: str
    fleet_alarms: tuple[str, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.function_name}:{self.alias_name}"


class OutputsSource(Protocol):
    description: str

    def outputs(self, stack_name: str) -> dict[str, str]: ...


@dataclass(frozen=True)
class Otherwise:
    """What else the operator can do when a stack's outputs cannot be read, as their command
    allows: each a clause of the error message, empty where the command has no such option."""

    choose_stack: str = "pass --stack"
    name_directly: str = "pass --function/--alias"


RELEASE_OTHERWISE = Otherwise()


def either(*choices: str) -> str:
    """'a', 'a or b', 'a, b, or c' of the non-empty choices."""
    given = [choice for choice in choices if choice]
    return (
        given[0]
        if len(given) == 1
        else ", ".join(given[:-1]) + ("," if len(given) > 2 else "") + f" or {given[-1]}"
    )


class LocalDeploymentOutputs:
    """The local cloud's provisioning record: {"stacks": [{"name", "outputs", "resources"}]}."""

    def __init__(self, path: Path, otherwise: Otherwise = RELEASE_OTHERWISE) -> None:
        self.path = path
        self.otherwise = otherwise
        self.description = f"local cloud deployment {path}"

    def outputs(self, stack_name: str) -> dict[str, str]:
        try:
            document: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            then = either(
                "start the local cloud (`make local`)",
                "set MODELCTL_LOCAL_DEPLOYMENT",
                self.otherwise.name_directly,
            )
            raise RefusedError(
                f"AWS_ENDPOINT_URL points at this machine but {self.path} does not exist: {then}"
            ) from exc
        except json.JSONDecodeError as exc:
            raise RefusedError(f"{self.path} is not valid JSON: {exc}") from exc
        stacks = document.get("stacks", []) if isinstance(document, dict) else []
        for stack in stacks:
            if stack.get("name") == stack_name:
                return {str(k): str(v) for k, v in (stack.get("outputs") or {}).items()}
        names = ", ".join(str(s.get("name")) for s in stacks) or "none"
        then = f"; {self.otherwise.choose_stack}" if self.otherwise.choose_stack else ""
        raise RefusedError(f"{self.path} has no stack {stack_name!r} (it has: {names}){then}")


class CloudFormationOutputs:
    def __init__(self, cloudformation: Any, region: str, otherwise: Otherwise = RELEASE_OTHERWISE) -> None:
        self.cloudformation = cloudformation
        self.description = f"CloudFormation ({region})"
        self.region = region
        self.otherwise = otherwise

    def outputs(self, stack_name: str) -> dict[str, str]:
        try:
            response = self.cloudformation.describe_stacks(StackName=stack_name)
        except ClientError as exc:
            if error_code(exc) == "ValidationError" and "does not exist" in error_message(exc):
                then = either(
                    "deploy it (`make deploy`)", self.otherwise.choose_stack, self.otherwise.name_directly
                )
                raise RefusedError(f"stack {stack_name} does not exist in {self.region}: {then}") from exc
            raise AwsCallError(
                f"reading stack {stack_name}: {error_code(exc)}: {error_message(exc)}"
            ) from exc
        with aws_errors(f"reading stack {stack_name}"):
            stack = response["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def is_loopback(url: str | None) -> bool:
    if not url:
        return False
    host = urlparse(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def outputs_source(
    env: Mapping[str, str],
    cloudformation: Callable[[], Any],
    region: Callable[[], str] | None = None,
    otherwise: Otherwise = RELEASE_OTHERWISE,
) -> OutputsSource:
    """The local deployment file when the AWS endpoint is on this machine, CloudFormation otherwise
    (in `region`, by default the client's)."""
    if is_loopback(env.get("AWS_ENDPOINT_URL")):
        path = Path(env.get("MODELCTL_LOCAL_DEPLOYMENT") or DEFAULT_LOCAL_DEPLOYMENT)
        return LocalDeploymentOutputs(path, otherwise)
    client = cloudformation()
    return CloudFormationOutputs(client, region() if region else str(client.meta.region_name), otherwise)


STACK_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]{0,127}")


def resolve_target(flags: TargetFlags, env: Mapping[str, str], source: Callable[[], OutputsSource]) -> Target:
    stack_name = flags.stack_name or env.get(ENV["stack_name"]) or DEFAULT_STACK
    if STACK_NAME.fullmatch(stack_name) is None:
        raise RefusedError(
            f"stack name {stack_name!r} is not a CloudFormation stack name "
            "(a letter, then letters, digits and hyphens, at most 128 characters)"
        )
    values: dict[str, str] = {}
    origin: dict[str, str] = {}
    given = {"function_name": flags.function_name, "alias_name": flags.alias_name}
    for key, variable in ENV.items():
        if key == "stack_name":
            continue
        if given.get(key):
            values[key], origin[key] = str(given[key]), "flag"
        elif env.get(variable):
            values[key], origin[key] = env[variable], variable
    outputs: dict[str, str] = {}
    missing = [key for key in OUTPUTS if key not in values]
    if missing:
        chosen = source()
        outputs = chosen.outputs(stack_name)
        for key in missing:
            if outputs.get(OUTPUTS[key]):
                values[key], origin[key] = outputs[OUTPUTS[key]], f"{chosen.description}: {stack_name}"
        still = [key for key in OUTPUTS if key not in values]
        if still:
            names = ", ".join(f"{OUTPUTS[k]} (or {FLAG_NAMES[k]})" for k in still)
            raise RefusedError(
                f"stack {stack_name} has no output {names}: deploy the serving stack of this version"
            )
    return Target(
        function_name=values["function_name"],
        alias_name=values["alias_name"],
        stack_name=stack_name,
        release_table=values["release_table"],
        model_bucket=values["model_bucket"],
        fleet_alarms=tuple(outputs[name] for name in FLEET_ALARM_OUTPUTS if outputs.get(name)),
        sources=origin,
    )
