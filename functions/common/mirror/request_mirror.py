"""Mirroring live requests to the shadow queue, without ever holding up the live response.

The request thread calls `RequestMirror.offer` after the live prediction. It reads the cached shadow
configuration, draws the sample, and puts a reference to the request's arrays on a bounded
in-memory queue: no serialization, no I/O. A daemon sender thread does the rest:
it gathers up to 10 requests or waits at most `linger` (1 s) after the first, encodes them and sends
them with one `SendMessageBatch` through a client with short timeouts and no retries, and refreshes
the configuration every `ttl` seconds. Gathering matters: a botocore call costs about the same CPU
whatever its size, in the function's own process, so sending each request alone would cost every
request that CPU (and its GIL wait); in batches of 10 it is a tenth, and at low traffic at most one
call per `linger` (docs/shadow.md has the figures).

Fail-open: when the buffer is full the request is dropped and counted; when a send fails (error,
throttling, timeout, no queue) its messages are counted as failed, sending pauses for a growing
backoff (1 s .. 30 s) during which new requests are dropped at once, and one warning is logged per
interval with the counts since the last one. Counters are drained by the request thread into the
function's metrics (`take_counters`), so they go out with the invocation's EMF line.

The same path logs live predictions for monitoring (docs/monitoring.md): with
`PREDICTION_LOG_SAMPLE_PERCENT` > 0, a request is mirrored when one uniform draw falls below the larger
of the shadow's rate and the log's rate; it names the candidate when the draw is also below the
shadow's rate (so the shadow's sample does not depend on the log's rate), and is live-only (no
candidate, nothing to score) otherwise.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from common.mirror.config import ShadowConfigCache, ShadowConfigStore
from common.mirror.message import (
    DEFAULT_MAX_MESSAGE_BYTES,
    LiveResult,
    encode_messages,
    format_timestamp,
)

SENT = "ShadowMirrorSent"
FAILED = "ShadowMirrorFailed"
DROPPED = "ShadowMirrorDropped"
COUNTER_NAMES = (SENT, FAILED, DROPPED)

# SendMessageBatch: at most 10 entries and 256 KiB for the whole call.
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 256 * 1024


@dataclass(frozen=True)
class MirrorSettings:
    capacity: int = 1000
    """Requests waiting for the sender; beyond this, requests are dropped and counted."""
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    connect_timeout_s: float = 0.2
    read_timeout_s: float = 0.5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    log_interval_s: float = 60.0
    config_ttl_s: float = 5.0
    linger_s: float = 1.0
    """How long the sender waits for a batch of 10 after the first request before sending fewer."""
    log_sample_rate: float = 0.0
    """The share of live requests (0..1) mirrored for the prediction log even when no shadow runs."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> MirrorSettings:
        def number(name: str, default: float) -> float:
            raw = environ.get(name, "")
            try:
                value = float(raw) if raw else default
            except ValueError:
                return default
            return value if value > 0 else default

        return cls(
            capacity=int(number("SHADOW_MIRROR_CAPACITY", cls.capacity)),
            config_ttl_s=number("SHADOW_CONFIG_TTL_SECONDS", cls.config_ttl_s),
            connect_timeout_s=number("SHADOW_CONNECT_TIMEOUT_SECONDS", cls.connect_timeout_s),
            read_timeout_s=number("SHADOW_READ_TIMEOUT_SECONDS", cls.read_timeout_s),
            linger_s=number("SHADOW_MIRROR_LINGER_SECONDS", cls.linger_s),
            log_sample_rate=min(number("PREDICTION_LOG_SAMPLE_PERCENT", 0.0), 100.0) / 100.0,
        )


class MessageSender(Protocol):
    def send_batch(self, bodies: Sequence[str]) -> int:
        """Send up to 10 bodies in one call; return how many were NOT accepted (raise if the call failed)."""
        ...


class SqsBatchSender:
    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send_batch(self, bodies: Sequence[str]) -> int:
        entries = [{"Id": str(index), "MessageBody": body} for index, body in enumerate(bodies)]
        response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        return len(response.get("Failed", []))


@dataclass(frozen=True)
class MirrorItem:
    """What the request thread hands over: references, serialized later by the sender thread."""

    request_id: str
    epoch_seconds: float
    inputs: np.ndarray
    predictions: list[Any]
    probabilities: list[list[float]]
    model_version: str
    function_version: str
    inference_ms: float
    candidate_model_version: str | None
    """None: live-only (sampled for the prediction log, no shadow drawn)."""


@dataclass
class _Counters:
    values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTER_NAMES, 0))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, amount: int = 1) -> None:
        with self.lock:
            self.values[name] += amount

    def take(self) -> dict[str, int]:
        with self.lock:
            taken = {name: value for name, value in self.values.items() if value}
            if taken:
                self.values = dict.fromkeys(COUNTER_NAMES, 0)
        return taken


