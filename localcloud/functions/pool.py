"""The process lifecycle of one function version's workers: start (on demand or ahead of traffic),
hand out and take back, reap the dead, stop them all.

What happens between taking a worker and giving it back is the invoke protocol
(`localcloud.functions.invoke`).
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from localcloud import guardian
from localcloud.functions import FunctionSpec, InvocationResult, PoolClosedError, WorkerInitError
from localcloud.functions.invoke import error_payload, invoke
from localcloud.image_functions import extra_sys_path
from localcloud.worker import LogSink, Worker, describe_exit, worker_command

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
        # With SnapStart the runtime runs the before-snapshot hooks after init, then the after-restore
        # hooks (awslambdaric, snapshot_restore_py): each worker is its own snapshot, restored at once.
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start" if spec.snap_start else "on-demand",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{python_version}",
        "AWS_REGION": spec.region,
        "AWS_DEFAULT_REGION": spec.region,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(runtime_dirs[0]) if runtime_dirs else "",
        "_HANDLER": spec.handler,
    }


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
        freeze: bool = True,
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
        self.freeze = freeze
        self._cond = threading.Condition()
        self._idle: list[Worker] = []  # most recently used last, reused first
        self._workers: set[Worker] = set()  # every started, not yet closed worker
        self._closing: set[Worker] = set()  # being closed: their output may still be on its way
        self._slots = 0  # workers started or being started: never more than max_workers
        self._closed = False

    # -- public ----------------------------------------------------------------------------------

    def invoke(
        self, event: bytes, *, invoked_qualifier: str | None = None, client_context: str | None = None
    ) -> InvocationResult:
        """Run one invocation; `client_context` is the decoded JSON of the Invoke API's ClientContext."""
        return invoke(self, event, invoked_qualifier=invoked_qualifier, client_context=client_context)

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
                self.release(worker)
            elif failure is not None:
                failures.append(failure)

        threads = [threading.Thread(target=start_one, daemon=True) for _ in range(wanted)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise WorkerInitError(failures[0].payload)

    def reclaim_idle(self, idle_for_s: float = 0.0) -> list[int]:
        """Shut down workers idle (frozen) for at least `idle_for_s`, as Lambda reclaims idle
        environments: SIGKILL, no warning to the function. Returns their pids."""
        now = time.monotonic()
        with self._cond:
            stale = [w for w in self._idle if now - w.idle_since >= idle_for_s]
            for worker in stale:
                self._idle.remove(worker)
                self._forget(worker)
        for worker in stale:
            self._close_worker(worker)
        return [worker.pid for worker in stale]

    def idle_workers(self) -> list[Worker]:
        with self._cond:
            return list(self._idle)

    def logs_drained(self) -> bool:
        """Whether every line each worker (running, idle or being closed) wrote has been passed on."""
        with self._cond:
            workers = list(self._workers | self._closing)
        return all(worker.logs_drained() for worker in workers)

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
            self._close_worker(worker)

    # -- what the invoke protocol uses ---------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def logging(self) -> bool:
        """Whether a log sink still takes this pool's lines."""
        return self._log_sink is not None

    def acquire(self, request_id: str) -> tuple[Worker | None, InvocationResult | None, bool]:
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
                self._close_worker(worker)
        return (*self._start_worker(request_id), True)

    def release(self, worker: Worker, *, exited: bool = False) -> None:
        """Back to the idle list, or closed if it is dead (`exited`: its Runtime API saw it exit)."""
        with self._cond:
            if worker.alive and not exited and not self._closed:
                worker.idle_since = time.monotonic()
                self._idle.append(worker)
                self._cond.notify()
                return
            self._forget(worker)
        self._close_worker(worker)

    def log(self, line: str) -> None:
        if self._log_sink is not None:
            try:
                self._log_sink(self.spec.label, line)
            except Exception:
                self._log_sink = None

    # -- internals -------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise PoolClosedError(f"the worker pool of {self.spec.label} is closed")

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
            worker = Worker(
                command,
                env=env,
                cwd=self._task_root,
                label=spec.label,
                log_sink=self._log_sink,
                freeze=self.freeze,
            )
            guardian.watch(worker.pid)  # killed with its group if the local cloud dies unstopped
        except BaseException:
            self._free_slot()
            raise
        with self._cond:
            closed = self._closed
            if not closed:
                self._workers.add(worker)
        if closed:
            self._close_worker(worker)
            self._free_slot()
            raise PoolClosedError(f"the worker pool of {spec.label} is closed")
        state = worker.wait_ready(self._init_timeout_s)
        if state == "init_timeout":
            # Lambda retries an init that overran its limit as part of the first invocation, under
            # the function's timeout ("suppressed init"); here the same process gets that time.
            overran_ms = (time.monotonic() - worker.started) * 1000
            self.log(f"INIT_REPORT Init Duration: {overran_ms:.2f} ms Phase: init Status: timeout")
            state = worker.wait_ready(spec.timeout_s)
        if state == "ready":
            return worker, None
        init_ms = (time.monotonic() - worker.started) * 1000
        exit_code = worker.api.state.exit_code
        init_error = worker.api.state.init_error
        self._close_worker(worker)
        with self._cond:
            self._forget(worker)
        self.log(f"INIT_REPORT Init Duration: {init_ms:.2f} ms Phase: init Status: error")
        if state == "init_error" and init_error is not None:
            payload = init_error
        elif state == "init_timeout":
            message = (
                f"init did not finish within {self._init_timeout_s:.2f} seconds, nor within the "
                f"function's timeout of {spec.timeout_s:.2f} seconds after that"
            )
            payload = error_payload("Runtime.InitTimeout", f"RequestId: {request_id} Error: {message}")
        else:
            reason = "the worker pool was closed" if self._closed else describe_exit(exit_code)
            message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
            payload = error_payload("Runtime.ExitError", message)
        return None, InvocationResult(request_id, spec.version, "init_error", payload, init_ms, init_ms)

    def _forget(self, worker: Worker) -> None:
        """Drop a worker that is dead or being closed and free its slot (condition held)."""
        if worker in self._workers:
            self._workers.discard(worker)
            self._slots -= 1
            self._cond.notify()

    def _close_worker(self, worker: Worker) -> None:
        """Close a worker no longer in the pool; until its output is read to the end, `logs_drained`
        still waits for it."""
        with self._cond:
            self._closing.add(worker)
        try:
            worker.close()
        finally:
            with self._cond:
                self._closing.discard(worker)

    def _free_slot(self) -> None:
        with self._cond:
            self._slots -= 1
            self._cond.notify()

    def _python_version(self) -> str:
        if self._python == sys.executable:
            return f"{sys.version_info.major}.{sys.version_info.minor}"
        return "3"  # unknown interpreter: a neutral AWS_EXECUTION_ENV
