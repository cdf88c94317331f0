"""The served line's record (inference.record_line): the answered body as it was answered, the
inputs only for the sampled share, the candidate only for the shadow's, and large requests split by
rows into lines below the limit that together hold every row once."""

from __future__ import annotations

import base64
import json

import numpy as np

from common.mirror.request_mirror import Sample
from recorder.lines import parse_line
from tests.unit.recorder.support import served_lines

ROWS = np.arange(12, dtype=np.float32).reshape(4, 3) / 7


def test_an_unsampled_request_s_line_carries_its_outputs_and_no_inputs() -> None:
    (line,) = served_lines("req-1", ROWS)
    document = json.loads(line)
    assert document["message"] == "prediction served" and document["correlation_id"] == "req-1"
    assert document["output"] == {
        "predictions": [1, 1, 1, 1],
        "probabilities": [[0.25, 0.75]] * 4,
        "model_version": "m-live",
    }
    assert "inputs" not in document and "shadow_candidate" not in document and "part" not in document


def test_a_sampled_request_carries_its_float32_inputs_and_the_shadow_s_candidate() -> None:
    (line,) = served_lines("req-2", ROWS, sample=Sample(inputs=True, candidate_model_version="m-cand"))
    document = json.loads(line)
    inputs = document["inputs"]
    assert (inputs["dtype"], inputs["shape"]) == ("float32", [4, 3])
    assert np.frombuffer(base64.b64decode(inputs["data"]), "<f4").tobytes() == ROWS.tobytes()
    assert document["shadow_candidate"] == "m-cand"
    (logged_only,) = served_lines("req-3", ROWS, sample=Sample(inputs=True, candidate_model_version=None))
    assert "inputs" in json.loads(logged_only) and "shadow_candidate" not in json.loads(logged_only)


def test_a_large_request_is_split_into_lines_below_the_limit_holding_every_row_once() -> None:
    rows = np.random.default_rng(3).normal(size=(300, 30)).astype(np.float32)
    sample = Sample(inputs=True, candidate_model_version="m-cand")
    lines = served_lines("big", rows, sample=sample, max_line_bytes=20_000)
    assert len(lines) > 1 and all(len(line.encode()) <= 20_000 for line in lines)
    parts = [parse_line(line) for line in lines]
    assert [p.part for p in parts] == list(range(len(lines))) and {p.parts for p in parts} == {len(lines)}
    assert [p.row_offset for p in parts] == [0, *np.cumsum([p.rows for p in parts])[:-1].tolist()]
    assert sum(p.rows for p in parts) == 300
    joined = np.concatenate([p.inputs for p in parts if p.inputs is not None])
    assert joined.tobytes() == rows.tobytes()
    assert {p.request_id for p in parts} == {"big"} and {p.shadow_candidate for p in parts} == {"m-cand"}


def test_one_row_over_the_limit_is_still_written_whole() -> None:
    rows = np.ones((2, 5000), dtype=np.float32)
    lines = served_lines(
        "wide", rows, sample=Sample(inputs=True, candidate_model_version=None), max_line_bytes=1000
    )
    assert len(lines) == 2 and [parse_line(line).rows for line in lines] == [1, 1]
