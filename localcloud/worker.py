"""One execution environment: a Python process running the Runtime Interface Client, and its API.

The process is started with `python -I -S` and an explicit sys.path (the bundle, then the
runtime-provided folders, then the standard library), so it sees what a Lambda sandbox sees and
never the venv's site-packages. It gets its own process group, so killing it also kills anything
the handler started. A monitor thread reaps it and tells the Runtime API the moment it exits, so a
request held by a crashed worker fails at once instead of at its deadline.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from localcloud.freezer import Freezer
from localcloud.runtime_api import Invocation, Outcome, RuntimeApiServer

LogSink = Callable[[str, str], None]

# Run by `python -I -S -c`: argv is [handler, task root, runtime dir, ...]. Lambda's order:
# the function's code first, then the runtime's own folder, then the standard library.
BOOTSTRAP = """\
import runpy, sys
handler, *paths = sys.argv[1:]
sys.path[:0] = paths
sys.argv[1:] = [handler]
runpy.run_module("awslambdaric", run_name="__main__", alter_sys=True)
"""

ReadyState = Literal["ready", "init_error", "exited", "init_timeout"]


def worker_command(
    python: str, handler: str, code_dir: Path, runtime_dirs: Sequence[Path], pycache_dir: Path | None
) -> list[str]:
    # Lambda's task root is read-only: no bytecode is written beside the code. Either keep it that
    # way (-B) or cache bytecode outside the bundle, which makes later cold starts faster.
    bytecode = ["-X", f"pycache_prefix={pycache_dir}"] if pycache_dir is not None else ["-B"]
    return [
        python,
        "-I",  # no PYTHON* variables, no user site, no script directory on sys.path
        "-S",  # no site module: the venv's site-packages never reach the worker
        "-u",
        *bytecode,
        "-c",
        BOOTSTRAP,
        handler,
        str(code_dir),
        *(str(path) for path in runtime_dirs),
    ]


def describe_exit(exit_code: int | None) -> str:
    """Go's wording, which Lambda's Runtime.ExitError messages use: 'exit status 1', 'signal: killed'."""
    if exit_code is None:
        return "exit status unknown"
    if exit_code < 0:
        try:
            name = signal.strsignal(-exit_code) or f"signal {-exit_code}"
        except ValueError:
            name = f"signal {-exit_code}"
        return f"signal: {name.lower()}"
    return f"exit status {exit_code}"


class Worker:
    """A warm (or warming) execution environment serving one invocation at a time."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        label: str,
        log_sink: LogSink | None = None,
        freeze: bool = False,
    ) -> None:
        self.label = label
        self._log_sink = log_sink
        self.freezer = Freezer(enabled=freeze)
        self.api = RuntimeApiServer(self.freezer)
        self.started = time.monotonic()
        self.idle_since = self.started  # set by the pool each time the worker becomes idle
        self.init_duration_ms: float | None = None
        self._closed = False
        self._close_lock = threading.Lock()
        try:
            self.process = subprocess.Popen(
                list(command),
                env={**env, "AWS_LAMBDA_RUNTIME_API": self.api.address},
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if log_sink is not None else subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except BaseException:
            self.api.close()
            raise
        self.freezer.attach(self.process.pid)  # its own session: the group id is its pid
        self._pump_lock = threading.Lock()  # held while a chunk read from the pipe is being logged
        self._monitor = threading.Thread(target=self._watch, name=f"worker-{self.pid}-monitor", daemon=True)
        self._monitor.start()
        self._pump: threading.Thread | None = None
        self._stdout_fd = -1
        if log_sink is not None and self.process.stdout is not None:
            self._stdout_fd = self.process.stdout.fileno()
            self._pump = threading.Thread(
                target=self._copy_logs,
                args=(self.process.stdout.fileno(),),
                name=f"worker-{self.pid}-logs",
                daemon=True,
            )
            self._pump.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return not self._closed and self.api.state.exit_code is None and self.process.poll() is None

    def wait_ready(self, timeout_s: float) -> ReadyState:
        """Wait for init to finish: the runtime's first `next` poll, an init error, or an exit."""
        state = self.api.state.wait_initialised(timeout_s)
        if state == "ready":
            self.init_duration_ms = (time.monotonic() - self.started) * 1000
            return "ready"
        if state == "init_error":
            return "init_error"
        if state == "exited":
            return "exited"
        return "init_timeout"

    def invoke(self, invocation: Invocation, timeout_s: float) -> Outcome:
        """Hand the invocation to the runtime and wait for its answer, its exit, or the timeout.

        On a timeout the process is killed, as Lambda resets the environment.
        """
        state = self.api.state
        state.submit(invocation)
        if not invocation.done.wait(timeout_s) and state.complete(invocation, Outcome("timeout")):
            self.close()
        assert invocation.outcome is not None
        return invocation.outcome

    def kill(self) -> None:
        """SIGKILL the whole process group (the runtime and anything the handler started)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def close(self) -> None:
        """Kill the process, reap it, stop the Runtime API server; idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self.kill()
        self.process.wait()
        self._monitor.join()
        self.kill()  # children that outlived a runtime which had exited on its own
        self.api.close()
        if self._pump is not None:
            self._pump.join(timeout=5)

    def _watch(self) -> None:
        code = self.process.wait()
        self.api.state.process_exited(code)

    def logs_drained(self) -> bool:
        """Whether every complete line the process has written so far has reached the log sink."""
        pump = self._pump
        if pump is None or not pump.is_alive():
            return True
        with self._pump_lock:
            if self._stdout_fd < 0:
                return True
            try:
                unread = bytearray(4)
                fcntl.ioctl(self._stdout_fd, termios.FIONREAD, unread)
            except OSError:
                return True
            return int.from_bytes(unread, "little") == 0

    def _copy_logs(self, fd: int) -> None:
        """Read the merged output in chunks and pass each complete line on. Reading and passing a
        chunk happen under `_pump_lock`, so `logs_drained` sees either unread bytes in the pipe or
        lines already passed on, never lines in between."""
        sink = self._log_sink
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        partial = b""

        def emit(raw: bytes) -> None:
            nonlocal sink
            if sink is None:
                return
            try:
                sink(self.label, raw.decode("utf-8", errors="replace"))
            except Exception:  # a failing sink must never block the worker's output
                sink = None

        try:
            while True:
                poller.poll()
                with self._pump_lock:
                    try:
                        chunk = os.read(fd, 65536)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        if partial:
                            emit(partial)
                        return
                    *lines, partial = (partial + chunk).split(b"\n")
                    for raw in lines:
                        emit(raw)
        finally:
            with self._pump_lock:
                self._stdout_fd = -1
                assert self.process.stdout is not None
                self.process.stdout.close()
