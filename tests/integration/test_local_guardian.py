"""The guardian kills the process groups it watches once the process that started them is gone,
however it went (here SIGKILL: no handler, no `finally`, no atexit runs)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

PARENT = """
import os, signal, subprocess, sys
from localcloud import guardian
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
guardian.watch(child.pid)
if sys.argv[1:] == ["frozen"]:  # as the local runtime freezes an idle worker
    os.killpg(child.pid, signal.SIGSTOP)
print(child.pid, guardian.guardian_pid(), flush=True)
sys.stdin.readline()
os.kill(os.getpid(), signal.SIGKILL)
"""


def alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


def wait_gone(pid: int, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("state", ["running", "frozen"])
def test_a_killed_parent_leaves_no_watched_child_behind(state: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, state],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None and parent.stdin is not None
    child, guardian = (int(pid) for pid in parent.stdout.readline().split())
    try:
        assert alive(child) and alive(guardian)
        parent.stdin.write("die\n")
        parent.stdin.flush()
        assert parent.wait(timeout=20) < 0
        assert wait_gone(child), "the watched child outlived its parent"
        assert wait_gone(guardian), "the guardian did not exit after its parent"
    finally:
        for pid in (child, guardian):
            if alive(pid):
                os.kill(pid, 9)


def test_a_reused_pid_is_never_killed() -> None:
    """The guardian compares start times: a pid that now names another process is left alone."""
    survivor = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True
    )
    try:
        guardian = subprocess.Popen(
            [sys.executable, "-m", "localcloud.guardian"],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdin=subprocess.PIPE,
            text=True,
        )
        assert guardian.stdin is not None
        guardian.stdin.write(f"{survivor.pid} 1\n")  # the right pid, a start time it never had
        guardian.stdin.close()
        assert guardian.wait(timeout=20) == 0
        assert survivor.poll() is None
    finally:
        survivor.kill()
        survivor.wait()
