"""Run Lambda function versions locally, the way Lambda runs them.

Each version has its own pool of warm worker processes (`WorkerPool`), started from that version's
bundle directory with that version's environment. A worker initialises once (imports the handler
module), then serves one invocation at a time through the real Runtime Interface Client and a
Runtime API of its own (`localcloud.runtime_api`). `FunctionRuntime` keeps one pool per
(function, version, code directory), so a new version never reuses an old version's workers.

Outcomes follow Lambda: a handler exception is a function error with the runtime's error JSON;
an import failure is an init error (and the next invocation tries to initialise again); a timeout
or a crash resets the environment (the worker is killed and a fresh one starts on demand).
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from localcloud.image_functions import extra_sys_path
from localcloud.runtime_api import Invocation, Outcome
from localcloud.worker import LogSink, Worker, describe_exit, worker_command

Status = Literal["ok", "function_error", "timeout", "crashed", "init_error"]

# Variables Lambda sets itself and refuses in a function's configuration.
RESERVED_ENV = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
DEFAULT_INIT_TIMEOUT_S = 10.0  # Lambda's limit on the init phase of an on-demand environment


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


class PoolClosedError(RuntimeError):
    """The pool (or runtime) was closed: it runs nothing any more."""


class WorkerInitError(RuntimeError):
    """`warm()` could not initialise a worker; `payload` is the Lambda-style error JSON."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        super().__init__(payload.decode("utf-8", errors="replace"))


def lambda_environment(
    spec: FunctionSpec,
    *,
    task_root: Path,
    runtime_dirs: Sequence[Path],
    base_env: Mapping[str, str],
    python_version: str,
) -> dict[str, str]:
    """The worker's environment: defaults < base env < the version's variables < Lambda's own."""
    own = {key: value for key, value in spec.environment.items() if key not in RESERVED_ENV}
    log_stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{spec.version}]{uuid.uuid4().hex}"
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        **base_env,
        **own,
        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{python_version}",
        "AWS_REGION": spec.region,
        "AWS_DEFAULT_REGION": spec.region,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(runtime_dirs[0]) if runtime_dirs else "",
        "_HANDLER": spec.handler,
    }


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


def _max_memory_mb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        return None
    return None


