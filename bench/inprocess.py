"""The real inference handler, imported in this process with the deployed configuration.

Nothing under functions/ is changed. The handler module is imported with the environment the
stack gives the function (cdk.json's `serving` values), and the stream its request log lines and
EMF metrics lines go to (the stdout it saw at init) is pointed at /dev/null; stdout (where
Powertools' Logger would write an internal error) is redirected to /dev/null by the caller.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from bench.core import REPO_ROOT
from bench.model import serving_context

HANDLER_MODULE = "inference.handler"


def _ensure_functions_on_path() -> None:
    functions = str(REPO_ROOT / "functions")
    if functions not in sys.path:
        sys.path.insert(0, functions)


@dataclass
class BenchContext:
    """The attributes of Lambda's context object that the handler and Powertools read."""

    function_name: str = "inference"
    function_version: str = "1"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/inference"
    log_stream_name: str = "bench"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}:live"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


def function_environment(model_dir: Path, *, tracing_disabled: bool = True) -> dict[str, str]:
    """What the stack sets on the function (infra/constructs/inference_service.py), from cdk.json."""
    serving = serving_context()
    env = {
        "MODEL_URI": str(model_dir),
        "MAX_ROWS": str(serving.get("max_rows", 1000)),
        "MAX_BODY_BYTES": str(serving.get("max_body_bytes", 262144)),
        "POWERTOOLS_SERVICE_NAME": str(serving.get("service_name", "inference")),
        "POWERTOOLS_METRICS_NAMESPACE": str(serving.get("metrics_namespace", "ModelServing")),
        "LOG_LEVEL": str(serving.get("log_level", "INFO")),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    if tracing_disabled:
        # As in the local cloud: no X-Ray daemon here. (Outside Lambda Powertools disables it anyway.)
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_DEVNULL: list[IO[str]] = []


def devnull() -> IO[str]:
    """One /dev/null text stream for the whole process, never closed: handlers imported earlier
    keep writing to it."""
    if not _DEVNULL:
        _DEVNULL.append(open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
    return _DEVNULL[0]


def load_handler(
    model_dir: Path,
    log_stream: IO[str],
    *,
    tracing_disabled: bool = True,
    extra_env: Mapping[str, str] | None = None,
) -> ModuleType:
    """A fresh import of inference.handler (its init runs: model load, Logger, Metrics, router).
    A module imported earlier keeps working: each import is an independent handler."""
    _ensure_functions_on_path()
    sys.modules.pop(HANDLER_MODULE, None)
    with (
        patched_environ(
            {**function_environment(model_dir, tracing_disabled=tracing_disabled), **(extra_env or {})}
        ),
        contextlib.redirect_stdout(log_stream),
    ):
        module = importlib.import_module(HANDLER_MODULE)
    module.app.stream = log_stream
    return module


def predict_event(rows: list[list[float]]) -> dict[str, Any]:
    """An API Gateway REST proxy event for POST /predict, as the gateway (and the tests) build it."""
    from localcloud.events import rest_proxy_event

    return rest_proxy_event(
        "POST",
        "/predict",
        body=json.dumps({"instances": rows}),
        headers={
            "Content-Type": "application/json",
            "Accept": "*/*",
            "Host": "abc123.execute-api.us-east-1.amazonaws.com",
            "User-Agent": "bench/1.0",
            "X-Forwarded-For": "127.0.0.1",
            "X-Forwarded-Port": "443",
            "X-Forwarded-Proto": "https",
            "x-api-key": "bench-key",
        },
    )
