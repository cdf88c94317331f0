"""Lambda's SQS event source mapping, locally: poll a queue, deliver batches to a function.

Event source mappings are provisioned as records (moto would run the function in Docker), so this is
what delivers messages. For each enabled SQS mapping of the deployment, pollers:

- gather up to `BatchSize` messages: one receive when `MaximumBatchingWindowInSeconds` is 0, else keep
  receiving until the batch is full, the window (from the first message) has passed, or the payload
  nears Lambda's 6 MB invocation limit;
- invoke the function through the router (`FunctionName` may carry an alias or version), with the
  event Lambda sends (`Records` of `aws:sqs` messages);
- delete what succeeded. A failed invocation (error, timeout, crash) deletes nothing; with
  `ReportBatchItemFailures`, the ids in `batchItemFailures` stay, and an invalid response fails the
  whole batch, as Lambda does. What is not deleted becomes visible again after the queue's visibility
  timeout, and SQS itself (moto implements redrive) moves a message to the dead-letter queue once it
  has been received `maxReceiveCount` times.

Every receive is a short poll (`WaitTimeSeconds=0`); a poller that finds the queue empty waits on
its own side, backing off up to `wait_s` between receives. moto fixes a receive's visibility timeout
when the request arrives, so a long poll in progress when the queue's `VisibilityTimeout` changes
would hide the messages it hands out for the old timeout (redelivery stalls for that long); a short
poll takes the timeout in force when it hands messages out, as SQS does.

At most `ScalingConfig.MaximumConcurrency` pollers per mapping (capped locally, default 2).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from localcloud.functions import Invoke, InvokeResult
from localcloud.provision import Deployment, ProvisionedResource

MAX_RECEIVE = 10  # SQS ReceiveMessage returns at most 10 messages per call
MAX_PAYLOAD_BYTES = 6_000_000  # Lambda's synchronous invocation payload limit (6 MB)
DEFAULT_POLLERS = 2
FIRST_IDLE_WAIT_S = 0.05  # an idle poller's first wait; it doubles up to `wait_s` while the queue stays empty
WINDOW_POLL_S = 0.2  # between receives that found nothing while a batching window is open


Log = Callable[[str], None]


@dataclass(frozen=True)
class SqsMapping:
    logical_id: str
    queue_arn: str
    function: str
    qualifier: str
    batch_size: int
    batching_window_s: float
    report_batch_item_failures: bool
    max_concurrency: int | None
    enabled: bool

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[-1]

    @property
    def region(self) -> str:
        return self.queue_arn.split(":")[3]

    @classmethod
    def from_resource(cls, resource: ProvisionedResource) -> SqsMapping | None:
        """The mapping's settings from its provisioned record; None when the source is not SQS."""
        props = resource.local
        source = str(props.get("EventSourceArn", ""))
        if not source.startswith("arn:aws:sqs:"):
            return None
        function, qualifier = parse_function_name(str(props["FunctionName"]))
        window = float(props.get("MaximumBatchingWindowInSeconds", 0) or 0)
        concurrency = props.get("ScalingConfig", {}).get("MaximumConcurrency")
        return cls(
            logical_id=resource.logical_id,
            queue_arn=source,
            function=function,
            qualifier=qualifier,
            batch_size=int(props.get("BatchSize", 10)),
            batching_window_s=window,
            report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            max_concurrency=int(concurrency) if concurrency is not None else None,
            enabled=str(props.get("Enabled", True)).lower() != "false",
        )


def parse_function_name(name: str) -> tuple[str, str]:
    """`fn`, `fn:alias`, `arn:aws:lambda:region:account:function:fn[:qualifier]` -> (fn, qualifier)."""
    if name.startswith("arn:"):
        parts = name.split(":")
        return parts[6], parts[7] if len(parts) > 7 else "$LATEST"
    function, _, qualifier = name.partition(":")
    return function, qualifier or "$LATEST"


# -- Lambda's side of the contract ------------------------------------------------------------------


