"""The local cloud's periodic loops: a failing step does not end the loop, and stop() ends it."""

from __future__ import annotations

import threading

from localcloud.background import PeriodicLoop


def test_a_step_that_raises_is_tried_again_and_stop_ends_the_thread() -> None:
    calls: list[int] = []
    third_call = threading.Event()

    def step() -> None:
        calls.append(len(calls))
        if len(calls) >= 3:
            third_call.set()
        raise ConnectionError("moto restarting")

    loop = PeriodicLoop(step, interval_s=0.001, name="test-loop")
    loop.start()
    assert third_call.wait(timeout=30), "the loop died after a failing step"
    loop.stop()
    after_stop = len(calls)
    assert not any(t.name == "test-loop" for t in threading.enumerate())
    assert len(calls) == after_stop  # nothing runs once stop() has returned


def test_stop_before_start_and_twice_is_harmless() -> None:
    loop = PeriodicLoop(lambda: None, interval_s=60, name="never-started")
    loop.stop()
    loop.stop()
