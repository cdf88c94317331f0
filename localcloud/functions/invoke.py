"""The invoke protocol: one invocation handed to a worker of a pool and its outcome read back.

The pool lends a worker and takes it back (`localcloud.functions.pool`); this module builds the
request the runtime receives (request id, deadline, invoked ARN, trace id, client context), turns the
Runtime API's outcome into Lambda's status and payload, and writes Lambda's START, END and REPORT
lines for it.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import TYPE_CHECKING

from localcloud.functions import FunctionSpec, InvocationResult, Status
from localcloud.runtime_api import Invocation, Outcome
from localcloud.worker import describe_exit

if TYPE_CHECKING:
    from localcloud.functions.pool import WorkerPool


def invoke(
    pool: WorkerPool, event: bytes, *, invoked_qualifier: str | None, client_context: str | None
) -> InvocationResult:
    """Run one invocation on a worker of `pool`; `client_context` is the decoded ClientContext JSON."""
    request_id = str(uuid.uuid4())
    spec = pool.spec
    arn = f"{spec.function_arn}:{invoked_qualifier}" if invoked_qualifier else spec.function_arn
    # A worker that died while idle (killed from outside) can be handed a request in the moment
    # before its exit is noticed. The runtime never took that request, so, as Lambda would, it
    # goes to another worker; each such attempt removes one dead worker from the pool.
    for attempt in range(pool.max_workers + 1):
        worker, init_failure, cold = pool.acquire(request_id)
        if worker is None:
            assert init_failure is not None
            return init_failure
        cold_start_ms = worker.init_duration_ms if cold else None
        invocation = Invocation(
            request_id=request_id,
            event=event,
            deadline_ms=int((time.time() + spec.timeout_s) * 1000),
            invoked_function_arn=arn,
            trace_id=_trace_id(),
            client_context=client_context,
        )
        pool.log(f"START RequestId: {request_id} Version: {spec.version}")
        started = time.monotonic()
        try:
            outcome = worker.invoke(invocation, spec.timeout_s)
        except BaseException:
            pool.release(worker)
            raise
        duration_ms = (time.monotonic() - started) * 1000
        pool.release(worker, exited=outcome.kind == "exited")
        served_by = worker.pid
        retry = outcome.kind == "exited" and outcome.undelivered and not pool.closed
        if not retry or attempt == pool.max_workers:
            break
        pool.log(f"RETRY RequestId: {request_id} (worker {worker.pid} had exited before taking it)")
    status, payload = _interpret(spec, outcome, request_id, pool_closed=pool.closed)
    if pool.logging:
        pool.log(f"END RequestId: {request_id}")
        pool.log(_report(spec, request_id, duration_ms, cold_start_ms, served_by, status))
    return InvocationResult(request_id, spec.version, status, payload, duration_ms, cold_start_ms)


def error_payload(error_type: str, message: str) -> bytes:
    """Lambda's error document for an error the runtime itself reports."""
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


def _interpret(
    spec: FunctionSpec, outcome: Outcome, request_id: str, *, pool_closed: bool
) -> tuple[Status, bytes]:
    if outcome.kind == "response":
        return "ok", outcome.body
    if outcome.kind == "error":
        return "function_error", outcome.body
    if outcome.kind == "timeout":
        message = f"RequestId: {request_id} Error: Task timed out after {spec.timeout_s:.2f} seconds"
        return "timeout", error_payload("Sandbox.Timedout", message)
    if outcome.kind == "closed" or pool_closed:
        message = f"RequestId: {request_id} Error: the execution environment was shut down"
        return "crashed", error_payload("Runtime.ExitError", message)
    reason = describe_exit(outcome.exit_code)
    message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
    return "crashed", error_payload("Runtime.ExitError", message)


def _report(
    spec: FunctionSpec, request_id: str, duration_ms: float, init_ms: float | None, pid: int, status: Status
) -> str:
    parts = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {math.ceil(duration_ms)} ms",
        f"Memory Size: {spec.memory_mb} MB",
    ]
    memory = _max_memory_mb(pid)
    if memory is not None:
        parts.append(f"Max Memory Used: {memory} MB")
    if init_ms is not None:
        parts.append(f"Init Duration: {init_ms:.2f} ms")
    if status in ("timeout", "crashed"):
        parts.append(f"Status: {status}")
    return "\t".join(parts)


def _max_memory_mb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        return None
    return None
