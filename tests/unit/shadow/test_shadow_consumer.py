"""The shadow function's domain with a real candidate model: one record per good message, partial
batch failures for the rest, and never anything else, whatever the bodies hold (hypothesis)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.mirror.message import LiveResult, encode_messages
from common.mirror.record import ShadowRecord
from common.model.metadata import ModelMetadata
from common.model.onnx_model import OnnxModel
from shadow.consumer import ShadowConsumer
from tests.helpers import FakeLambdaContext


class Models:
    def __init__(self, model: OnnxModel) -> None:
        self.model = model
        self.loads: list[str] = []

    def get(self, version: str) -> OnnxModel:
        self.loads.append(version)
        if version != self.model.version:
            raise FileNotFoundError(f"s3://models/models/{version}/metadata.json: 404")
        return self.model


class Writer:
    def __init__(self) -> None:
        self.batches: list[list[ShadowRecord]] = []
        self.error: Exception | None = None

    def write(self, records: list[ShadowRecord]) -> list[str]:
        if self.error is not None:
            raise self.error
        self.batches.append(list(records))
        return [f"key-{len(self.batches)}"]


class Sink:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []
        self.metrics: dict[str, float] = {}

    def info(self, msg: object, *, extra: dict[str, Any]) -> None:
        self.lines.append(("info", str(msg), extra))

    def warning(self, msg: object, *, extra: dict[str, Any]) -> None:
        self.lines.append(("warning", str(msg), extra))

    def exception(self, msg: object, *, extra: dict[str, Any]) -> None:
        self.lines.append(("exception", str(msg), extra))

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.metrics[name] = self.metrics.get(name, 0) + value


@pytest.fixture(scope="module")
def model(trained_model: tuple[Path, ModelMetadata]) -> OnnxModel:
    return OnnxModel.load(trained_model[0])


def body(model: OnnxModel, request_id: str, rows: np.ndarray, *, candidate: str | None = None) -> str:
    prediction = model.predict(rows)
    (text,) = encode_messages(
        request_id=request_id,
        timestamp="2026-01-02T13:04:05.678Z",
        candidate_model_version=candidate or model.version,
        inputs=rows,
        live=LiveResult(model.version, "1", prediction.labels, prediction.probabilities.tolist(), 0.05),
    )
    return text


def event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"msg-{index}",
                "receiptHandle": f"rh-{index}",
                "body": text,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1767359045678"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:shadow",
                "awsRegion": "us-east-1",
            }
            for index, text in enumerate(bodies)
        ]
    }


def consumer(model: OnnxModel) -> tuple[ShadowConsumer, Writer, Sink]:
    writer, sink = Writer(), Sink()
    return ShadowConsumer(models=Models(model), writer=writer, logger=sink, metrics=sink), writer, sink


def test_every_good_message_becomes_one_record_in_one_write(model: OnnxModel) -> None:
    rows = np.asarray(model.metadata.sample_rows[:3], dtype=np.float32)
    shadow, writer, sink = consumer(model)
    response = shadow.handle(
        event(body(model, "r1", rows[:1]), body(model, "r2", rows)), FakeLambdaContext("shadow", "$LATEST")
    )
    assert response == {"batchItemFailures": []}
    (batch,) = writer.batches
    assert [r.record_id for r in batch] == ["r1#0", "r2#0"]
    expected = model.predict(rows)
    assert batch[1].shadow is not None
    assert batch[1].shadow.predictions == expected.labels
    np.testing.assert_allclose(batch[1].shadow.probabilities, expected.probabilities, rtol=0, atol=0)
    assert batch[1].shadow.model_version == model.version and batch[1].shadow.function_version == "$LATEST"
    assert batch[1].message_id == "msg-1"
    assert sink.metrics == {"ShadowRecordsWritten": 2, "ShadowRowsScored": 4, "ShadowLabelDisagreements": 0}


def test_bad_messages_fail_alone_as_partial_batch_failures(model: OnnxModel) -> None:
    rows = np.asarray(model.metadata.sample_rows[:1], dtype=np.float32)
    wide = np.hstack([rows, rows[:, :1]])  # 31 features for a 30-feature model
    prediction = model.predict(rows)
    (wrong_width,) = encode_messages(
        request_id="w",
        timestamp="2026-01-02T13:04:05.678Z",
        candidate_model_version=model.version,
        inputs=wide,
        live=LiveResult(model.version, "1", prediction.labels, prediction.probabilities.tolist(), 0.05),
    )
    shadow, writer, sink = consumer(model)
    response = shadow.handle(
        event(
            body(model, "ok-1", rows),
            "{not json",
            body(model, "unknown-model", rows, candidate="m-doesnotexist"),
            wrong_width,
            body(model, "ok-2", rows),
        ),
        FakeLambdaContext(),
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": f"msg-{i}"} for i in (1, 2, 3)]}
    assert [r.record_id for r in writer.batches[0]] == ["ok-1#0", "ok-2#0"]
    assert sink.metrics["ShadowMalformedMessages"] == 2  # the body and the width: retrying cannot help
    assert sink.metrics["ShadowScoringErrors"] == 1  # the model could not be loaded: retried
    reasons = [extra["reason"] for level, _, extra in sink.lines if level in ("warning", "exception")]
    assert any("not JSON" in r for r in reasons) and any("31 features" in r for r in reasons)


def test_a_batch_where_everything_fails_reports_every_message(model: OnnxModel) -> None:
    """No exception for bad input: every id is a batch item failure (redelivered, then dead-lettered)."""
    shadow, writer, sink = consumer(model)
    response = shadow.handle(event("x", "y"), FakeLambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": "msg-0"}, {"itemIdentifier": "msg-1"}]}
    assert writer.batches == [] and sink.metrics == {"ShadowMalformedMessages": 2}


def test_a_failed_write_fails_the_invocation_so_the_whole_batch_is_retried(model: OnnxModel) -> None:
    rows = np.asarray(model.metadata.sample_rows[:1], dtype=np.float32)
    shadow, writer, _ = consumer(model)
    writer.error = ConnectionError("S3 unreachable")
    with pytest.raises(ConnectionError):
        shadow.handle(event(body(model, "r", rows)), FakeLambdaContext())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    bodies=st.lists(
        st.text(max_size=300)
        | st.builds(json.dumps, st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=5)))
        | st.sampled_from(['{"schema_version": 1}', "[]", "null", "1e999"]),
        min_size=1,
        max_size=5,
    )
)
def test_malformed_sqs_messages_are_reported_never_crash(model: OnnxModel, bodies: list[str]) -> None:
    rows = np.asarray(model.metadata.sample_rows[:2], dtype=np.float32)
    shadow, writer, _ = consumer(model)
    response = shadow.handle(event(body(model, "good", rows), *bodies), FakeLambdaContext())
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    assert failed == {f"msg-{i}" for i in range(1, len(bodies) + 1)}
    assert [r.record_id for r in writer.batches[0]] == ["good#0"]
