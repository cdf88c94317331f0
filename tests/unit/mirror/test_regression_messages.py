"""Messages and records of a regressor (one number per row, no probabilities), and the classifier's
wire and record formats byte for byte (the texts below were written by the code before regressors)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pytest

from common.mirror.message import LiveResult, MalformedMessageError, encode_messages, parse_message
from common.mirror.record import ShadowRecord, ShadowResult, encode_jsonl_gz, iter_jsonl_gz

TIMESTAMP = "2026-01-02T13:04:05.678Z"
INPUTS = np.array([[1.5, -2.25, 3.0e-8], [17.99, 0.0, 3.4e38]], dtype=np.float32)

CLASSIFIER_MESSAGE = (
    '{"schema_version":1,"request_id":"req-1","part":0,"parts":1,"row_offset":0,'
    '"timestamp":"2026-01-02T13:04:05.678Z","candidate_model_version":"m-cand",'
    '"inputs":{"dtype":"float32","shape":[2,3],"data":"AADAPwAAEMBZ2QAzheuPQQAAAACeyX9/"},'
    '"live":{"model_version":"m-live","function_version":"3","predictions":[0,1],'
    '"probabilities":[[0.75,0.25],[0.125,0.875]],"inference_ms":0.12}}'
)
CLASSIFIER_RECORD = (
    '{"schema_version":1,"record_id":"req-1#0","request_id":"req-1","part":0,"parts":1,"row_offset":0,'
    '"timestamp":"2026-01-02T13:04:05.678Z","inputs":[[1.5,-2.25,3e-08],[17.99,0.0,3.4e+38]],'
    '"live":{"model_version":"m-live","function_version":"3","predictions":[0,1],'
    '"probabilities":[[0.75,0.25],[0.125,0.875]],"inference_ms":0.12},'
    '"shadow":{"model_version":"m-cand","function_version":"$LATEST","predictions":[1,1],'
    '"probabilities":[[0.5,0.5],[0.0625,0.9375]],"inference_ms":0.3},'
    '"message_id":"msg-1","processed_at":"2026-01-02T13:04:06.000Z"}'
)
CLASSIFIER_SPLIT_SHA256 = "ec87f8bad28daf61a15ba5f34e70dd6e1f8c107fed78a9fdff7ff55a3ca95f29"


def encode(live: LiveResult, inputs: np.ndarray = INPUTS, **kwargs: Any) -> list[str]:
    return encode_messages(
        request_id="req-1",
        timestamp=TIMESTAMP,
        candidate_model_version="m-cand",
        inputs=inputs,
        live=live,
        **kwargs,
    )


def test_a_classifier_s_message_and_record_are_byte_identical_to_before() -> None:
    (body,) = encode(LiveResult("m-live", "3", [0, 1], [[0.75, 0.25], [0.125, 0.875]], 0.12))
    assert body == CLASSIFIER_MESSAGE
    record = ShadowRecord(
        message=parse_message(body),
        shadow=ShadowResult("m-cand", "$LATEST", [1, 1], [[0.5, 0.5], [0.0625, 0.9375]], 0.3),
        message_id="msg-1",
        processed_at="2026-01-02T13:04:06.000Z",
    )
    assert record.to_json_line() == CLASSIFIER_RECORD
    parts = encode_messages(
        request_id="req-2",
        timestamp=TIMESTAMP,
        candidate_model_version=None,
        inputs=np.ones((40, 3), dtype=np.float32),
        live=LiveResult("m-live", "3", [1] * 40, [[0.5, 0.5]] * 40, 0.1),
        max_bytes=1200,
    )
    assert len(parts) == 3
    assert hashlib.sha256("\n".join(parts).encode()).hexdigest() == CLASSIFIER_SPLIT_SHA256


def regressor_live(values: list[float]) -> LiveResult:
    return LiveResult("m-live", "3", values, [], 0.12)


def test_a_regressor_s_message_carries_its_numbers_and_no_probabilities() -> None:
    (body,) = encode(regressor_live([151.25, -3.5]))
    assert json.loads(body)["live"] == {
        "model_version": "m-live",
        "function_version": "3",
        "predictions": [151.25, -3.5],
        "probabilities": [],
        "inference_ms": 0.12,
    }
    message = parse_message(body)
    assert message.live == regressor_live([151.25, -3.5])
    assert np.array_equal(message.inputs, INPUTS)


def test_a_regressor_s_large_request_is_split_by_rows() -> None:
    values = [float(i) + 0.5 for i in range(100)]
    parts = encode(regressor_live(values), inputs=np.ones((100, 3), dtype=np.float32), max_bytes=1200)
    assert len(parts) > 1 and all(len(p) <= 1200 for p in parts)
    messages = [parse_message(p) for p in parts]
    assert [v for m in messages for v in m.live.predictions] == values
    assert all(m.live.probabilities == [] for m in messages)
    assert [m.row_offset for m in messages] == sorted(m.row_offset for m in messages)


def test_rows_and_a_regressor_s_predictions_must_line_up() -> None:
    with pytest.raises(ValueError, match="2 input rows but 1 predictions"):
        encode(regressor_live([1.5]))


@pytest.mark.parametrize(
    "predictions",
    [[1.5, True], [1.5, "2.5"], [1.5, None], [1.5], [1, 2], [1.5, [2.5]]],
    ids=["boolean", "string", "null", "too-few", "integers-are-labels", "nested"],
)
def test_a_message_without_probabilities_needs_a_finite_number_per_row(predictions: list[Any]) -> None:
    document = json.loads(encode(regressor_live([1.5, 2.5]))[0])
    document["live"]["predictions"] = predictions
    with pytest.raises(MalformedMessageError, match="finite numbers"):
        parse_message(json.dumps(document))


@pytest.mark.parametrize("text", ["1e999", "-1e999"])
def test_a_regressor_s_prediction_beyond_float_is_malformed(text: str) -> None:
    body = encode(regressor_live([1.5, 2.5]))[0].replace("2.5]", f"{text}]")
    with pytest.raises(MalformedMessageError):
        parse_message(body)


def test_a_message_without_the_probabilities_field_is_a_regressor_s() -> None:
    document = json.loads(encode(regressor_live([1.5, 2.5]))[0])
    del document["live"]["probabilities"]
    assert parse_message(json.dumps(document)).live.predictions == [1.5, 2.5]


def test_a_regressor_s_record_has_numbers_where_labels_were() -> None:
    (body,) = encode(regressor_live([151.25, -3.5]))
    record = ShadowRecord(
        message=parse_message(body),
        shadow=ShadowResult("m-cand", "$LATEST", [150.0, -3.25], [], 0.3),
        message_id="msg-1",
        processed_at="2026-01-02T13:04:06.000Z",
    )
    (line,) = iter_jsonl_gz(encode_jsonl_gz([record]))
    assert line["live"]["predictions"] == [151.25, -3.5] and line["live"]["probabilities"] == []
    assert line["shadow"] == {
        "model_version": "m-cand",
        "function_version": "$LATEST",
        "predictions": [150.0, -3.25],
        "probabilities": [],
        "inference_ms": 0.3,
    }
    assert {k: v for k, v in line.items() if k != "inputs"} == {
        k: v for k, v in record.to_dict().items() if k != "inputs"
    }
