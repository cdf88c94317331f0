"""The shadow function's domain: score each mirrored message with the candidate model, then write the
batch's records to S3 in one object. Collaborators are injected; the handler wires them once.

Per message (Powertools `BatchProcessor`, partial batch responses): a message that cannot be parsed,
names a model that cannot be loaded, or does not fit the model fails on its own and is reported in
`batchItemFailures`; SQS makes it visible again and, after `maxReceiveCount` receives, moves it to the
dead-letter queue. If writing the records fails, the invocation fails and the whole batch is retried
(its object key does not change, so the retry overwrites whatever was written).

A live-only message (no candidate: what the inference function's earlier sender wrote for the
prediction log) is acknowledged and not written: the recorder function writes every answered request
to the prediction log (docs/prediction-log.md); the shadow writes only what it scored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from common.mirror.message import MalformedMessageError, format_timestamp, parse_message
from common.mirror.record import ShadowRecord, ShadowResult
from common.model.onnx_model import OnnxModel


class IncompatibleMessageError(ValueError):
    """The message's rows do not fit the candidate model (wrong number of features, or another task
    than the live model's: a classifier's labels and a regressor's numbers cannot be compared)."""


class Models(Protocol):
    def get(self, version: str) -> OnnxModel: ...


class Writer(Protocol):
    def write(self, records: list[ShadowRecord]) -> list[str]: ...


class Log(Protocol):
    """What the consumer logs through (Powertools' Logger in the function)."""

    def info(self, msg: object, *, extra: dict[str, Any]) -> None: ...

    def warning(self, msg: object, *, extra: dict[str, Any]) -> None: ...

    def exception(self, msg: object, *, extra: dict[str, Any]) -> None: ...


class MetricSink(Protocol):
    """What the consumer counts through (Powertools' Metrics in the function)."""

    def add_metric(self, name: str, unit: MetricUnit, value: float) -> None: ...


class ShadowConsumer:
    def __init__(
        self,
        *,
        models: Models,
        writer: Writer,
        logger: Log,
        metrics: MetricSink,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.models = models
        self.writer = writer
        self.logger = logger
        self.metrics = metrics
        self._clock = clock

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """One SQS batch -> records in S3; returns the partial batch response for Lambda."""
        # A batch whose every message failed is answered like any other (all ids in batchItemFailures),
        # not raised: the same redelivery and DLQ, without an invocation error for bad input.
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        with processor(records=event["Records"], handler=self.score, lambda_context=context):
            outcomes = processor.process()
        scored: list[ShadowRecord] = [result for status, result, *_ in outcomes if status == "success"]
        failed = len(outcomes) - len(scored)
        records = [record for record in scored if record.shadow is not None]
        if len(records) < len(scored):
            self.metrics.add_metric(
                name="ShadowLiveOnlySkipped", unit=MetricUnit.Count, value=len(scored) - len(records)
            )
        if records:
            keys = self.writer.write(records)
            self._count_written(records)
            self.logger.info(
                "shadow records written", extra={"records": len(records), "failed": failed, "keys": keys}
            )
        response: dict[str, Any] = dict(processor.response())
        return response

    def score(self, record: SQSRecord, lambda_context: Any = None) -> ShadowRecord:
        """One message -> one record (raises for a message that cannot be scored)."""
        try:
            message = parse_message(record.body)
            if message.candidate_model_version is None:  # live-only: nothing to score, not written
                return ShadowRecord(
                    message=message,
                    shadow=None,
                    message_id=record.message_id,
                    processed_at=format_timestamp(self._clock()),
                )
            model = self.models.get(message.candidate_model_version)
            rows = message.inputs
            if rows.shape[1] != model.metadata.n_features:
                raise IncompatibleMessageError(
                    f"rows have {rows.shape[1]} features; model {model.version} takes "
                    f"{model.metadata.n_features}"
                )
            live_task = "classification" if message.live.probabilities else "regression"
            if model.metadata.task != live_task:
                raise IncompatibleMessageError(
                    f"the live model is a {live_task} model; candidate {model.version} is a "
                    f"{model.metadata.task} model (their answers cannot be compared)"
                )
            started = time.perf_counter()
            prediction = model.predict(rows)
            inference_ms = (time.perf_counter() - started) * 1000.0
        except Exception as exc:
            self._count_failure(record, exc)
            raise
        function_version = str(getattr(lambda_context, "function_version", "$LATEST"))
        return ShadowRecord(
            message=message,
            shadow=ShadowResult(
                model_version=model.version,
                function_version=function_version,
                predictions=prediction.labels,
                # A regressor has no probabilities: [] as in the live part of its messages.
                probabilities=prediction.probabilities.tolist() if prediction.probabilities.shape[1] else [],
                inference_ms=round(inference_ms, 4),
            ),
            message_id=record.message_id,
            processed_at=format_timestamp(self._clock()),
        )

    def _count_failure(self, record: SQSRecord, exc: Exception) -> None:
        poison = isinstance(exc, (MalformedMessageError, IncompatibleMessageError))
        name = "ShadowMalformedMessages" if poison else "ShadowScoringErrors"
        self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        extra = {
            "message_id": record.message_id,
            "receive_count": record.attributes.approximate_receive_count,
            "reason": f"{type(exc).__name__}: {exc}"[:500],
        }
        if poison:
            self.logger.warning(
                "shadow message cannot be scored; it goes to the DLQ after maxReceiveCount", extra=extra
            )
        else:
            self.logger.exception("shadow message failed; it will be retried", extra=extra)

    def _count_written(self, all_records: list[ShadowRecord]) -> None:
        records = [(record, record.shadow) for record in all_records if record.shadow is not None]
        if not records:
            return
        rows = sum(record.message.rows for record, _ in records)
        # Label disagreements are a classifier's: a regressor's numbers almost never agree exactly, so
        # its rows are not counted (the shadow report measures their differences).
        disagreements = sum(
            live != shadow
            for record, result in records
            if result.probabilities
            for live, shadow in zip(record.message.live.predictions, result.predictions, strict=True)
        )
        self.metrics.add_metric(name="ShadowRecordsWritten", unit=MetricUnit.Count, value=len(records))
        self.metrics.add_metric(name="ShadowRowsScored", unit=MetricUnit.Count, value=rows)
        self.metrics.add_metric(name="ShadowLabelDisagreements", unit=MetricUnit.Count, value=disagreements)
