"""The per-worker Runtime API's hand-off: which invocations the runtime never took (`undelivered`),
so the pool may give them to another worker, and which it took (those fail with the worker)."""

from __future__ import annotations

import threading

from localcloud.runtime_api import Invocation, RuntimeApiState


def invocation(request_id: str = "r-1") -> Invocation:
    return Invocation(
        request_id=request_id,
        event=b"{}",
        deadline_ms=0,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:f:1",
        trace_id="Root=1-0-0",
    )


def test_a_request_submitted_after_the_exit_is_undelivered() -> None:
    state = RuntimeApiState()
    state.process_exited(-9)
    request = invocation()
    state.submit(request)
    assert request.outcome is not None
    assert request.outcome.kind == "exited" and request.outcome.undelivered
    assert request.outcome.exit_code == -9


def test_a_pending_request_the_runtime_never_took_is_undelivered_when_it_exits() -> None:
    state = RuntimeApiState()
    request = invocation()
    state.submit(request)
    state.process_exited(-9)
    assert request.outcome is not None
    assert request.outcome.kind == "exited" and request.outcome.undelivered


def test_a_request_the_runtime_took_fails_with_it() -> None:
    state = RuntimeApiState()
    request = invocation()
    state.submit(request)
    assert state.next_invocation() is request
    state.process_exited(-9)
    assert request.outcome is not None
    assert request.outcome.kind == "exited" and not request.outcome.undelivered


class RecordingFreezer:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def freeze(self) -> None:
        self.calls.append("freeze")

    def thaw(self) -> None:
        self.calls.append("thaw")


def test_the_environment_is_frozen_while_it_waits_and_thawed_before_an_invocation_is_handed_over() -> None:
    freezer = RecordingFreezer()
    state = RuntimeApiState(freezer)
    taken: list[Invocation | None] = []
    waiter = threading.Thread(target=lambda: taken.append(state.next_invocation()))
    waiter.start()
    while not freezer.calls:  # the runtime's `next` with nothing waiting: frozen
        waiter.join(0.01)
    assert freezer.calls == ["freeze"]
    request = invocation()
    state.submit(request)
    waiter.join(5)
    assert taken == [request] and freezer.calls == ["freeze", "thaw"]


def test_a_runtime_asking_when_an_invocation_is_already_waiting_is_not_frozen() -> None:
    freezer = RecordingFreezer()
    state = RuntimeApiState(freezer)
    request = invocation()
    state.submit(request)
    assert state.next_invocation() is request
    assert freezer.calls == ["thaw"]


def test_a_closed_or_exited_environment_is_not_frozen() -> None:
    freezer = RecordingFreezer()
    state = RuntimeApiState(freezer)
    state.close()
    assert state.next_invocation() is None
    exited = RuntimeApiState(freezer)
    exited.process_exited(-9)
    assert exited.next_invocation() is None
    assert freezer.calls == []
