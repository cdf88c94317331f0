"""Where `modelctl shadow` finds its names (release/shadow/resources.py): the serving and shadow
stacks' outputs, read through the release commands' sources, with messages that name what a
shadow operator can do (there is no --stack, --function or --alias on shadow commands)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from release.errors import ReleaseError, ShadowError
from release.shadow.resources import ShadowTarget, outputs_source, resolve_target, stack_names
from release.target import CloudFormationOutputs, LocalDeploymentOutputs

SERVING = {"FunctionName": "inference", "AliasName": "live", "ModelBucketName": "models"}
SHADOW = {
    "LogBucketName": "logs",
    "ConfigUri": "s3://logs/config.json",
    "QueueUrl": "https://sqs/q",
    "DeadLetterQueueUrl": "https://sqs/dlq",
    "FunctionName": "shadow",
    "DeadLetterAlarmName": "dlq-alarm",
}


def local_env(tmp_path: Path, stacks: dict[str, dict[str, str]]) -> dict[str, str]:
    path = tmp_path / "deployment.json"
    document = {"stacks": [{"name": name, "outputs": outputs} for name, outputs in stacks.items()]}
    path.write_text(json.dumps(document))
    return {"AWS_ENDPOINT_URL": "https://127.0.0.1:4566", "MODELCTL_LOCAL_DEPLOYMENT": str(path)}


def no_cloudformation() -> None:
    pytest.fail("CloudFormation asked on the local cloud")


def test_names_come_from_both_stacks_in_the_local_deployment(tmp_path: Path) -> None:
    env = local_env(tmp_path, {"ModelServing-Serving": SERVING, "ModelServing-Shadow": SHADOW})
    source = outputs_source(env, no_cloudformation)
    assert isinstance(source, LocalDeploymentOutputs)
    assert resolve_target(env, source) == ShadowTarget(
        function_name="inference",
        alias_name="live",
        model_bucket="models",
        log_bucket="logs",
        config_uri="s3://logs/config.json",
        queue_url="https://sqs/q",
        dead_letter_queue_url="https://sqs/dlq",
        shadow_function_name="shadow",
        dead_letter_alarm_name="dlq-alarm",
        serving_stack="ModelServing-Serving",
        shadow_stack="ModelServing-Shadow",
    )


def test_stack_names_follow_the_serving_stack_unless_set() -> None:
    assert stack_names({}) == ("ModelServing-Serving", "ModelServing-Shadow")
    assert stack_names({"MODELCTL_STACK": "Other-Serving"}) == ("Other-Serving", "Other-Shadow")
    assert stack_names({"MODELCTL_SHADOW_STACK": "S"}) == ("ModelServing-Serving", "S")


def test_a_missing_deployment_file_names_no_flags_shadow_does_not_have(tmp_path: Path) -> None:
    env = {
        "AWS_ENDPOINT_URL": "https://127.0.0.1:4566",
        "MODELCTL_LOCAL_DEPLOYMENT": str(tmp_path / "no.json"),
    }
    with pytest.raises(ReleaseError) as refused:
        resolve_target(env, outputs_source(env, no_cloudformation))
    assert str(refused.value) == (
        f"AWS_ENDPOINT_URL points at this machine but {tmp_path / 'no.json'} does not exist: start the local "
        "cloud (`make local`) or set MODELCTL_LOCAL_DEPLOYMENT"
    )


def test_a_stack_missing_from_the_deployment_names_the_variables(tmp_path: Path) -> None:
    env = local_env(tmp_path, {"ModelServing-Serving": SERVING})
    with pytest.raises(ReleaseError) as refused:
        resolve_target(env, outputs_source(env, no_cloudformation))
    assert str(refused.value).endswith(
        "has no stack 'ModelServing-Shadow' (it has: ModelServing-Serving); set MODELCTL_STACK / "
        "MODELCTL_SHADOW_STACK"
    )


def test_a_missing_output_says_which_and_where(tmp_path: Path) -> None:
    env = local_env(
        tmp_path, {"ModelServing-Serving": SERVING, "ModelServing-Shadow": {**SHADOW, "QueueUrl": ""}}
    )
    with pytest.raises(ShadowError) as refused:
        resolve_target(env, outputs_source(env, no_cloudformation))
    where = f"local cloud deployment {env['MODELCTL_LOCAL_DEPLOYMENT']}"
    assert str(refused.value) == (
        f"stack ModelServing-Shadow ({where}) has no output QueueUrl: deploy the shadow stack with this "
        "version (`make deploy`)"
    )


@pytest.fixture()
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def test_on_aws_a_stack_that_does_not_exist_is_one_clear_refusal(aws: None) -> None:
    source = outputs_source({}, lambda: boto3.client("cloudformation"))
    assert isinstance(source, CloudFormationOutputs) and source.description == "CloudFormation (us-east-1)"
    with pytest.raises(ReleaseError) as refused:
        resolve_target({}, source)
    assert str(refused.value) == (
        "stack ModelServing-Serving does not exist in us-east-1: deploy it (`make deploy`) or set "
        "MODELCTL_STACK / MODELCTL_SHADOW_STACK"
    )
