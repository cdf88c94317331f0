"""The pieces `python -m localcloud up` stops with: stop signals, and output that a closed stdout
cannot turn into an exception (tests/e2e/test_local_shutdown.py runs the whole thing)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud.__main__ import StopRequested, StopSignals, stream_closed


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    yield read_end, write_end
    for fd in (read_end, write_end):
        with contextlib.suppress(OSError):
            os.close(fd)


def test_a_pipe_whose_reader_has_gone_is_closed(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    assert not stream_closed(write_end)
    os.close(read_end)
    assert stream_closed(write_end)


def test_a_regular_file_is_never_closed(tmp_path: Path) -> None:
    with (tmp_path / "out.log").open("w") as handle:
        assert not stream_closed(handle.fileno())


def test_a_descriptor_that_is_not_open_is_closed(pipe: tuple[int, int]) -> None:
    _, write_end = pipe
    os.close(write_end)
    assert stream_closed(write_end)


@pytest.fixture
def restore_handlers() -> Iterator[None]:
    saved = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


@pytest.mark.usefixtures("restore_handlers")
@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_each_stop_signal_raises_one_stop_request_and_then_is_ignored(number: signal.Signals) -> None:
    signals = StopSignals()
    with pytest.raises(StopRequested) as stop:
        os.kill(os.getpid(), number)
        signal.sigtimedwait([], 0.1)  # give the handler its turn in this (the main) thread
    assert stop.value.reason == number.name
    assert signals.stopping
    os.kill(os.getpid(), signal.SIGTERM)  # while stopping: nothing is raised
    os.kill(os.getpid(), signal.SIGINT)


def test_printing_to_a_pipe_whose_reader_has_gone_silences_the_output(pipe: tuple[int, int]) -> None:
    from localcloud.__main__ import Output

    read_end, write_end = pipe
    out = Output(os.fdopen(os.dup(write_end), "w"))
    out.print("up")
    assert os.read(read_end, 100) == b"up\n"
    os.close(read_end)
    out.print("stopping")  # BrokenPipeError inside: must not escape
    assert out.closed and out.gone()
    out.print("nothing more is written")
