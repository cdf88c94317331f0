"""`modelctl` as the operator runs it: a separate process, AWS_ENDPOINT_URL on loopback (moto
server over HTTP), names from a local-cloud deployment file, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from common.model.metadata import ModelMetadata
from tests.unit.modelctl.world import REGION, World, build_world, sample_metadata

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture()
def deployed(
    moto_endpoint: str,
    trained_model: tuple[Path, ModelMetadata],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> tuple[World, dict[str, str]]:
    os.environ["AWS_ENDPOINT_URL"] = moto_endpoint
    try:
        session = boto3.session.Session(region_name=REGION)
        world = build_world(sample_metadata(trained_model[0]), suffix=uuid.uuid4().hex[:8], session=session)
    finally:
        os.environ.pop("AWS_ENDPOINT_URL", None)
    outputs = {
        "FunctionName": world.function,
        "AliasName": world.alias,
        "ModelBucketName": world.bucket,
        "ReleaseTableName": world.table,
        "ErrorsAlarmName": world.errors_alarm,
    }
    deployment = tmp_path / "deployment.json"
    deployment.write_text(json.dumps({"stacks": [{"name": "ModelServing-Serving", "outputs": outputs}]}))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MODELCTL_", "AWS_ENDPOINT_URL", "AWS_PROFILE"))
    }
    env.update(
        AWS_ENDPOINT_URL=moto_endpoint,
        MODELCTL_LOCAL_DEPLOYMENT=str(deployment),
        PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "functions")]),
    )
    return world, env


def modelctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelctl.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )


def alias_of(world: World, env: dict[str, str]) -> Any:
    client = boto3.client("lambda", region_name=REGION, endpoint_url=env["AWS_ENDPOINT_URL"])
    alias = client.get_alias(FunctionName=world.function, Name=world.alias)
    return alias["FunctionVersion"], (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def test_status_finds_the_function_through_the_local_deployment_file(
    deployed: tuple[World, dict[str, str]],
) -> None:
    world, env = deployed
    done = modelctl(env, "status", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["function"] == world.function and report["routing"] == "v1 100%"
    assert report["target_sources"]["function_name"].startswith("local cloud deployment")


def test_a_refusal_is_one_line_on_stderr_and_exit_code_1(deployed: tuple[World, dict[str, str]]) -> None:
    _, env = deployed
    done = modelctl(env, "canary", "--in-process", "$LATEST", "--weight", "10")
    assert done.returncode == 1
    assert done.stderr.startswith("error: $LATEST cannot take alias traffic")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@pytest.mark.filterwarnings("ignore:A test tried to use socket")  # moto looking for Docker
def test_a_version_that_cannot_be_invoked_gets_no_traffic(deployed: tuple[World, dict[str, str]]) -> None:
    """moto server cannot run functions (no Docker): the pre-traffic check's Invoke fails, so the
    release stops before the alias moves, exactly as a broken version would on AWS."""
    world, env = deployed
    done = modelctl(env, "canary", "--in-process", "2", "--weight", "10")
    assert done.returncode == 1
    assert "error: pre-traffic check: GET /health on v2 failed" in done.stderr
    assert alias_of(world, env) == ("1", {})


def test_canary_then_rollback_across_processes_with_history(deployed: tuple[World, dict[str, str]]) -> None:
    world, env = deployed
    done = modelctl(
        env, "canary", "--in-process", "2", "--weight", "10", "--skip-pre-traffic-check", "--reason", "try v2"
    )
    assert done.returncode == 0, done.stderr
    assert alias_of(world, env) == ("1", {"2": 0.1})
    second = modelctl(env, "canary", "--in-process", "3")
    assert second.returncode == 1 and "a canary of v2 is in progress" in second.stderr
    done = modelctl(env, "rollback", "--reason", "enough")
    assert done.returncode == 0, done.stderr
    assert alias_of(world, env) == ("1", {})
    history = json.loads(modelctl(env, "history", "--json").stdout)
    assert [(e["action"], e["reason"]) for e in history[:2]] == [
        ("rollback", "enough"),
        ("canary step 1/1", "try v2"),
    ]
