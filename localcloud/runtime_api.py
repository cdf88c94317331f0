"""The Lambda Runtime API for ONE execution environment (one worker process), on 127.0.0.1.

The worker runs the real Runtime Interface Client (`awslambdaric`), which long-polls
`GET /2018-06-01/runtime/invocation/next` and answers with `POST .../{id}/response` or
`POST .../{id}/error`; an import failure is reported to `POST /2018-06-01/runtime/init/error`.
One small server per worker means an answer can only come from the worker that holds the
request, and the server's state is the worker's state: initialising, ready, failed init, exited.

Everything here is the API and its state; processes are started and killed by `localcloud.worker`.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Any, Literal, Protocol

from localcloud.http_handler import KeepAliveHandler

API_PREFIX = "/2018-06-01/runtime"
NEXT_PATH = f"{API_PREFIX}/invocation/next"
INIT_ERROR_PATH = f"{API_PREFIX}/init/error"
# SnapStart: the runtime asks for `restore/next` after its before-snapshot hooks (here the "snapshot"
# is the process itself, so it is answered at once) and reports a failed after-restore hook.
RESTORE_NEXT_PATH = f"{API_PREFIX}/restore/next"
RESTORE_ERROR_PATH = f"{API_PREFIX}/restore/error"
INVOCATION_PREFIX = f"{API_PREFIX}/invocation/"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"

OutcomeKind = Literal["response", "error", "exited", "timeout", "closed"]
InitState = Literal["initialising", "ready", "init_error", "exited"]


@dataclass(frozen=True)
class Outcome:
    """How one invocation ended, as seen by the Runtime API."""

    kind: OutcomeKind
    body: bytes = b""
    error_type: str | None = None
    exit_code: int | None = None  # for "exited": the process's return code (negative: signal)
    # "exited"/"closed" before the runtime took the invocation from `/invocation/next`: the handler
    # never saw it, so another execution environment may run it (see localcloud.functions.invoke).
    undelivered: bool = False


@dataclass
class Invocation:
    """One request handed to the runtime through `/invocation/next`."""

    request_id: str
    event: bytes
    deadline_ms: int  # epoch milliseconds, what `context.get_remaining_time_in_millis()` counts down to
    invoked_function_arn: str
    trace_id: str
    client_context: str | None = None  # JSON text, as the Lambda-Runtime-Client-Context header carries it
    cognito_identity: str | None = None
    outcome: Outcome | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Freezing(Protocol):
    """Stops the environment while it waits for an event and continues it when one is handed over."""

    def freeze(self) -> None: ...

    def thaw(self) -> None: ...


class RuntimeApiState:
    """Invocation hand-off and lifecycle of one execution environment; every method is thread-safe.

    With a `freezer`, the environment is frozen when the runtime asks for its next invocation and
    none is waiting, and thawed when one is submitted; both happen under the state's lock, so a
    submission can never be overtaken by a late freeze.
    """

    def __init__(self, freezer: Freezing | None = None) -> None:
        self._freezer = freezer
        self._cond = threading.Condition()
        self._pending: Invocation | None = None
        self._inflight: dict[str, Invocation] = {}
        self._init_state: InitState = "initialising"
        self._init_error: bytes | None = None
        self._exit_code: int | None = None
        self._closed = False

    # -- what the worker and pool use -------------------------------------------------------------

    @property
    def init_state(self) -> InitState:
        with self._cond:
            return self._init_state

    @property
    def init_error(self) -> bytes | None:
        with self._cond:
            return self._init_error

    @property
    def exit_code(self) -> int | None:
        with self._cond:
            return self._exit_code

    def wait_initialised(self, timeout_s: float) -> InitState:
        """Block until the runtime asks for its first invocation, reports an init error or exits."""
        with self._cond:
            self._cond.wait_for(lambda: self._init_state != "initialising" or self._closed, timeout_s)
            return self._init_state

    def submit(self, invocation: Invocation) -> None:
        with self._cond:
            if self._exit_code is not None or self._closed:
                self._finish(invocation, Outcome("exited", exit_code=self._exit_code, undelivered=True))
                return
            if self._pending is not None or self._inflight:
                raise RuntimeError("this execution environment is already busy with an invocation")
            if self._freezer is not None:
                self._freezer.thaw()
            self._pending = invocation
            self._cond.notify_all()

    def complete(self, invocation: Invocation, outcome: Outcome) -> bool:
        """Finish an invocation unless something else already did; True if this call decided it."""
        with self._cond:
            return self._finish(invocation, outcome)

    def process_exited(self, exit_code: int) -> None:
        with self._cond:
            self._exit_code = exit_code
            if self._init_state in ("initialising", "ready"):
                self._init_state = "exited"
            self._fail_all(Outcome("exited", exit_code=exit_code))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._fail_all(Outcome("closed"))

    # -- what the HTTP handler uses ---------------------------------------------------------------

    def next_invocation(self) -> Invocation | None:
        """Long poll: the next invocation, or None once the environment is closed or gone."""
        with self._cond:
            if self._init_state == "initialising":
                self._init_state = "ready"
                self._cond.notify_all()
            waiting = self._pending is None and not self._closed and self._exit_code is None
            if self._freezer is not None and waiting:
                self._freezer.freeze()
            self._cond.wait_for(
                lambda: self._pending is not None or self._closed or self._exit_code is not None
            )
            invocation = self._pending
            if invocation is None:
                return None
            self._pending = None
            self._inflight[invocation.request_id] = invocation
            return invocation

    def answer(self, request_id: str, outcome: Outcome) -> bool:
        with self._cond:
            invocation = self._inflight.get(request_id)
            return invocation is not None and self._finish(invocation, outcome)

    def report_init_error(self, body: bytes) -> None:
        with self._cond:
            if self._init_state == "initialising":
                self._init_state = "init_error"
                self._init_error = body
                self._cond.notify_all()

    # -- internals (called with the condition held) -----------------------------------------------

    def _finish(self, invocation: Invocation, outcome: Outcome) -> bool:
        if invocation.outcome is not None:
            return False
        invocation.outcome = outcome
        if self._pending is invocation:
            self._pending = None
        self._inflight.pop(invocation.request_id, None)
        invocation.done.set()
        self._cond.notify_all()
        return True

    def _fail_all(self, outcome: Outcome) -> None:
        if self._pending is not None:
            self._finish(self._pending, replace(outcome, undelivered=True))
        for invocation in list(self._inflight.values()):
            self._finish(invocation, outcome)
        self._cond.notify_all()


class _Handler(KeepAliveHandler):  # the runtime client keeps its connection alive between polls
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server names it
        if self.path == RESTORE_NEXT_PATH:
            self._send(HTTPStatus.OK, b"", {"Content-Type": "application/json"})
            return
        if self.path != NEXT_PATH:
            self._reply(HTTPStatus.NOT_FOUND, {"errorMessage": f"unknown path {self.path}"})
            return
        invocation = self.server.state.next_invocation()
        if invocation is None:
            self._reply(HTTPStatus.GONE, {"errorMessage": "execution environment is shutting down"})
            self.close_connection = True
            return
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.invoked_function_arn,
            "Lambda-Runtime-Trace-Id": invocation.trace_id,
        }
        if invocation.client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = invocation.client_context
        if invocation.cognito_identity is not None:
            headers["Lambda-Runtime-Cognito-Identity"] = invocation.cognito_identity
        self._send(HTTPStatus.OK, invocation.event, headers)

    def do_POST(self) -> None:  # noqa: N802 - http.server names it
        body = self._read_body()
        state = self.server.state
        if self.path in (INIT_ERROR_PATH, RESTORE_ERROR_PATH):
            state.report_init_error(body)
            self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})
            return
        request_id, _, kind = self.path.removeprefix(INVOCATION_PREFIX).partition("/")
        if not self.path.startswith(INVOCATION_PREFIX) or kind not in ("response", "error"):
            self._reply(HTTPStatus.NOT_FOUND, {"errorMessage": f"unknown path {self.path}"})
            return
        outcome = Outcome(
            "response" if kind == "response" else "error",
            body,
            error_type=self.headers.get(ERROR_TYPE_HEADER) if kind == "error" else None,
        )
        if state.answer(request_id, outcome):
            self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})
        else:
            # Lambda answers a late or unknown request id the same way.
            self._reply(
                HTTPStatus.BAD_REQUEST,
                {"errorMessage": f"Invalid request ID: {request_id}", "errorType": "InvalidRequestID"},
            )

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: HTTPStatus, document: dict[str, str]) -> None:
        self._send(status, json.dumps(document).encode(), {"Content-Type": "application/json"})

    def _send(self, status: HTTPStatus, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_whole(status, headers.items(), body)
        except OSError:
            # The runtime went away mid-answer; its exit is noticed and reported by the worker.
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: RuntimeApiState) -> None:
        self.state = state
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A killed runtime resets its connection: expected, and reported through its exit instead.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class RuntimeApiServer:
    """A Runtime API endpoint on an ephemeral loopback port, serving from a background thread."""

    POLL_INTERVAL_S = 0.05  # how quickly `close()` stops the accept loop

    def __init__(self, freezer: Freezing | None = None) -> None:
        self.state = RuntimeApiState(freezer)
        self._server = _Server(self.state)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": self.POLL_INTERVAL_S},
            name=f"runtime-api-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._closed = False
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        """The value of AWS_LAMBDA_RUNTIME_API: host:port, no scheme."""
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stop listening and release every waiting poll; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.state.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
