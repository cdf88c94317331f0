"""Records and their keys: derived from the messages, so a redelivered batch overwrites itself."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import numpy as np

from common.layout import hour_prefix, hour_prefixes
from common.mirror.message import LiveResult, encode_messages, parse_message
from common.mirror.record import (
    ShadowRecord,
    ShadowResult,
    encode_jsonl_gz,
    group_by_hour,
    iter_jsonl_gz,
    object_key,
)


def record(
    request_id: str, timestamp: str, *, processed_at: str = "2026-01-02T14:00:00.000Z"
) -> ShadowRecord:
    (body,) = encode_messages(
        request_id=request_id,
        timestamp=timestamp,
        candidate_model_version="m-cand",
        inputs=np.array([[1.5, 2.5]], dtype=np.float32),
        live=LiveResult("m-live", "4", [1], [[0.25, 0.75]], 0.05),
    )
    shadow = ShadowResult("m-cand", "$LATEST", [0], [[0.6, 0.4]], 0.07)
    return ShadowRecord(
        parse_message(body), shadow, message_id=f"sqs-{request_id}", processed_at=processed_at
    )


def test_a_record_is_the_message_plus_the_shadow_answer() -> None:
    line = json.loads(record("r1", "2026-01-02T13:04:05.678Z").to_json_line())
    assert line == {
        "schema_version": 1,
        "record_id": "r1#0",
        "request_id": "r1",
        "part": 0,
        "parts": 1,
        "row_offset": 0,
        "timestamp": "2026-01-02T13:04:05.678Z",
        "inputs": [[1.5, 2.5]],
        "live": {
            "model_version": "m-live",
            "function_version": "4",
            "predictions": [1],
            "probabilities": [[0.25, 0.75]],
            "inference_ms": 0.05,
        },
        "shadow": {
            "model_version": "m-cand",
            "function_version": "$LATEST",
            "predictions": [0],
            "probabilities": [[0.6, 0.4]],
            "inference_ms": 0.07,
        },
        "message_id": "sqs-r1",
        "processed_at": "2026-01-02T14:00:00.000Z",
    }


def test_partition_is_the_request_hour_in_utc() -> None:
    assert hour_prefix(datetime(2026, 1, 2, 13, 59, tzinfo=UTC)) == "records/dt=2026-01-02/hour=13/"
    assert record("r", "2026-01-02T23:59:59.999Z").hour == datetime(2026, 1, 2, 23, tzinfo=UTC)
    prefixes = hour_prefixes(
        datetime(2026, 1, 2, 22, 30, tzinfo=UTC), datetime(2026, 1, 3, 0, 10, tzinfo=UTC)
    )
    assert prefixes == [
        "records/dt=2026-01-02/hour=22/",
        "records/dt=2026-01-02/hour=23/",
        "records/dt=2026-01-03/hour=00/",
    ]


def test_the_key_depends_on_the_record_ids_only() -> None:
    hour = datetime(2026, 1, 2, 13, tzinfo=UTC)
    key = object_key(hour, ["b#0", "a#0"])
    assert key == object_key(hour, ["a#0", "b#0", "a#0"])  # order and repeats do not matter
    assert key.startswith("records/dt=2026-01-02/hour=13/") and key.endswith(".jsonl.gz")
    assert key != object_key(hour, ["a#0"])


def test_a_batch_spanning_an_hour_boundary_is_one_object_per_hour() -> None:
    records = [
        record("late", "2026-01-02T13:59:59.900Z"),
        record("early", "2026-01-02T14:00:00.100Z"),
        record("late", "2026-01-02T13:59:59.900Z"),  # delivered twice in one batch
    ]
    groups = group_by_hour(records)
    assert [[r.record_id for r in group] for group in groups.values()] == [["late#0"], ["early#0"]]


def test_bodies_are_deterministic_gzip_json_lines() -> None:
    records = [record("a", "2026-01-02T13:00:00.000Z"), record("b", "2026-01-02T13:00:01.000Z")]
    body = encode_jsonl_gz(records)
    assert body == encode_jsonl_gz(records)
    assert gzip.decompress(body).decode().count("\n") == 2
    assert [line["record_id"] for line in iter_jsonl_gz(body)] == ["a#0", "b#0"]
