"""The mirror on the request thread and its sender: sampling, bounded buffer, fail-open, one log line
per interval, counters for metrics. Fake sender and clocks; the sender thread is driven by hand
(`send_items`) except where the thread itself is the subject."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from common.mirror.config import ShadowConfig, ShadowConfigCache, ShadowConfigStore
from common.mirror.message import parse_message
from common.mirror.request_mirror import (
    DROPPED,
    FAILED,
    SENT,
    MirrorItem,
    MirrorSettings,
    RequestMirror,
    _batches,
    fast_client_config,
)
from tests.unit.mirror.test_config import FakeS3


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeSender:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.error: Exception | None = None
        self.rejected = 0

    def send_batch(self, bodies: Sequence[str]) -> int:
        if self.error is not None:
            raise self.error
        self.calls.append(list(bodies))
        return self.rejected

    @property
    def bodies(self) -> list[str]:
        return [body for call in self.calls for body in call]


class ListLog:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, message: str, *, extra: dict[str, Any]) -> None:
        self.warnings.append((message, extra))


def make_mirror(
    config: ShadowConfig | None,
    *,
    clock: Clock | None = None,
    capacity: int = 100,
    seed: int = 3,
) -> tuple[RequestMirror, FakeSender, ListLog, Clock]:
    s3 = FakeS3()
    store = ShadowConfigStore(s3, "logs")
    if config is not None:
        store.save(config)
    clock = clock or Clock()
    cache = ShadowConfigCache(store, ttl_s=5.0, clock=clock)
    cache.refresh()
    sender, log = FakeSender(), ListLog()
    mirror = RequestMirror(
        config=cache,
        sender=sender,
        settings=MirrorSettings(capacity=capacity, log_interval_s=60.0),
        log=log,
        rng=random.Random(seed),
        clock=clock,
        wall_clock=lambda: 1767359045.678,  # 2026-01-02T13:04:05.678Z
    )
    return mirror, sender, log, clock


def offer(mirror: RequestMirror, request_id: str = "req", rows: int = 1) -> None:
    mirror.offer(
        request_id=request_id,
        inputs=np.full((rows, 3), 1.5, dtype=np.float32),
        predictions=[1] * rows,
        probabilities=[[0.25, 0.75]] * rows,
        model_version="m-live",
        function_version="7",
        inference_ms=0.123456,
    )


def drain(mirror: RequestMirror) -> list[MirrorItem]:
    items = []
    while not mirror._queue.empty():
        items.append(mirror._queue.get_nowait())
        mirror._queue.task_done()
    return items


ACTIVE = ShadowConfig(active=True, sample_percent=100, candidate_model_version="m-cand")


def test_no_configuration_or_a_stopped_shadow_mirrors_nothing() -> None:
    for config in (None, ACTIVE.stopped("2026-01-02T13:00:00.000Z")):
        mirror, _, _, _ = make_mirror(config)
        offer(mirror)
        assert mirror._queue.empty()
        assert mirror.take_counters() == {}


def test_an_active_shadow_mirrors_the_request_as_served() -> None:
    mirror, sender, _, _ = make_mirror(ACTIVE)
    offer(mirror, "req-9", rows=2)
    mirror.send_items(drain(mirror))
    (body,) = sender.bodies
    message = parse_message(body)
    assert message.request_id == "req-9"
    assert message.timestamp == "2026-01-02T13:04:05.678Z"
    assert message.candidate_model_version == "m-cand"
    assert message.inputs.tolist() == [[1.5, 1.5, 1.5]] * 2
    assert message.live.predictions == [1, 1] and message.live.probabilities == [[0.25, 0.75]] * 2
    assert (message.live.model_version, message.live.function_version) == ("m-live", "7")
    assert message.live.inference_ms == 0.1235
    assert mirror.take_counters() == {SENT: 1}
    assert mirror.take_counters() == {}


@pytest.mark.parametrize("percent", [0.0, 10.0, 25.0, 50.0, 100.0])
def test_sampling_follows_the_configured_percentage(percent: float) -> None:
    config = ShadowConfig(active=True, sample_percent=percent, candidate_model_version="m-cand")
    mirror, _, _, _ = make_mirror(config, capacity=5000)
    for index in range(4000):
        offer(mirror, f"r{index}")
    mirrored = mirror._queue.qsize()
    expected = 4000 * percent / 100
    assert abs(mirrored - expected) <= 4 * np.sqrt(4000 * 0.25) + 1  # 4 sigma of a binomial at worst


def test_a_full_buffer_drops_and_counts_instead_of_waiting() -> None:
    mirror, _, _, _ = make_mirror(ACTIVE, capacity=3)
    started = time.perf_counter()
    for index in range(10):
        offer(mirror, f"r{index}")
    assert time.perf_counter() - started < 0.5
    assert mirror._queue.qsize() == 3
    assert mirror.take_counters() == {DROPPED: 7}


def test_a_failing_queue_is_counted_logged_once_per_interval_and_backed_off() -> None:
    mirror, sender, log, clock = make_mirror(ACTIVE)
    sender.error = ConnectionError("could not connect to the endpoint URL")
    offer(mirror, "a")
    mirror.send_items(drain(mirror))
    assert mirror.take_counters() == {FAILED: 1}
    assert len(log.warnings) == 1
    message, extra = log.warnings[0]
    assert "live responses are not affected" in message
    assert extra["shadow_failed_messages"] == 1 and "ConnectionError" in extra["last_error"]
    # Backing off: requests are dropped at once, nothing is sent, nothing more is logged.
    for index in range(20):
        offer(mirror, f"b{index}")
    assert mirror._queue.empty()
    assert mirror.take_counters() == {DROPPED: 20}
    # After the backoff, sending is tried again; a second failure within the interval is not logged.
    clock.now += 1.5
    offer(mirror, "c")
    mirror.send_items(drain(mirror))
    assert mirror.take_counters() == {FAILED: 1}
    assert len(log.warnings) == 1
    # The next interval's warning carries everything since the previous one.
    clock.now += 61
    offer(mirror, "d")
    mirror.send_items(drain(mirror))
    assert len(log.warnings) == 2
    assert log.warnings[1][1]["shadow_failed_messages"] == 2
    assert log.warnings[1][1]["shadow_dropped_requests"] == 20
    assert mirror.take_counters() == {FAILED: 1}
    # Recovery resets the backoff.
    sender.error = None
    clock.now += 61
    offer(mirror, "e")
    mirror.send_items(drain(mirror))
    assert mirror.take_counters() == {SENT: 1}


def test_backoff_grows_to_its_limit() -> None:
    mirror, sender, _, clock = make_mirror(ACTIVE)
    sender.error = TimeoutError("read timeout")
    pauses = []
    for _ in range(8):
        clock.now = max(clock.now, mirror._suspended_until) + 0.01
        offer(mirror)
        mirror.send_items(drain(mirror))
        pauses.append(mirror._backoff_s)
    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_messages_rejected_by_sqs_are_counted_as_failed() -> None:
    mirror, sender, log, _ = make_mirror(ACTIVE)
    sender.rejected = 1
    for index in range(3):
        offer(mirror, f"r{index}")
    mirror.send_items(drain(mirror))
    assert mirror.take_counters() == {SENT: 2, FAILED: 1}
    assert "rejected 1 of 3" in log.warnings[0][1]["last_error"]


def test_offer_never_raises() -> None:
    mirror, _, log, _ = make_mirror(ACTIVE)

    class Broken:
        @property
        def current(self) -> ShadowConfig:
            raise RuntimeError("bug")

    mirror.config = Broken()  # type: ignore[assignment]
    offer(mirror)
    assert mirror.take_counters() == {FAILED: 1}
    assert "RuntimeError: bug" in log.warnings[0][1]["last_error"]


def test_an_item_that_cannot_be_encoded_fails_alone() -> None:
    mirror, sender, _, _ = make_mirror(ACTIVE)
    offer(mirror, "good")
    mirror.offer(
        request_id="bad",
        inputs=np.ones((2, 3), dtype=np.float32),
        predictions=[1],  # one prediction for two rows
        probabilities=[[0.5, 0.5]],
        model_version="m-live",
        function_version="7",
        inference_ms=1.0,
    )
    mirror.send_items(drain(mirror))
    assert [parse_message(b).request_id for b in sender.bodies] == ["good"]
    assert mirror.take_counters() == {SENT: 1, FAILED: 1}


def test_batches_hold_at_most_ten_entries_and_256_kib() -> None:
    small = ["x" * 100] * 25
    assert [len(b) for b in _batches(small)] == [10, 10, 5]
    large = ["y" * 100_000] * 5
    assert [len(b) for b in _batches(large)] == [2, 2, 1]


def test_the_sender_thread_sends_and_refreshes_the_configuration() -> None:
    s3 = FakeS3()
    store = ShadowConfigStore(s3, "logs")
    store.save(ACTIVE)
    cache = ShadowConfigCache(store, ttl_s=0.05)
    sender = FakeSender()
    mirror = RequestMirror(config=cache, sender=sender, rng=random.Random(1)).start()
    try:
        deadline = time.monotonic() + 5
        while not cache.current.active:
            assert time.monotonic() < deadline, "the sender thread never read the configuration"
            time.sleep(0.005)
        for index in range(25):
            offer(mirror, f"r{index}")
        assert mirror.flush(5.0)
        assert sorted(parse_message(b).request_id for b in sender.bodies) == sorted(
            f"r{i}" for i in range(25)
        )
        store.save(ACTIVE.stopped("2026-01-02T13:00:00.000Z"))
        while cache.current.active:
            assert time.monotonic() < deadline, "the stop was never picked up"
            time.sleep(0.005)
        offer(mirror, "after-stop")
        assert mirror._queue.empty()
    finally:
        mirror.close()


def test_clients_get_short_timeouts_and_no_retry() -> None:
    config = fast_client_config(MirrorSettings())
    assert (config.connect_timeout, config.read_timeout) == (0.2, 0.5)
    assert config.retries == {"total_max_attempts": 1, "mode": "standard"}


def test_settings_from_the_environment() -> None:
    settings = MirrorSettings.from_environment(
        {"SHADOW_CONFIG_TTL_SECONDS": "2", "SHADOW_MIRROR_CAPACITY": "50", "SHADOW_READ_TIMEOUT_SECONDS": "x"}
    )
    assert (settings.config_ttl_s, settings.capacity, settings.read_timeout_s) == (2.0, 50, 0.5)
    assert json.dumps(MirrorSettings().capacity) == "1000"


def threaded_mirror(linger_s: float) -> tuple[RequestMirror, FakeSender]:
    s3 = FakeS3()
    store = ShadowConfigStore(s3, "logs")
    store.save(ACTIVE)
    cache = ShadowConfigCache(store, ttl_s=60)
    cache.refresh()
    sender = FakeSender()
    mirror = RequestMirror(config=cache, sender=sender, settings=MirrorSettings(linger_s=linger_s))
    return mirror.start(), sender


def test_the_sender_gathers_requests_into_batches_of_ten() -> None:
    """A botocore call costs the same CPU for 1 or 10 messages: requests arriving within the linger
    share a call."""
    mirror, sender = threaded_mirror(linger_s=0.5)
    try:
        for index in range(23):
            offer(mirror, f"r{index}")
        deadline = time.monotonic() + 5
        while len(sender.bodies) < 23:
            assert time.monotonic() < deadline, f"only {len(sender.bodies)} sent"
            time.sleep(0.005)
        assert [len(call) for call in sender.calls] == [10, 10, 3]
    finally:
        mirror.close()


def test_flush_does_not_wait_for_the_linger() -> None:
    mirror, sender = threaded_mirror(linger_s=30.0)
    try:
        offer(mirror, "only")
        started = time.monotonic()
        assert mirror.flush(5.0)
        assert time.monotonic() - started < 2.0
        assert [parse_message(b).request_id for b in sender.bodies] == ["only"]
    finally:
        mirror.close()