class WorkerPool:
    """All warm workers of ONE function version; `invoke` is thread-safe.

    Concurrent invocations use different workers: an idle warm worker if there is one, else a new
    one while fewer than `max_workers` exist, else the caller waits for a worker to become idle.
    Workers start on demand (or through `warm`), never in the background, so a version whose init
    fails costs one attempt per invocation and never spins.
    """

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        runtime_dirs: Sequence[Path],
        base_env: Mapping[str, str],
        max_workers: int = 4,
        log_sink: LogSink | None = None,
        init_timeout_s: float = DEFAULT_INIT_TIMEOUT_S,
        python: str = sys.executable,
        pycache_dir: Path | None = None,
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self.spec = spec
        self.max_workers = max_workers
        self._task_root = spec.code_dir.resolve()
        self._runtime_dirs = [Path(path).resolve() for path in runtime_dirs]
        self._base_env = dict(base_env)
        self._log_sink = log_sink
        self._init_timeout_s = init_timeout_s
        self._python = python
        self._pycache_dir = pycache_dir.resolve() if pycache_dir is not None else None
        self._cond = threading.Condition()
        self._idle: list[Worker] = []  # most recently used last, reused first
        self._workers: set[Worker] = set()  # every started, not yet closed worker
        self._slots = 0  # workers started or being started: never more than max_workers
        self._closed = False

    # -- public ----------------------------------------------------------------------------------

    def invoke(
        self, event: bytes, *, invoked_qualifier: str | None = None, client_context: str | None = None
    ) -> InvocationResult:
        """Run one invocation; `client_context` is the decoded JSON of the Invoke API's ClientContext."""
        request_id = str(uuid.uuid4())
        spec = self.spec
        arn = f"{spec.function_arn}:{invoked_qualifier}" if invoked_qualifier else spec.function_arn
        # A worker that died while idle (killed from outside) can be handed a request in the moment
        # before its exit is noticed. The runtime never took that request, so, as Lambda would, it
        # goes to another worker; each such attempt removes one dead worker from the pool.
        for attempt in range(self.max_workers + 1):
            worker, init_failure, cold = self._acquire(request_id)
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
            self._log(f"START RequestId: {request_id} Version: {spec.version}")
            started = time.monotonic()
            try:
                outcome = worker.invoke(invocation, spec.timeout_s)
            except BaseException:
                self._release(worker)
                raise
            duration_ms = (time.monotonic() - started) * 1000
            self._release(worker, exited=outcome.kind == "exited")
            served_by = worker.pid
            retry = outcome.kind == "exited" and outcome.undelivered and not self._closed
            if not retry or attempt == self.max_workers:
                break
            self._log(f"RETRY RequestId: {request_id} (worker {worker.pid} had exited before taking it)")
        status, payload = self._interpret(outcome, request_id)
        if self._log_sink is not None:
            self._log(f"END RequestId: {request_id}")
            self._log(self._report(request_id, duration_ms, cold_start_ms, served_by, status))
        return InvocationResult(request_id, spec.version, status, payload, duration_ms, cold_start_ms)

    def warm(self, n: int = 1) -> None:
        """Start workers until `n` (at most `max_workers`) exist; raise WorkerInitError if init fails."""
        with self._cond:
            self._check_open()
            wanted = max(0, min(n, self.max_workers) - self._slots)
            self._slots += wanted
        failures: list[InvocationResult] = []

        def start_one() -> None:
            try:
                worker, failure = self._start_worker(f"warm-{uuid.uuid4()}")
            except PoolClosedError:
                return
            if worker is not None:
                self._release(worker)
            elif failure is not None:
                failures.append(failure)

        threads = [threading.Thread(target=start_one, daemon=True) for _ in range(wanted)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise WorkerInitError(failures[0].payload)

    def worker_pids(self) -> list[int]:
        with self._cond:
            return sorted(worker.pid for worker in self._workers if worker.alive)

    def close(self) -> None:
        """Kill every worker and stop every Runtime API server; idempotent."""
        with self._cond:
            self._closed = True
            workers = list(self._workers)
            self._workers.clear()
            self._idle.clear()
            self._cond.notify_all()
        for worker in workers:
            worker.kill()  # all at once, then reap and stop servers one by one
        for worker in workers:
            worker.close()

    # -- internals -------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise PoolClosedError(f"the worker pool of {self.spec.label} is closed")

    def _acquire(self, request_id: str) -> tuple[Worker | None, InvocationResult | None, bool]:
        """An idle worker, or a new one (cold: True), or why a new one failed to initialise."""
        dead: list[Worker] = []  # died while idle (killed from outside): closed once the lock is free
        try:
            with self._cond:
                while True:
                    self._check_open()
                    while self._idle:
                        worker = self._idle.pop()
                        if worker.alive:
                            return worker, None, False
                        self._forget(worker)
                        dead.append(worker)
                    if self._slots < self.max_workers:
                        self._slots += 1
                        break
                    self._cond.wait()
        finally:
            for worker in dead:
                worker.close()
        return (*self._start_worker(request_id), True)

    def _start_worker(self, request_id: str) -> tuple[Worker | None, InvocationResult | None]:
        """Start a worker in a slot already reserved; on failure free the slot and say why."""
        spec = self.spec
        try:
            env = lambda_environment(
                spec,
                task_root=self._task_root,
                runtime_dirs=self._runtime_dirs,
                base_env=self._base_env,
                python_version=self._python_version(),
            )
            # An image function's task root names the site-packages its image installs (image_functions).
            paths = [*self._runtime_dirs, *extra_sys_path(self._task_root)]
            command = worker_command(self._python, spec.handler, self._task_root, paths, self._pycache_dir)
            worker = Worker(command, env=env, cwd=self._task_root, label=spec.label, log_sink=self._log_sink)
        except BaseException:
            self._free_slot()
            raise
        with self._cond:
            closed = self._closed
            if not closed:
                self._workers.add(worker)
        if closed:
            worker.close()
            self._free_slot()
            raise PoolClosedError(f"the worker pool of {spec.label} is closed")
        state = worker.wait_ready(self._init_timeout_s)
        if state == "init_timeout":
            # Lambda retries an init that overran its limit as part of the first invocation, under
            # the function's timeout ("suppressed init"); here the same process gets that time.
            overran_ms = (time.monotonic() - worker.started) * 1000
            self._log(f"INIT_REPORT Init Duration: {overran_ms:.2f} ms Phase: init Status: timeout")
            state = worker.wait_ready(spec.timeout_s)
        if state == "ready":
            return worker, None
        init_ms = (time.monotonic() - worker.started) * 1000
        exit_code = worker.api.state.exit_code
        init_error = worker.api.state.init_error
        worker.close()
        with self._cond:
            self._forget(worker)
        self._log(f"INIT_REPORT Init Duration: {init_ms:.2f} ms Phase: init Status: error")
        if state == "init_error" and init_error is not None:
            payload = init_error
        elif state == "init_timeout":
            message = (
                f"init did not finish within {self._init_timeout_s:.2f} seconds, nor within the "
                f"function's timeout of {spec.timeout_s:.2f} seconds after that"
            )
            payload = _error_payload("Runtime.InitTimeout", f"RequestId: {request_id} Error: {message}")
        else:
            reason = "the worker pool was closed" if self._closed else describe_exit(exit_code)
            message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
            payload = _error_payload("Runtime.ExitError", message)
        return None, InvocationResult(request_id, spec.version, "init_error", payload, init_ms, init_ms)

    def _release(self, worker: Worker, *, exited: bool = False) -> None:
        """Back to the idle list, or closed if it is dead (`exited`: its Runtime API saw it exit)."""
        with self._cond:
            if worker.alive and not exited and not self._closed:
                self._idle.append(worker)
                self._cond.notify()
                return
            self._forget(worker)
        worker.close()

    def _forget(self, worker: Worker) -> None:
        """Drop a worker that is dead or being closed and free its slot (condition held)."""
        if worker in self._workers:
            self._workers.discard(worker)
            self._slots -= 1
            self._cond.notify()

    def _free_slot(self) -> None:
        with self._cond:
            self._slots -= 1
            self._cond.notify()

    def _interpret(self, outcome: Outcome, request_id: str) -> tuple[Status, bytes]:
        if outcome.kind == "response":
            return "ok", outcome.body
        if outcome.kind == "error":
            return "function_error", outcome.body
        if outcome.kind == "timeout":
            message = f"RequestId: {request_id} Error: Task timed out after {self.spec.timeout_s:.2f} seconds"
            return "timeout", _error_payload("Sandbox.Timedout", message)
        if outcome.kind == "closed" or self._closed:
            message = f"RequestId: {request_id} Error: the execution environment was shut down"
            return "crashed", _error_payload("Runtime.ExitError", message)
        reason = describe_exit(outcome.exit_code)
        message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
        return "crashed", _error_payload("Runtime.ExitError", message)

    def _report(
        self, request_id: str, duration_ms: float, init_ms: float | None, pid: int, status: Status
    ) -> str:
        parts = [
            f"REPORT RequestId: {request_id}",
            f"Duration: {duration_ms:.2f} ms",
            f"Billed Duration: {math.ceil(duration_ms)} ms",
            f"Memory Size: {self.spec.memory_mb} MB",
        ]
        memory = _max_memory_mb(pid)
        if memory is not None:
            parts.append(f"Max Memory Used: {memory} MB")
        if init_ms is not None:
            parts.append(f"Init Duration: {init_ms:.2f} ms")
        if status in ("timeout", "crashed"):
            parts.append(f"Status: {status}")
        return "\t".join(parts)

    def _log(self, line: str) -> None:
        if self._log_sink is not None:
            try:
                self._log_sink(self.spec.label, line)
            except Exception:
                self._log_sink = None

    def _python_version(self) -> str:
        if self._python == sys.executable:
            return f"{sys.version_info.major}.{sys.version_info.minor}"
        return "3"  # unknown interpreter: a neutral AWS_EXECUTION_ENV


class FunctionRuntime:
    """Every version's pool, keyed by (function name, version, code directory).

    A spec whose configuration changed (environment, handler, timeout, memory) under the same key
    gets a fresh pool, as Lambda resets environments on a configuration update.
    """

    def __init__(
        self,
        *,
        runtime_dirs: Sequence[Path],
        base_env: Mapping[str, str],
        max_workers_per_version: int = 4,
        log_sink: LogSink | None = None,
        init_timeout_s: float = DEFAULT_INIT_TIMEOUT_S,
        pycache_dir: Path | None = None,
    ) -> None:
        self._runtime_dirs = list(runtime_dirs)
        self._base_env = dict(base_env)
        self._max_workers = max_workers_per_version
        self._log_sink = log_sink
        self._init_timeout_s = init_timeout_s
        self._pycache_dir = pycache_dir
        self._pools: dict[tuple[str, str, Path], WorkerPool] = {}
        self._lock = threading.Lock()
        self._closed = False

    def invoke(
        self,
        spec: FunctionSpec,
        event: bytes,
        *,
        invoked_qualifier: str | None = None,
        client_context: str | None = None,
    ) -> InvocationResult:
        return self.pool(spec).invoke(
            event, invoked_qualifier=invoked_qualifier, client_context=client_context
        )

    def pool(self, spec: FunctionSpec) -> WorkerPool:
        key = (spec.function_name, spec.version, spec.code_dir.resolve())
        stale: WorkerPool | None = None
        with self._lock:
            if self._closed:
                raise PoolClosedError("the function runtime is closed")
            pool = self._pools.get(key)
            if pool is None or pool.spec != spec:
                stale = pool
                pool = WorkerPool(
                    spec,
                    runtime_dirs=self._runtime_dirs,
                    base_env=self._base_env,
                    max_workers=self._max_workers,
                    log_sink=self._log_sink,
                    init_timeout_s=self._init_timeout_s,
                    pycache_dir=self._pycache_dir,
                )
                self._pools[key] = pool
        if stale is not None:
            stale.close()
        return pool

    def pools(self) -> list[WorkerPool]:
        with self._lock:
            return list(self._pools.values())

    def close_function(self, function_name: str, version: str | None = None) -> None:
        """Stop the pools of a deleted function (every version, or one)."""
        with self._lock:
            keys = [k for k in self._pools if k[0] == function_name and version in (None, k[1])]
            pools = [self._pools.pop(key) for key in keys]
        for pool in pools:
            pool.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()
