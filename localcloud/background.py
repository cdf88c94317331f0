"""The local cloud's background threads: HTTP servers on loopback and periodic loops.

Each front (gateway, Lambda API) and each loop (metrics flush, alarm evaluation, the scheduler)
runs on a daemon thread that `stop()` ends and joins, so shutting the cloud down leaves nothing
listening or running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

JOIN_TIMEOUT_S = 10.0


class BackgroundHttpServer:
    """A threading HTTP server (a daemon thread per connection) served from its own thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, host: str, port: int, name: str) -> None:
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=JOIN_TIMEOUT_S)


class PeriodicLoop:
    """Calls `step` every `interval_s` seconds until stopped. A step that raises (moto restarting or
    briefly unavailable) is tried again at the next interval: the loop itself never dies."""

    def __init__(self, step: Callable[[], object], *, interval_s: float, name: str) -> None:
        self._step = step
        self._interval = interval_s
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=JOIN_TIMEOUT_S)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._step()
            except Exception:  # the next interval tries again (see the class docstring)
                continue
