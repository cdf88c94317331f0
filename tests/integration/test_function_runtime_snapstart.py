"""SnapStart in the local runtime: a version with SnapStart runs the runtime hooks once, at init."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from infra.bundling import BundleTarget, install_runtime_provided
from localcloud.functions import FunctionSpec
from localcloud.functions.pool import WorkerPool

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
