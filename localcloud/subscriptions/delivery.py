"""CloudWatch Logs subscription delivery, locally: function log lines to the subscribed function.

`offer(label, line)` takes each line a worker writes (label `function:version`, as the log sink gets
it) and returns at once: it only queues the line, so a worker's output pipe never waits on a
delivery. A dispatcher thread matches queued lines against every subscription whose log group the
function logs to, and gathers the matches into batches per (filter, log stream), up to
`max_events` events or `window_s` seconds after a batch's first event, as CloudWatch Logs does.
Delivery threads invoke the destination with the `awslogs` event, as an asynchronous invocation:
a failed attempt (function error, timeout, crash, or no runtime at all) is retried up to the
destination's `MaximumRetryAttempts` (default 2), then the event goes to its dead-letter queue
(sending to the queue is retried until it succeeds or the delivery is stopped). Only a destination
with no dead-letter queue loses a batch after its retries, as on AWS; that is counted and logged.

`wait_delivered` blocks until every line offered so far has settled (delivered, dead-lettered, or
matched nothing); `stats` counts what happened.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from localcloud.functions import Invoke
from localcloud.subscriptions.awslogs import LogEvent, awslogs_event
from localcloud.subscriptions.config import Subscription

MAX_EVENTS = 500  # events per delivered batch
MAX_EVENT_BYTES = 240_000  # the encoded event stays under Lambda's 256 KB asynchronous payload limit
WINDOW_S = 1.0  # a batch goes out at most this long after its first event
RETRY_DELAYS_S = (0.2, 0.5, 1.0)  # between attempts (Lambda waits minutes; locally tests wait)


SendDeadLetter = Callable[[str, str, dict[str, str]], None]  # (queue ARN, body, string attributes)
Log = Callable[[str], None]


@dataclass
class _Batch:
    subscription: Subscription
    log_stream: str
    opened: float
    events: list[LogEvent] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    size: int = 0


@dataclass
class DeliveryStats:
    lines_offered: int = 0
    events_matched: int = 0
    batches_delivered: int = 0
    events_delivered: int = 0
    failed_attempts: int = 0
    batches_dead_lettered: int = 0
    events_dead_lettered: int = 0
    events_discarded: int = 0  # failed with no dead-letter queue to take them

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


class LogSubscriptions:
    """Delivers matching log lines of the subscribed functions; `start` before, `stop` after use."""

    def __init__(
        self,
        subscriptions: Sequence[Subscription],
        *,
        invoke: Invoke,
        send_dead_letter: SendDeadLetter | None = None,
        log: Log | None = None,
        max_events: int = MAX_EVENTS,
        window_s: float = WINDOW_S,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
        delivery_threads: int = 2,
    ) -> None:
        self.subscriptions = list(subscriptions)
        self._by_source: dict[str, list[Subscription]] = {}
        for subscription in self.subscriptions:
            for source in subscription.sources:
                self._by_source.setdefault(source, []).append(subscription)
        self._invoke = invoke
        self._send_dead_letter = send_dead_letter
        self._log = log or (lambda line: None)
        self._max_events = max_events
        self._window_s = window_s
        self._retry_delays = list(retry_delays_s) or [0.0]
        self._cond = threading.Condition()
        self._lines: deque[tuple[int, str, str, int]] = deque()
        self._seq = 0  # lines offered so far
        self._classified = 0  # every line up to this one has been matched (or found unmatched)
        self._unsettled: dict[int, int] = {}  # line -> batches it is in that have not settled
        self._open: dict[tuple[str, str], _Batch] = {}
        self._ready: deque[_Batch] = deque()
        self._delivering = 0
        self._dispatched_all = False  # stopping, and every open batch has been handed to delivery
        self._stopping = threading.Event()
        self._prefix = f"{os.getpid() % 1_000_000:06d}"
        self.stats = DeliveryStats()
        self._threads = [threading.Thread(target=self._dispatch, name="log-subscriptions", daemon=True)]
        self._threads += [
            threading.Thread(target=self._deliver_loop, name=f"log-delivery-{i}", daemon=True)
            for i in range(max(1, delivery_threads))
        ]

    # -- public ----------------------------------------------------------------------------------

    def start(self) -> LogSubscriptions:
        for thread in self._threads:
            thread.start()
        return self

    def offer(self, label: str, line: str) -> None:
        """Queue one line a function logged (label `function:version`); never waits on delivery."""
        function = label.rpartition(":")[0]
        with self._cond:
            self._seq += 1
            self.stats.lines_offered += 1
            if function in self._by_source:
                self._lines.append((self._seq, label, line, int(time.time() * 1000)))
                self._cond.notify_all()
            elif not self._lines:
                self._classified = self._seq  # nothing subscribes to it and nothing waits before it
                self._cond.notify_all()
            else:
                self._lines.append((self._seq, label, line, 0))

    def wait_delivered(self, timeout_s: float) -> bool:
        """Whether every line offered before this call settled within `timeout_s`."""
        with self._cond:
            target = self._seq
            return self._cond.wait_for(lambda: self._settled_up_to(target), timeout_s)

    def report(self) -> dict[str, Any]:
        with self._cond:
            return {**self.stats.as_dict(), "events_pending": len(self._unsettled)}

    def stop(self, timeout_s: float = 10.0) -> None:
        """Send what is open or queued (to the dead-letter queue if the destination cannot run),
        then stop the threads."""
        self.wait_delivered(timeout_s)
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            left = len(self._unsettled)
        if left:
            self._log(f"log subscriptions: stopped with {left} event(s) not delivered")

    # -- dispatching -------------------------------------------------------------------------------

    def _settled_up_to(self, target: int) -> bool:
        return self._classified >= target and not any(seq <= target for seq in self._unsettled)

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: bool(self._lines) or self._stopping.is_set(), timeout=self._next_due()
                )
                lines = list(self._lines)
                self._lines.clear()
                for seq, label, line, timestamp_ms in lines:
                    if timestamp_ms:
                        self._classify(seq, label, line, timestamp_ms)
                    self._classified = max(self._classified, seq)
                self._flush_due(force=self._stopping.is_set())
                self._cond.notify_all()
                if self._stopping.is_set() and not self._lines and not self._open:
                    self._dispatched_all = True
                    self._cond.notify_all()
                    return

    def _next_due(self) -> float | None:
        if not self._open:
            return None
        oldest = min(batch.opened for batch in self._open.values())
        return max(0.0, oldest + self._window_s - time.monotonic())

    def _classify(self, seq: int, label: str, line: str, timestamp_ms: int) -> None:
        function, _, version = label.rpartition(":")
        for subscription in self._by_source.get(function, []):
            if not subscription.matches(line):
                continue
            stream = f"{time.strftime('%Y/%m/%d', time.gmtime(timestamp_ms / 1000))}/[{version}]localcloud"
            key = (subscription.filter_name, stream)
            batch = self._open.get(key)
            if batch is None:
                batch = self._open[key] = _Batch(subscription, stream, time.monotonic())
            event_id = f"{timestamp_ms}{self._prefix}{seq:012d}"
            batch.events.append(LogEvent(event_id, timestamp_ms, line))
            batch.seqs.append(seq)
            batch.size += len(line) + 26
            self._unsettled[seq] = self._unsettled.get(seq, 0) + 1
            self.stats.events_matched += 1
            if len(batch.events) >= self._max_events or batch.size >= MAX_EVENT_BYTES * 4:
                self._ready.append(self._open.pop(key))

    def _flush_due(self, *, force: bool) -> None:
        now = time.monotonic()
        for key, batch in list(self._open.items()):
            if force or now - batch.opened >= self._window_s:
                self._ready.append(self._open.pop(key))

    # -- delivering ------------------------------------------------------------------------------

    def _deliver_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._ready) or self._finished())
                if not self._ready:
                    return
                batch = self._ready.popleft()
                self._delivering += 1
            try:
                for part in self._encoded_parts(batch):
                    self._deliver(batch.subscription, *part)
            finally:
                with self._cond:
                    self._delivering -= 1
                    for seq in batch.seqs:
                        left = self._unsettled.get(seq, 1) - 1
                        if left <= 0:
                            self._unsettled.pop(seq, None)
                        else:
                            self._unsettled[seq] = left
                    self._cond.notify_all()

    def _finished(self) -> bool:
        return self._dispatched_all and not self._ready

    def _encoded_parts(self, batch: _Batch) -> list[tuple[bytes, int]]:
        """The batch as events under the payload limit (halved until each part fits)."""
        pending = [batch.events]
        parts = []
        while pending:
            events = pending.pop(0)
            subscription = batch.subscription
            body = json.dumps(
                awslogs_event(
                    events,
                    log_group=subscription.log_group,
                    log_stream=batch.log_stream,
                    filter_name=subscription.filter_name,
                )
            ).encode()
            if len(body) > MAX_EVENT_BYTES and len(events) > 1:
                middle = len(events) // 2
                pending[:0] = [events[:middle], events[middle:]]
                continue
            parts.append((body, len(events)))
        return parts

    def _deliver(self, subscription: Subscription, body: bytes, count: int) -> None:
        name = subscription.destination_function
        error = "never attempted"
        for attempt in range(subscription.failure.max_retries + 1):
            if attempt:
                time.sleep(self._retry_delays[min(attempt - 1, len(self._retry_delays) - 1)])
            try:
                result = self._invoke(name, subscription.destination_qualifier, body)
            except Exception as exc:  # the runtime could not run the function at all
                error = repr(exc)
            else:
                if result.status == "ok":
                    with self._cond:
                        self.stats.batches_delivered += 1
                        self.stats.events_delivered += count
                    return
                error = f"{result.status}: {result.payload[:300].decode('utf-8', errors='replace')}"
            with self._cond:
                self.stats.failed_attempts += 1
            self._log(f"{subscription.filter_name}: delivery to {name} failed ({attempt + 1}): {error}")
        self._dead_letter(subscription, body, count, error)

    def _dead_letter(self, subscription: Subscription, body: bytes, count: int, error: str) -> None:
        queue = subscription.failure.dead_letter_arn
        if queue is None or self._send_dead_letter is None:
            with self._cond:
                self.stats.events_discarded += count
            self._log(f"{subscription.filter_name}: {count} event(s) discarded: no dead-letter queue")
            return
        attributes = {"ErrorCode": "200", "ErrorMessage": error[:1000]}
        delay = 0.1
        while True:
            try:
                self._send_dead_letter(queue, body.decode(), attributes)
            except Exception as exc:  # moto restarting: keep the batch and try again
                if self._stopping.is_set() and delay > 2:
                    self._log(f"{subscription.filter_name}: {count} event(s) lost at stop: {exc!r}")
                    with self._cond:
                        self.stats.events_discarded += count
                    return
                time.sleep(delay)
                delay = min(5.0, delay * 2)
                continue
            with self._cond:
                self.stats.batches_dead_lettered += 1
                self.stats.events_dead_lettered += count
            self._log(f"{subscription.filter_name}: {count} event(s) sent to the dead-letter queue {queue}")
            return
