"""SnapStart in the local runtime: a version with SnapStart runs the runtime hooks once, at init."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from common.model.metadata import ModelMetadata
from infra.bundling import BundleTarget, build_bundle, install_runtime_provided
from localcloud.functions import FunctionSpec
from localcloud.functions.pool import WorkerPool
from tests.integration.runtime_support import predict_with_bundle

FIXTURE = Path(__file__).parent / "fixtures" / "runtime_probe"
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:probe"


@pytest.mark.parametrize(
    ("snap_start", "calls", "init_type"),
    [(True, ["before_snapshot", "after_restore"], "snap-start"), (False, [], "on-demand")],
)
def test_a_snapstart_version_runs_before_snapshot_then_after_restore_once(
    tmp_path: Path, snap_start: bool, calls: list[str], init_type: str
) -> None:
    code_dir = tmp_path / "task"
    shutil.copytree(FIXTURE, code_dir)
    spec = FunctionSpec(
        "probe", "3", "snapstart_probe.handler", code_dir, {}, 30.0, 256, ARN, snap_start=snap_start
    )
    pool = WorkerPool(spec, runtime_dirs=[install_runtime_provided(BundleTarget.host())], base_env={})
    try:
        first, second = pool.invoke(b"{}"), pool.invoke(b"{}")
    finally:
        pool.close()
    assert (first.status, second.status) == ("ok", "ok")
    assert json.loads(second.payload) == {"calls": calls, "init_type": init_type}


def test_a_failing_after_restore_hook_is_an_init_error(tmp_path: Path) -> None:
    code_dir = tmp_path / "task"
    code_dir.mkdir()
    (code_dir / "bad_restore.py").write_text(
        "from snapshot_restore_py import register_after_restore\n"
        "def fail():\n    raise RuntimeError('cannot reconnect')\n"
        "register_after_restore(fail)\n"
        "def handler(event, context):\n    return {}\n"
    )
    spec = FunctionSpec("probe", "3", "bad_restore.handler", code_dir, {}, 30.0, 256, ARN, snap_start=True)
    pool = WorkerPool(spec, runtime_dirs=[install_runtime_provided(BundleTarget.host())], base_env={})
    try:
        result = pool.invoke(b"{}")
    finally:
        pool.close()
    assert result.status != "ok"
    assert "cannot reconnect" in result.payload.decode()


@pytest.mark.slow
def test_the_inference_bundle_with_snapstart_runs_its_hooks_and_answers(
    trained_model: tuple[Path, ModelMetadata], tmp_path: Path
) -> None:
    artifact_dir, metadata = trained_model
    bundle = build_bundle("inference", tmp_path / "inference", target=BundleTarget.host())
    result, lines = predict_with_bundle(
        bundle.path,
        artifact_dir,
        metadata.sample_rows[0],
        runtime_dirs=[install_runtime_provided(BundleTarget.host())],
        base_env={},
        qualifier="7",
        snap_start=True,
    )
    assert result.status == "ok", result.payload
    assert json.loads(result.payload)["statusCode"] == 200
    messages = [json.loads(line)["message"] for line in lines if '"service": "snapstart"' in line]
    assert [message.split(":")[1].strip() for message in messages] == [
        "warmed and disconnected before the snapshot",
        "restored",
    ]