def _message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    converted = {}
    for name, value in attributes.items():
        binary = value.get("BinaryValue")
        converted[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if isinstance(binary, bytes) else binary,
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
    return converted


def sqs_event(messages: Sequence[dict[str, Any]], *, queue_arn: str) -> dict[str, Any]:
    """The event Lambda sends for a batch of SQS messages."""
    region = queue_arn.split(":")[3]
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes", {})),
                "messageAttributes": _message_attributes(message.get("MessageAttributes", {})),
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


def failed_message_ids(
    result: InvokeResult, message_ids: Sequence[str], *, report_batch_item_failures: bool
) -> set[str]:
    """What Lambda leaves in the queue after an invocation.

    A failed invocation fails every message. With ReportBatchItemFailures, a null/empty response or an
    empty/null `batchItemFailures` is complete success; listed ids fail; anything invalid (not JSON, an
    entry without an `itemIdentifier`, an id not in the batch) fails the whole batch.
    """
    everything = set(message_ids)
    if result.status != "ok":
        return everything
    if not report_batch_item_failures:
        return set()
    text = result.payload.decode("utf-8", errors="replace").strip()
    if text in ("", "null"):
        return set()
    try:
        response = json.loads(text)
    except ValueError:
        return everything
    if response is None or response == {}:
        return set()
    if not isinstance(response, dict):
        return everything
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return everything
    failed: set[str] = set()
    for entry in failures:
        identifier = entry.get("itemIdentifier") if isinstance(entry, dict) else None
        if not isinstance(identifier, str) or identifier not in everything:
            return everything
        failed.add(identifier)
    return failed


# -- polling ---------------------------------------------------------------------------------------


@dataclass
class PollerStats:
    batches: int = 0
    messages: int = 0
    deleted: int = 0
    failed: int = 0
    invocation_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)


