"""Property-based: malformed SQS messages in a batch are reported and counted, never raised, and no
valid message next to them is lost.

Each example is a batch of 1..10 messages: valid mirror messages, and malformed ones made by
breaking a valid message in one place (a missing or retyped field, corrupt base64, a wrong shape or
dtype, NaN, a bad timestamp, an unknown model), by truncating it, or random text and JSON. Every
batch goes through the real consumer (Powertools BatchProcessor, the real ONNX model). The answer
must list exactly the malformed messages as batch item failures, each counted in a metric, and
write exactly one record per valid message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.mirror.message import parse_message
from common.model.metadata import ModelMetadata
from common.model.onnx_model import OnnxModel
from tests.helpers import FakeLambdaContext
from tests.unit.shadow.test_shadow_consumer import body, consumer, event

BATCHES = int(os.environ.get("SHADOW_FUZZ_BATCHES", "2000"))

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
    "schema_version",
    "request_id",
    "part",
    "parts",
    "row_offset",
    "timestamp",
    "candidate_model_version",
    "inputs",
    "live",
]
INPUT_FIELDS = ["dtype", "shape", "data"]
LIVE_FIELDS = ["model_version", "function_version", "predictions", "probabilities", "inference_ms"]


def _set(document: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(document))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


def _drop(document: dict[str, Any], path: list[str]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(document))
    target = copy
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return copy


@st.composite
def broken_body(draw: st.DrawFn, valid: str) -> str:
    """A valid message broken in one way that can never be scored."""
    document = json.loads(valid)
    paths = [[f] for f in FIELDS] + [["inputs", f] for f in INPUT_FIELDS] + [["live", f] for f in LIVE_FIELDS]
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return json.dumps(_drop(document, draw(st.sampled_from(paths))))
    if kind == 1:  # a field of another type (or value) entirely
        path = draw(st.sampled_from(paths))
        old = _get(document, path)
        value = draw(json_values.filter(lambda v: v != old))
        return json.dumps(_set(document, path, value))
    if kind == 2:  # corrupt base64, or bytes that do not fill the shape
        data = document["inputs"]["data"]
        return json.dumps(
            _set(document, ["inputs", "data"], draw(st.sampled_from(["!!", data[:-4], data + "AAAA"])))
        )
    if kind == 3:
        shape = draw(st.sampled_from([[0, 30], [1, 31], [2, 30], [-1, 30], [1], [1, 30, 1], [10**9, 30]]))
        return json.dumps(_set(document, ["inputs", "shape"], shape))
    if kind == 4:
        return json.dumps(
            _set(document, ["inputs", "dtype"], draw(st.sampled_from(["float64", "int8", "", "f4"])))
        )
    if kind == 5:  # numbers JSON cannot carry
        field = draw(st.sampled_from([["live", "inference_ms"], ["live", "probabilities"]]))
        text = json.dumps(_set(document, field, "__NAN__"))
        return text.replace('"__NAN__"', draw(st.sampled_from(["NaN", "Infinity", "[[NaN, 1.0]]", "1e999"])))
    if kind == 6:
        stamp = draw(st.sampled_from(["", "2026-13-01T00:00:00.000Z", "yesterday", "2026-01-02T13:04:05"]))
        return json.dumps(_set(document, ["timestamp"], stamp))
    if kind == 7:  # a model that is not in the store (a valid name): scored, fails, retried, dead-lettered
        return json.dumps(_set(document, ["candidate_model_version"], draw(st.sampled_from(["m-gone", "x"]))))
    if kind == 8:
        return valid[: draw(st.integers(0, len(valid) - 1))]
    return draw(st.text(max_size=200) | json_values.map(json.dumps))


def _get(document: dict[str, Any], path: list[str]) -> Any:
    value: Any = document
    for key in path:
        value = value[key]
    return value


@pytest.fixture(scope="module")
def model(trained_model: tuple[Path, ModelMetadata]) -> OnnxModel:
    return OnnxModel.load(trained_model[0])


@pytest.fixture(scope="module")
def valid_bodies(model: OnnxModel) -> list[str]:
    rows = np.asarray(model.metadata.sample_rows, dtype=np.float32)
    return [body(model, f"valid-{i}", rows[i % len(rows) : i % len(rows) + 1 + i % 3]) for i in range(10)]


@settings(max_examples=BATCHES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_malformed_messages_are_batch_item_failures_and_valid_ones_are_all_written(
    model: OnnxModel, valid_bodies: list[str], data: st.DataObject
) -> None:
    size = data.draw(st.integers(1, 10))
    plan = data.draw(st.lists(st.booleans(), min_size=size, max_size=size))  # True: malformed
    bodies: list[str] = []
    for index, broken in enumerate(plan):
        valid = valid_bodies[index]
        bodies.append(data.draw(broken_body(valid)) if broken else valid)
    shadow, writer, sink = consumer(model)

    response = shadow.handle(event(*bodies), FakeLambdaContext())  # never raises

    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    malformed = {f"msg-{i}" for i, broken in enumerate(plan) if broken}
    assert failed <= malformed
    scored = [i for i in range(size) if f"msg-{i}" not in failed]
    # A mutation can leave a message valid (scored, written), and two mutations can even give two
    # messages the same request id (the real writer keeps one record per id; this fake keeps all).
    # A mutation to a null candidate makes a live-only message: acknowledged, not written.
    parsed = [parse_message(bodies[i]) for i in scored]
    expected = sorted(m.record_id for m in parsed if m.candidate_model_version is not None)
    written = sorted(record.record_id for batch in writer.batches for record in batch)
    assert written == expected  # one record per scored message, none for a failed one
    assert {f"valid-{i}#0" for i, broken in enumerate(plan) if not broken} <= set(written)
    counted = sink.metrics.get("ShadowMalformedMessages", 0) + sink.metrics.get("ShadowScoringErrors", 0)
    assert counted == len(failed)
    assert len(writer.batches) == (1 if written else 0)
