"""A watchdog that stops the local cloud's child processes if the local cloud itself dies first.

moto and every function worker run in their own session (a terminal's Ctrl-C or hangup must not
kill them before the local cloud has saved its state through them), so nothing ties their life to
the local cloud's. An orderly stop ends them; this covers the disorderly end (SIGKILL, a crash in
native code, an interpreter that exits past every `finally`).

The guardian is one small process per local-cloud process, started on first use. It reads, from a
pipe only the local cloud holds, the process-group leaders to watch. When the pipe reaches end of
file, which the kernel guarantees however the local cloud ended, it SIGKILLs every watched process
group that still exists and exits. Each watched process is identified by its pid and its start
time, so a pid the system has since reused is never killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from typing import IO

_lock = threading.Lock()
_guardian: _Guardian | None = None


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat, field 22), or None."""
    try:
        stat = open(f"/proc/{pid}/stat", encoding="ascii", errors="replace").read()  # noqa: SIM115
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


class _Guardian:
    def __init__(self) -> None:
        read_end, write_end = os.pipe()  # neither end is inherited by other children
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "localcloud.guardian"],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a terminal's signals reach the local cloud, never its guardian
            )
        finally:
            os.close(read_end)
        self._pipe: IO[str] = os.fdopen(write_end, "w", buffering=1)

    def watch(self, pid: int) -> None:
        started = start_time(pid)
        if started is not None:
            with contextlib.suppress(OSError, ValueError):
                self._pipe.write(f"{pid} {started}\n")


def watch(pid: int) -> None:
    """Have this process's guardian kill `pid`'s process group if this process dies first. Never
    raises: the guardian is a safety net, and a child it cannot watch still runs and stops normally."""
    global _guardian
    if not sys.platform.startswith("linux"):
        return  # /proc is the guardian's only way to tell a live child from a reused pid
    with _lock:
        try:
            if _guardian is None or _guardian.process.poll() is not None:
                _guardian = _Guardian()
        except OSError:
            return
        _guardian.watch(pid)


def guardian_pid() -> int | None:
    with _lock:
        return _guardian.process.pid if _guardian is not None else None


def _kill_survivors(watched: dict[int, str]) -> None:
    for pid, started in watched.items():
        if start_time(pid) == started:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)


def main() -> None:
    for name in ("SIGINT", "SIGHUP", "SIGTERM", "SIGPIPE"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    watched: dict[int, str] = {}
    for line in sys.stdin:
        pid_text, _, started = line.strip().partition(" ")
        if not pid_text.isdigit():
            continue
        # Forget processes that have ended, so the table stays as small as what is alive.
        watched = {pid: s for pid, s in watched.items() if start_time(pid) == s}
        watched[int(pid_text)] = started
    _kill_survivors(watched)


if __name__ == "__main__":
    main()
