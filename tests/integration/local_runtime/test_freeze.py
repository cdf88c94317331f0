"""Freeze in the local runtime: an idle worker is stopped as Lambda freezes an environment, its
threads do not run until the next invocation, and an idle worker can be reclaimed; nothing the
handler logged before returning is lost when that happens."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from localcloud.worker import Worker
from tests.integration.local_runtime.support import LogFunctions, MakeLogFunctions
from tests.integration.runtime_support import process_state, wait_until


def ticks(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


def frozen_after(functions: LogFunctions, name: str, event: bytes = b"{}") -> Worker:
    """Invoke `name` (it must answer), then its one idle worker once it is frozen."""
    assert functions.invoke(name, event).status == "ok"
    (worker,) = functions.runtime.pools()[0].idle_workers()
    wait_until(lambda: process_state(worker.pid) == "T", what="the worker to be frozen")
    return worker


def watch_ticks(functions: LogFunctions, path: Path, idle_s: float = 0.4) -> tuple[int, int, int]:
    """Ticks after the first invocation, after idling `idle_s`, and after a second invocation."""
    first = functions.invoke("ticker")
    assert first.status == "ok"
    pid = json.loads(first.payload)["pid"]
    if functions.runtime.freeze:
        wait_until(lambda: process_state(pid) == "T", what="the idle worker to be stopped")
    before = ticks(path)
    time.sleep(idle_s)  # observing that nothing happens while idle: there is no state to poll for
    idle = ticks(path)
    assert functions.invoke("ticker").status == "ok"
    wait_until(lambda: ticks(path) > idle, what="the thread to tick again")
    return before, idle, ticks(path)


def test_a_background_thread_does_not_run_while_the_worker_is_idle(
    make_log_functions: MakeLogFunctions, tmp_path: Path
) -> None:
    path = tmp_path / "ticks"
    functions: LogFunctions = make_log_functions(environment={"TICKS": str(path)})
    before, idle, after = watch_ticks(functions, path)
    assert idle == before  # frozen: not one tick while idle
    assert after > idle  # continued with the next invocation


def test_with_freeze_off_the_background_thread_runs_while_idle(
    make_log_functions: MakeLogFunctions, tmp_path: Path
) -> None:
    path = tmp_path / "ticks"
    functions: LogFunctions = make_log_functions(environment={"TICKS": str(path)}, freeze=False)
    before, idle, _ = watch_ticks(functions, path)
    assert idle > before


def test_no_record_is_lost_when_a_worker_is_frozen_right_after_answering_and_reclaimed(
    make_log_functions: MakeLogFunctions,
) -> None:
    functions: LogFunctions = make_log_functions()
    worker = frozen_after(functions, "logger", json.dumps({"id": "r-1"}).encode())

    assert functions.runtime.reclaim_idle() == [worker.pid]
    assert process_state(worker.pid) == "X"
    functions.wait_delivered()

    assert [m["request_id"] for m in functions.delivered_messages()] == ["r-1"]
    # The next request starts a new environment, as on Lambda after a reclaim.
    assert functions.invoke("logger", json.dumps({"id": "r-2"}).encode()).init_duration_ms is not None


def test_a_record_left_to_a_background_thread_is_lost_when_the_frozen_worker_is_reclaimed(
    make_log_functions: MakeLogFunctions,
) -> None:
    """What AWS does to a record a handler leaves to a thread: the runtime emulates the loss."""
    functions: LogFunctions = make_log_functions()
    frozen_after(functions, "deferred", json.dumps({"id": "d-1"}).encode())
    time.sleep(0.4)  # longer than the thread's delay: frozen, it cannot write

    functions.runtime.reclaim_idle()
    functions.wait_delivered()

    assert functions.delivered_messages() == []


def test_a_frozen_worker_is_killed_by_a_timeout_close_and_from_outside(
    make_log_functions: MakeLogFunctions,
) -> None:
    functions: LogFunctions = make_log_functions()
    worker = frozen_after(functions, "logger")
    pool = functions.runtime.pools()[0]
    os.killpg(worker.pid, 9)  # killed from outside while stopped: the next request goes elsewhere
    wait_until(lambda: process_state(worker.pid) == "X", what="the killed worker to be reaped")
    assert functions.invoke("logger").status == "ok"
    (second,) = pool.idle_workers()
    wait_until(lambda: process_state(second.pid) == "T", what="the new worker to be frozen")
    functions.runtime.close()
    assert process_state(second.pid) == "X"
