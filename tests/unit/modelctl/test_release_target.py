"""Target resolution: flags, then MODELCTL_* variables, then the stack's outputs (the local cloud's
deployment file when the AWS endpoint is loopback, CloudFormation otherwise)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelctl.factory import Factory
from release.errors import RefusedError
from release.target import (
    CloudFormationOutputs,
    LocalDeploymentOutputs,
    OutputsSource,
    TargetFlags,
    either,
    is_loopback,
    outputs_source,
    resolve_target,
)
from tests.unit.modelctl.world import World

OUTPUTS = {
    "FunctionName": "fn-from-stack",
    "AliasName": "live",
    "ReleaseTableName": "table-from-stack",
    "ModelBucketName": "bucket-from-stack",
    "ErrorsAlarmName": "errors-alarm",
    "P99DurationAlarmName": "p99-alarm",
}


class FixedOutputs:
    description = "fixed outputs"

    def __init__(self, outputs: dict[str, str]) -> None:
        self.values = outputs
        self.asked: list[str] = []

    def outputs(self, stack_name: str) -> dict[str, str]:
        self.asked.append(stack_name)
        return dict(self.values)


def resolve(flags: TargetFlags, env: dict[str, str], source: OutputsSource) -> Any:
    return resolve_target(flags, env, lambda: source)


def test_outputs_fill_every_name_when_nothing_is_given() -> None:
    source = FixedOutputs(OUTPUTS)
    target = resolve(TargetFlags(), {}, source)
    assert (target.function_name, target.alias_name, target.release_table, target.model_bucket) == (
        "fn-from-stack",
        "live",
        "table-from-stack",
        "bucket-from-stack",
    )
    assert target.fleet_alarms == ("errors-alarm", "p99-alarm")
    assert source.asked == ["ModelServing-Serving"]


def test_flags_beat_environment_beats_outputs() -> None:
    env = {"MODELCTL_FUNCTION": "fn-from-env", "MODELCTL_ALIAS": "alias-from-env", "MODELCTL_STACK": "Other"}
    source = FixedOutputs(OUTPUTS)
    target = resolve(TargetFlags(function_name="fn-from-flag"), env, source)
    assert target.function_name == "fn-from-flag"
    assert target.alias_name == "alias-from-env"
    assert target.release_table == "table-from-stack"
    assert source.asked == ["Other"]
    assert target.sources["function_name"] == "flag"
    assert target.sources["alias_name"] == "MODELCTL_ALIAS"


def test_outputs_are_not_read_when_flags_and_environment_name_everything() -> None:
    env = {"MODELCTL_RELEASE_TABLE": "t", "MODELCTL_MODEL_BUCKET": "b"}

    def no_outputs() -> OutputsSource:
        raise AssertionError("outputs were read")

    target = resolve_target(TargetFlags("fn", "live"), env, no_outputs)
    assert (target.function_name, target.release_table, target.fleet_alarms) == ("fn", "t", ())


def test_a_missing_output_is_refused_naming_the_override() -> None:
    outputs = {k: v for k, v in OUTPUTS.items() if k != "ReleaseTableName"}
    with pytest.raises(RefusedError, match=r"ReleaseTableName \(or MODELCTL_RELEASE_TABLE\)"):
        resolve(TargetFlags(), {}, FixedOutputs(outputs))


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("https://127.0.0.1:4566", True),
        ("http://localhost:5000", True),
        ("http://[::1]:5000", True),
        ("https://lambda.us-east-1.amazonaws.com", False),
        (None, False),
        ("", False),
    ],
)
def test_loopback_endpoints(url: str | None, local: bool) -> None:
    assert is_loopback(url) is local


def deployment_file(tmp_path: Path, stack: str = "ModelServing-Serving") -> Path:
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps({"stacks": [{"name": stack, "outputs": OUTPUTS, "resources": {}}]}))
    return path


def test_the_local_cloud_deployment_file_is_used_when_the_endpoint_is_loopback(tmp_path: Path) -> None:
    env = {
        "AWS_ENDPOINT_URL": "https://127.0.0.1:1234",
        "MODELCTL_LOCAL_DEPLOYMENT": str(deployment_file(tmp_path)),
    }
    source = outputs_source(env, lambda: pytest.fail("CloudFormation asked"), lambda: "us-east-1")
    assert isinstance(source, LocalDeploymentOutputs)
    assert resolve(TargetFlags(), env, source).function_name == "fn-from-stack"


def test_cloudformation_is_used_for_a_remote_endpoint() -> None:
    source = outputs_source({}, lambda: object(), lambda: "eu-west-1")
    assert isinstance(source, CloudFormationOutputs)
    assert source.description == "CloudFormation (eu-west-1)"


def test_a_missing_deployment_file_says_how_to_start_the_local_cloud(tmp_path: Path) -> None:
    source = LocalDeploymentOutputs(tmp_path / "nope.json")
    with pytest.raises(RefusedError) as refused:
        source.outputs("ModelServing-Serving")
    assert str(refused.value) == (
        f"AWS_ENDPOINT_URL points at this machine but {tmp_path / 'nope.json'} does not exist: start the "
        "local cloud (`make local`), set MODELCTL_LOCAL_DEPLOYMENT, or pass --function/--alias"
    )


def test_an_unknown_stack_in_the_deployment_file_lists_the_known_ones(tmp_path: Path) -> None:
    source = LocalDeploymentOutputs(deployment_file(tmp_path, stack="Mine-Serving"))
    with pytest.raises(RefusedError) as refused:
        source.outputs("ModelServing-Serving")
    assert str(refused.value).endswith(
        "has no stack 'ModelServing-Serving' (it has: Mine-Serving); pass --stack"
    )


@pytest.mark.parametrize(
    ("choices", "said"),
    [(("a",), "a"), (("a", "b"), "a or b"), (("a", "", "b"), "a or b"), (("a", "b", "c"), "a, b, or c")],
)
def test_either_joins_the_given_choices(choices: tuple[str, ...], said: str) -> None:
    assert either(*choices) == said


def test_cloudformation_outputs_of_a_deployed_stack(world: World) -> None:
    target = world.factory().target(TargetFlags())
    assert target.function_name == world.function
    assert target.release_table == world.table
    assert target.fleet_alarms == (world.errors_alarm, world.p99_alarm)


def test_a_stack_that_does_not_exist_is_one_clear_refusal(world: World) -> None:
    factory = Factory(env={"MODELCTL_STACK": "Nope-Serving"})
    with pytest.raises(RefusedError) as refused:
        factory.target(TargetFlags())
    assert str(refused.value) == (
        "stack Nope-Serving does not exist in us-east-1: deploy it (`make deploy`), pass --stack, or pass "
        "--function/--alias"
    )