class _IntervalLog:
    """At most one warning per interval, carrying what happened since the previous one."""

    def __init__(self, log: logging.Logger | Any, interval_s: float, clock: Callable[[], float]) -> None:
        self._log = log
        self._interval_s = interval_s
        self._clock = clock
        self._last = -float("inf")
        self._failed = 0
        self._dropped = 0
        self._lock = threading.Lock()

    def note(self, *, failed: int = 0, dropped: int = 0, error: BaseException | str | None = None) -> None:
        with self._lock:
            self._failed += failed
            self._dropped += dropped
            now = self._clock()
            if error is None or now - self._last < self._interval_s:
                return
            failed_total, dropped_total = self._failed, self._dropped
            self._failed = self._dropped = 0
            self._last = now
        detail = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
        self._log.warning(
            "shadow mirroring is failing; the live responses are not affected",
            extra={
                "shadow_failed_messages": failed_total,
                "shadow_dropped_requests": dropped_total,
                "interval_s": self._interval_s,
                "last_error": detail[:500],
            },
        )


class RequestMirror:
    def __init__(
        self,
        *,
        config: ShadowConfigCache,
        sender: MessageSender,
        settings: MirrorSettings | None = None,
        log: logging.Logger | Any | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.sender = sender
        self.settings = settings or MirrorSettings()
        self._rng = rng or random.Random()
        self._clock = clock
        self._wall_clock = wall_clock
        self._log = log or logging.getLogger(__name__)
        self._queue: queue.Queue[MirrorItem] = queue.Queue(maxsize=self.settings.capacity)
        self._counters = _Counters()
        self._interval_log = _IntervalLog(self._log, self.settings.log_interval_s, clock)
        self._suspended_until = -float("inf")
        self._backoff_s = 0.0
        self._stop = threading.Event()
        self._hurry = threading.Event()  # flush(): send what is there without lingering
        self._thread: threading.Thread | None = None
        if config.on_error is None:
            config.on_error = self.report_config_error

    # -- the request thread ------------------------------------------------------------------------

    def offer(
        self,
        *,
        request_id: str,
        inputs: np.ndarray,
        predictions: list[Any],
        probabilities: list[list[float]],
        model_version: str,
        function_version: str,
        inference_ms: float,
    ) -> None:
        """Maybe mirror one served request. Never raises, never blocks, never does I/O."""
        try:
            config = self.config.current
            shadow_rate = config.sample_rate
            rate = max(shadow_rate, self.settings.log_sample_rate)
            if rate <= 0.0:
                return
            draw = self._rng.random()
            if draw >= rate:
                return
            if self._clock() < self._suspended_until:
                self._drop()
                return
            candidate = config.candidate_model_version if draw < shadow_rate else None
            self._queue.put_nowait(
                MirrorItem(
                    request_id=request_id,
                    epoch_seconds=self._wall_clock(),
                    inputs=inputs,
                    predictions=predictions,
                    probabilities=probabilities,
                    model_version=model_version,
                    function_version=function_version,
                    inference_ms=inference_ms,
                    candidate_model_version=candidate,
                )
            )
        except queue.Full:
            self._drop()
        except Exception as exc:  # fail-open: a mirroring bug must not fail the live request
            self._counters.add(FAILED)
            self._interval_log.note(failed=1, error=exc)

    def take_counters(self) -> dict[str, int]:
        """Counts since the last call (only the non-zero ones), for the invocation's metrics."""
        return self._counters.take()

    def report_config_error(self, exc: Exception) -> None:
        """The configuration could not be read: the last known one stays in force; logged per interval."""
        self._interval_log.note(error=f"cannot read {self.config.store.uri}: {type(exc).__name__}: {exc}")

    def _drop(self) -> None:
        self._counters.add(DROPPED)
        self._interval_log.note(dropped=1)

    # -- the sender thread ---------------------------------------------------------------------------

    def start(self) -> RequestMirror:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="shadow-mirror", daemon=True)
            self._thread.start()
        return self

    def close(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every offered request was sent or failed (tests and benchmarks)."""
        deadline = time.monotonic() + timeout_s
        self._hurry.set()
        try:
            while self._queue.unfinished_tasks:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.002)
        finally:
            self._hurry.clear()
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = min(max(self.config.seconds_until_refresh(), 0.01), 1.0)
            try:
                first = self._queue.get(timeout=wait)
            except queue.Empty:
                first = None
            try:
                self.config.refresh_if_due()
            except Exception as exc:  # the cache reports read errors itself; this is a safety net
                self._interval_log.note(error=exc)
            if first is None:
                continue
            items = self._gather(first)
            try:
                self.send_items(items)
            finally:
                for _ in items:
                    self._queue.task_done()

    def _gather(self, first: MirrorItem) -> list[MirrorItem]:
        """Up to 10 requests: what is waiting, then what arrives within `linger` of the first."""
        items = [first]
        deadline = self._clock() + self.settings.linger_s
        while len(items) < MAX_BATCH_ENTRIES:
            try:
                items.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - self._clock()
            if remaining <= 0 or self._stop.is_set() or self._hurry.is_set():
                break
            try:
                items.append(self._queue.get(timeout=min(remaining, 0.05)))
            except queue.Empty:
                continue
        return items

    def send_items(self, items: Sequence[MirrorItem]) -> None:
        """Encode and send; count and log what fails. Runs on the sender thread (or a test)."""
        bodies: list[str] = []
        for item in items:
            try:
                bodies.extend(self._encode(item))
            except Exception as exc:
                self._counters.add(FAILED)
                self._interval_log.note(failed=1, error=exc)
        for batch in _batches(bodies):
            if self._clock() < self._suspended_until:
                self._counters.add(DROPPED, len(batch))
                self._interval_log.note(dropped=len(batch))
                continue
            try:
                rejected = self.sender.send_batch(batch)
            except Exception as exc:
                self._counters.add(FAILED, len(batch))
                self._interval_log.note(failed=len(batch), error=exc)
                self._back_off()
                continue
            self._backoff_s = 0.0
            if rejected:
                self._counters.add(FAILED, rejected)
                self._interval_log.note(failed=rejected, error=f"SQS rejected {rejected} of {len(batch)}")
            if len(batch) - rejected:
                self._counters.add(SENT, len(batch) - rejected)

    def _encode(self, item: MirrorItem) -> list[str]:
        return encode_messages(
            request_id=item.request_id,
            timestamp=format_timestamp(item.epoch_seconds),
            candidate_model_version=item.candidate_model_version,
            inputs=item.inputs,
            live=LiveResult(
                model_version=item.model_version,
                function_version=item.function_version,
                predictions=item.predictions,
                probabilities=item.probabilities,
                inference_ms=round(item.inference_ms, 4),
            ),
            max_bytes=self.settings.max_message_bytes,
        )

    def _back_off(self) -> None:
        settings = self.settings
        self._backoff_s = min(settings.backoff_max_s, max(settings.backoff_initial_s, self._backoff_s * 2))
        self._suspended_until = self._clock() + self._backoff_s


def _batches(bodies: Sequence[str]) -> list[list[str]]:
    """Pack bodies into SendMessageBatch calls: at most 10 entries and 256 KiB per call."""
    batches: list[list[str]] = []
    current: list[str] = []
    size = 0
    for body in bodies:
        length = len(body.encode())
        if current and (len(current) == MAX_BATCH_ENTRIES or size + length > MAX_BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(body)
        size += length
    if current:
        batches.append(current)
    return batches


# -- wiring for the inference function -----------------------------------------------------------------


def fast_client_config(settings: MirrorSettings) -> Any:
    """Short timeouts and exactly one attempt: `total_max_attempts=1` means no retry at all (botocore's
    `max_attempts` counts retries *after* the first attempt, so `max_attempts: 1` would retry once)."""
    from botocore.config import Config

    return Config(
        connect_timeout=settings.connect_timeout_s,
        read_timeout=settings.read_timeout_s,
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=2,
        tcp_keepalive=True,
    )


def mirror_from_environment(
    environ: Mapping[str, str] = os.environ,
    *,
    log: logging.Logger | Any | None = None,
    session: Any = None,
) -> RequestMirror | None:
    """The mirror the stack configured (`SHADOW_QUEUE_URL`, `SHADOW_CONFIG_URI`), started; or None
    when the function is deployed without a shadow stack."""
    queue_url = environ.get("SHADOW_QUEUE_URL", "")
    config_uri = environ.get("SHADOW_CONFIG_URI", "")
    if not queue_url or not config_uri:
        return None
    import boto3  # provided by the Lambda runtime; only needed when mirroring is wired

    settings = MirrorSettings.from_environment(environ)
    client_config = fast_client_config(settings)
    # boto3's default session by default: the one the model's S3 download already used at init, so
    # botocore's parsed service models are shared and the two clients add little to a cold start.
    make_client = session.client if session is not None else boto3.client
    sqs = make_client("sqs", config=client_config)
    s3 = make_client("s3", config=client_config)
    cache = ShadowConfigCache(ShadowConfigStore.from_uri(s3, config_uri), ttl_s=settings.config_ttl_s)
    mirror = RequestMirror(config=cache, sender=SqsBatchSender(sqs, queue_url), settings=settings, log=log)
    # One read at init (short timeouts; a failure keeps "no shadow" and is reported): otherwise the
    # first requests of a new environment would be served before the sender thread's first read,
    # and neither mirrored nor counted, although a shadow is running.
    cache.refresh()
    return mirror.start()
