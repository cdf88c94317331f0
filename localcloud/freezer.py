"""Freezing an idle execution environment, as Lambda does between invocations.

Lambda freezes the whole environment once the runtime asks for its next event and none is waiting:
no thread of the function runs until the next event is handed over (or the environment is shut
down, which, without extensions, the function is never told about). Locally, a worker's process
group is stopped with SIGSTOP at that moment and continued with SIGCONT when an invocation is
handed to it. SIGKILL ends a stopped process as it ends a running one, so timeouts, closing and the
guardian need nothing else.

`LOCALCLOUD_FREEZE=0` in the local cloud's environment turns freezing off (to attach a debugger or
watch a background thread run); the default is on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

FREEZE_ENV = "LOCALCLOUD_FREEZE"


def freeze_enabled_by_default() -> bool:
    return os.environ.get(FREEZE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


class Freezer:
    """Stops and continues one process group; `freeze` and `thaw` are called with the Runtime API's
    lock held, so they never interleave."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.pgid: int | None = None
        self.frozen = False
        self.freezes = 0
        self.frozen_since: float | None = None

    def attach(self, pgid: int) -> None:
        self.pgid = pgid

    def freeze(self) -> None:
        if not self.enabled or self.frozen or self.pgid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signal.SIGSTOP)
            self.frozen = True
            self.freezes += 1
            self.frozen_since = time.monotonic()

    def thaw(self) -> None:
        if not self.frozen or self.pgid is None:
            return
        self.frozen = False
        self.frozen_since = None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signal.SIGCONT)
