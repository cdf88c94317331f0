"""Run Lambda function versions locally, the way Lambda runs them.

Each version has its own pool of warm worker processes (`pool.WorkerPool`), started from that
version's bundle directory with that version's environment. A worker initialises once (imports
the handler module), then serves one invocation at a time through the real Runtime Interface
Client and a Runtime API of its own (`localcloud.runtime_api`). `runtime.FunctionRuntime` keeps one
pool per (function, version, code directory), so a new version never reuses an old version's workers.

The pool owns the workers' process lifecycle (start, warm, hand out, take back, reap, stop);
`invoke` owns the protocol of one invocation (the request handed to a worker, its outcome read back
as Lambda reports it). Outcomes follow Lambda: a handler exception is a function error with the
runtime's error JSON; an import failure is an init error (and the next invocation tries to
initialise again); a timeout or a crash resets the environment (the worker is killed and a fresh
one starts on demand).

This module holds the vocabulary both share: a version's spec, an invocation's result, the errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

SNAP_START_TAG = "localcloud:snap-start"
"""moto answers SnapStart as off whatever it was given: provisioning tags a function whose template
sets `SnapStart: {ApplyOn: PublishedVersions}` with this, and its published versions run the hooks."""
Status = Literal["ok", "function_error", "timeout", "crashed", "init_error"]


@dataclass(frozen=True)
class FunctionSpec:
    function_name: str
    version: str  # "1", "2", ... or "$LATEST"
    handler: str  # e.g. "inference.handler.handler"
    code_dir: Path  # extracted bundle directory
    environment: Mapping[str, str]
    timeout_s: float
    memory_mb: int
    function_arn: str  # unqualified ARN; the invoked ARN gets ":<qualifier>" appended
    snap_start: bool = False  # SnapStart on this published version: init runs the runtime's hooks

    @property
    def label(self) -> str:
        return f"{self.function_name}:{self.version}"

    @property
    def region(self) -> str:
        parts = self.function_arn.split(":")
        return parts[3] if len(parts) > 3 and parts[3] else "us-east-1"


@dataclass(frozen=True)
class InvocationResult:
    request_id: str
    executed_version: str
    status: Status
    payload: bytes  # the handler's response, or Lambda-style error JSON {"errorMessage", "errorType", ...}
    duration_ms: float
    init_duration_ms: float | None = None  # set when this invocation started a worker (a cold start)

    @property
    def function_error(self) -> str | None:
        """What Lambda returns in X-Amz-Function-Error: "Unhandled" for every non-ok outcome."""
        return None if self.status == "ok" else "Unhandled"

    def error(self) -> dict[str, object] | None:
        """The decoded error document, or None for a successful invocation."""
        return None if self.status == "ok" else dict(json.loads(self.payload))


class InvokeResult(Protocol):
    """What an invoker answers, as far as the event sources and log subscriptions read it."""

    @property
    def status(self) -> str: ...

    @property
    def payload(self) -> bytes: ...


Invoke = Callable[[str, str, bytes], InvokeResult]
"""(function name, qualifier, payload) -> the result: how the event sources and log subscriptions
invoke a function (the local cloud's router in the local cloud, a runtime in tests)."""


class PoolClosedError(RuntimeError):
    """The pool (or runtime) was closed: it runs nothing any more."""


class WorkerInitError(RuntimeError):
    """`warm()` could not initialise a worker; `payload` is the Lambda-style error JSON."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        super().__init__(payload.decode("utf-8", errors="replace"))
