"""The per-worker Runtime API's hand-off: which invocations the runtime never took (`undelivered`),
so the pool may give them to another worker, and which it took (those fail with the worker)."""

from __future__ import annotations

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