class SqsPoller:
    """Gathers batches for one mapping and delivers them; `poll_once` is one gather + delivery.
    `wait_s` is the longest `run` waits between two receives that found the queue empty."""

    def __init__(
        self,
        mapping: SqsMapping,
        *,
        sqs: Any,
        queue_url: str,
        invoke: Invoke,
        log: Log | None = None,
        wait_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mapping = mapping
        self.sqs = sqs
        self.queue_url = queue_url
        self.invoke = invoke
        self.stats = PollerStats()
        self._log = log or (lambda line: None)
        self._wait_s = wait_s
        self._clock = clock

    def poll_once(self, stop: threading.Event | None = None) -> int:
        """Gather one batch and deliver it; returns the number of messages delivered (0 when the
        queue was empty: one receive, no waiting)."""
        messages = self.gather(stop)
        if messages:
            self.deliver(messages)
        return len(messages)

    def gather(self, stop: threading.Event | None = None) -> list[dict[str, Any]]:
        mapping = self.mapping
        messages: list[dict[str, Any]] = []
        size = 0
        deadline: float | None = None
        while stop is None or not stop.is_set():
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(MAX_RECEIVE, mapping.batch_size - len(messages)),
                WaitTimeSeconds=0,  # never a long poll: see the module docstring
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages", [])
            messages.extend(received)
            size += sum(len(m["Body"].encode()) + 512 for m in received)
            if not messages:
                return messages
            if deadline is None:
                deadline = self._clock() + mapping.batching_window_s
            full = len(messages) >= mapping.batch_size or size >= MAX_PAYLOAD_BYTES - 300_000
            if full or mapping.batching_window_s <= 0 or self._clock() >= deadline:
                return messages
            if not received:
                _pause(stop, min(WINDOW_POLL_S, max(0.0, deadline - self._clock())))
        return messages

    def deliver(self, messages: Sequence[dict[str, Any]]) -> set[str]:
        """Invoke the function with the batch; delete what succeeded; return the ids left in the queue."""
        mapping = self.mapping
        event = json.dumps(sqs_event(messages, queue_arn=mapping.queue_arn)).encode()
        ids = [m["MessageId"] for m in messages]
        try:
            result: InvokeResult = self.invoke(mapping.function, mapping.qualifier, event)
        except Exception as exc:  # the runtime could not run the function at all
            self._log(f"{mapping.logical_id}: invoking {mapping.function} failed: {exc!r}")
            self.stats.add(batches=1, messages=len(ids), failed=len(ids), invocation_errors=1)
            return set(ids)
        failed = failed_message_ids(
            result, ids, report_batch_item_failures=mapping.report_batch_item_failures
        )
        succeeded = [m for m in messages if m["MessageId"] not in failed]
        self._delete(succeeded)
        if result.status != "ok":
            self._log(
                f"{mapping.logical_id}: {mapping.function} returned {result.status}: "
                f"{result.payload[:300].decode('utf-8', errors='replace')}; {len(ids)} message(s) stay queued"
            )
        elif failed:
            self._log(f"{mapping.logical_id}: {len(failed)} of {len(ids)} message(s) reported as failed")
        self.stats.add(
            batches=1,
            messages=len(ids),
            deleted=len(succeeded),
            failed=len(failed),
            invocation_errors=int(result.status != "ok"),
        )
        return failed

    def _delete(self, messages: Iterable[dict[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        for start in range(0, len(entries), MAX_RECEIVE):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url, Entries=entries[start : start + MAX_RECEIVE]
            )

    def run(self, stop: threading.Event) -> None:
        failures = 0
        idle_s = 0.0
        while not stop.is_set():
            try:
                delivered = self.poll_once(stop)
                failures = 0
            except Exception as exc:  # moto restarting or stopping; keep polling until told to stop
                failures += 1
                if failures == 1:
                    self._log(f"{self.mapping.logical_id}: polling {self.mapping.queue_name} failed: {exc!r}")
                stop.wait(min(2.0, 0.1 * failures))
                continue
            if delivered:
                idle_s = 0.0
            else:
                idle_s = max(FIRST_IDLE_WAIT_S, min(self._wait_s, 2 * idle_s))
                stop.wait(idle_s)


def _pause(stop: threading.Event | None, seconds: float) -> None:
    """Sleep, returning early when `stop` is set."""
    if stop is None:
        time.sleep(seconds)
    else:
        stop.wait(seconds)


class EventSources:
    """Every enabled SQS mapping of a deployment, each with its pollers, on daemon threads."""

    def __init__(self, pollers: Sequence[SqsPoller], *, pollers_per_mapping: Sequence[int]) -> None:
        self.pollers = list(pollers)
        self._counts = list(pollers_per_mapping)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_deployment(
        cls,
        deployment: Deployment,
        *,
        sqs: Any,
        invoke: Invoke,
        log: Log | None = None,
        max_pollers: int = DEFAULT_POLLERS,
        wait_s: float = 1.0,
    ) -> EventSources:
        pollers = []
        counts = []
        for resource in deployment.of_type("AWS::Lambda::EventSourceMapping"):
            mapping = SqsMapping.from_resource(resource)
            if mapping is None or not mapping.enabled:
                continue
            queue_url = sqs.get_queue_url(QueueName=mapping.queue_name)["QueueUrl"]
            pollers.append(
                SqsPoller(mapping, sqs=sqs, queue_url=queue_url, invoke=invoke, log=log, wait_s=wait_s)
            )
            counts.append(max(1, min(max_pollers, mapping.max_concurrency or max_pollers)))
        return cls(pollers, pollers_per_mapping=counts)

    def start(self) -> EventSources:
        for poller, count in zip(self.pollers, self._counts, strict=True):
            for index in range(count):
                thread = threading.Thread(
                    target=poller.run,
                    args=(self._stop,),
                    name=f"sqs-poller-{poller.mapping.logical_id[:40]}-{index}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
        return self

    def signal_stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = [thread for thread in self._threads if thread.is_alive()]

    def stop(self, timeout_s: float = 5.0) -> None:
        self.signal_stop()
        self.join(timeout_s)

    def poller(self, function: str) -> SqsPoller:
        return next(p for p in self.pollers if p.mapping.function == function)
