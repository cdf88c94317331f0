"""The mirrored message: exact float32 round trip, splitting by rows, strict parsing."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.mirror.message import (
    LiveResult,
    MalformedMessageError,
    encode_messages,
    float32_rows_text,
    format_timestamp,
    parse_message,
    parse_timestamp,
)


def live_for(rows: int, *, classes: int = 2) -> LiveResult:
    probabilities = [[1.0 / classes] * classes for _ in range(rows)]
    return LiveResult(
        model_version="m-live",
        function_version="3",
        predictions=[i % classes for i in range(rows)],
        probabilities=probabilities,
        inference_ms=0.12,
    )


def encode(inputs: np.ndarray, **kwargs: Any) -> list[str]:
    return encode_messages(
        request_id="req-1",
        timestamp="2026-01-02T13:04:05.678Z",
        candidate_model_version="m-cand",
        inputs=inputs,
        live=live_for(len(inputs)),
        **kwargs,
    )


def test_one_request_is_one_message_with_every_field() -> None:
    inputs = np.array([[17.99, 10.38, 122.8], [1e-30, -3.5, 3.4e38]], dtype=np.float32)
    (body,) = encode(inputs)
    message = parse_message(body)
    assert (message.request_id, message.part, message.parts, message.row_offset) == ("req-1", 0, 1, 0)
    assert message.timestamp == "2026-01-02T13:04:05.678Z"
    assert message.candidate_model_version == "m-cand"
    assert message.record_id == "req-1#0"
    assert message.live == live_for(2)
    assert np.array_equal(message.inputs, inputs) and message.inputs.dtype == np.float32
    assert json.loads(body)["inputs"]["shape"] == [2, 3] and json.loads(body)["inputs"]["dtype"] == "float32"


def test_inputs_come_back_as_exactly_the_float32_matrix_the_live_model_saw() -> None:
    rng = np.random.default_rng(7)
    inputs = (rng.standard_normal((50, 30)) * rng.choice([1e-20, 1.0, 1e20], size=(50, 30))).astype(
        np.float32
    )
    (body,) = encode(inputs)
    assert np.array_equal(parse_message(body).inputs, inputs)
    # The record's text form reads back to the same float32 values too.
    assert np.array_equal(np.asarray(json.loads(float32_rows_text(inputs)), dtype=np.float32), inputs)


def test_a_large_request_is_split_by_rows_below_the_size_limit() -> None:
    inputs = np.random.default_rng(1).random((1000, 30)).astype(np.float32) * 1000
    bodies = encode(inputs, max_bytes=50_000)
    assert len(bodies) > 1
    messages = [parse_message(body) for body in bodies]
    assert all(len(body.encode()) <= 50_000 for body in bodies)
    assert [m.part for m in messages] == list(range(len(bodies)))
    assert {m.parts for m in messages} == {len(bodies)}
    assert [m.row_offset for m in messages] == np.cumsum([0] + [m.rows for m in messages[:-1]]).tolist()
    joined = np.concatenate([m.inputs for m in messages])
    assert np.array_equal(joined, inputs)
    assert [label for m in messages for label in m.live.predictions] == live_for(1000).predictions


def test_rows_and_predictions_must_line_up() -> None:
    with pytest.raises(ValueError, match="2 input rows but 3 predictions"):
        encode_messages(
            request_id="r",
            timestamp="2026-01-02T13:04:05.678Z",
            candidate_model_version="m",
            inputs=np.zeros((2, 3), dtype=np.float32),
            live=live_for(3),
        )


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert format_timestamp(0.0015) == "1970-01-01T00:00:00.001Z"
    assert parse_timestamp("2026-01-02T13:04:05.678Z").hour == 13


NAN_ROWS = base64.b64encode(np.array([[1, np.nan, 3], [1, 2, np.inf]], dtype="<f4").tobytes()).decode()


def valid_document() -> dict[str, Any]:
    (body,) = encode(np.ones((2, 3), dtype=np.float32))
    document: dict[str, Any] = json.loads(body)
    return document


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.update(schema_version=2), "schema_version must be 1"),
        (lambda d: d.update(part=1), "part 1 is not below parts 1"),
        (lambda d: d.update(parts=0), "parts must be an integer >= 1"),
        (lambda d: d.update(request_id=""), "request_id must be a non-empty string"),
        (lambda d: d.update(timestamp="yesterday"), "timestamp 'yesterday' is not ISO 8601"),
        (lambda d: d.update(candidate_model_version="../x"), "is not a valid version"),
        (lambda d: d.update(inputs=[[1.0, 2.0, 3.0]]), "inputs must be an object"),
        (lambda d: d["inputs"].update(dtype="float64"), "inputs.dtype must be float32"),
        (lambda d: d["inputs"].update(shape=[2]), "inputs.shape must be [rows, features]"),
        (lambda d: d["inputs"].update(shape=[2, True]), "inputs.shape must be [rows, features]"),
        (lambda d: d["inputs"].update(shape=[3, 3]), "holds 24 bytes, not 3 x 3 float32"),
        (lambda d: d["inputs"].update(data="!!!"), "inputs.data is not valid base64"),
        (lambda d: d["inputs"].update(data=7), "inputs.data must be base64 text"),
        (lambda d: d["inputs"].update(data=NAN_ROWS), "not a finite number"),
        (lambda d: d["live"].update(predictions=[0]), "live.predictions must be 2 labels"),
        (lambda d: d["live"].update(predictions=[0, None]), "live.predictions must be 2 labels"),
        (lambda d: d["live"].update(probabilities=[[0.5, 0.5]]), "live.probabilities must have 2 rows"),
        (lambda d: d["live"].update(inference_ms=-1), "live.inference_ms must be a non-negative number"),
        (lambda d: d["live"].update(function_version="latest"), "function_version 'latest' is not a valid"),
        (lambda d: d.pop("live"), "live must be an object"),
    ],
)
def test_every_malformation_is_named(change: Any, reason: str) -> None:
    document = valid_document()
    change(document)
    with pytest.raises(MalformedMessageError) as excinfo:
        parse_message(json.dumps(document))
    assert reason in str(excinfo.value)


@pytest.mark.parametrize(
    "body", ["", "not json", "[1, 2]", "null", '{"inputs": NaN}', "{" * 100_000, b"bytes"]
)
def test_bodies_that_are_not_messages(body: Any) -> None:
    with pytest.raises(MalformedMessageError):
        parse_message(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(
    overrides=st.dictionaries(
        st.sampled_from(
            [
                "schema_version",
                "request_id",
                "part",
                "parts",
                "row_offset",
                "timestamp",
                "inputs",
                "live",
                "candidate_model_version",
            ]
        ),
        json_values,
        max_size=4,
    )
)
def test_any_document_parses_or_is_malformed(overrides: dict[str, Any]) -> None:
    document = {**valid_document(), **overrides}
    try:
        message = parse_message(json.dumps(document))
    except MalformedMessageError:
        return
    assert message.rows == len(message.live.predictions)


@settings(max_examples=200, deadline=None)
@given(body=st.text(max_size=200) | st.binary(max_size=50).map(lambda b: b.decode("latin-1")))
def test_any_text_parses_or_is_malformed(body: str) -> None:
    with pytest.raises(MalformedMessageError):
        parse_message(body)
