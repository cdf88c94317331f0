"""Helpers for the tests of the local Lambda runtime: polling with a deadline, a worker process's
state, and one /predict request to the inference bundle in a FunctionRuntime."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from localcloud.events import rest_proxy_event
from localcloud.functions import FunctionSpec, InvocationResult
from localcloud.functions.runtime import FunctionRuntime

INFERENCE_ARN = "arn:aws:lambda:us-east-1:123456789012:function:inference"


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


def process_state(pid: int) -> str:
    """R, S, T (stopped), Z, ... from /proc/<pid>/stat; X when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


def process_alive(pid: int) -> bool:
    """A process that still runs: /proc has it and it is not a zombie."""
    return process_state(pid) not in ("X", "Z")


def predict_with_bundle(
    bundle_dir: Path,
    artifact_dir: Path,
    row: list[float],
    *,
    runtime_dirs: list[Path],
    base_env: Mapping[str, str],
    qualifier: str,
    environment: Mapping[str, str] | None = None,
    snap_start: bool = False,
) -> tuple[InvocationResult, list[str]]:
    """POST /predict with one row to version 7 of the inference bundle, invoked as `qualifier`, in
    a runtime closed afterwards: (the result, every line the worker logged)."""
    spec = FunctionSpec(
        function_name="inference",
        version="7",
        handler="inference.handler.handler",
        code_dir=bundle_dir,
        environment={
            "MODEL_URI": str(artifact_dir),
            "POWERTOOLS_SERVICE_NAME": "inference",
            "POWERTOOLS_METRICS_NAMESPACE": "RuntimeTest",
            **(environment or {}),
        },
        timeout_s=30.0,
        memory_mb=1024,
        function_arn=INFERENCE_ARN,
        snap_start=snap_start,
    )
    lines: list[str] = []
    runtime = FunctionRuntime(
        runtime_dirs=runtime_dirs, base_env=base_env, log_sink=lambda _, line: lines.append(line)
    )
    request = rest_proxy_event(
        "POST",
        "/predict",
        body=json.dumps({"instances": [row]}),
        headers={"Content-Type": "application/json"},
    )
    try:
        result = runtime.invoke(spec, json.dumps(request).encode(), invoked_qualifier=qualifier)
    finally:
        runtime.close()
    return result, lines
