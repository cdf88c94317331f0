"""A served request's outcome record, carried by its "prediction served" log line.

The line every answered /predict request writes (inference.log_lines) gets, after its usual members:

    "output": <the response body as answered: {"predictions": [...], "probabilities": [[...]] (a
               classifier's), "model_version": "..."}>
    "inputs": {"dtype": "float32", "shape": [rows, features], "data": "<base64 little-endian>"}
              (only for the sampled share: common.mirror.request_mirror)
    "shadow_candidate": "m-..." (only when the shadow's sample drew the request)

The body is the text already rendered for the response, so a record costs the line one copy of it;
the inputs go as raw float32 bytes in base64 (cheap here; the recorder renders them as numbers).
A line longer than `MAX_LINE_BYTES` is split by rows into several lines, each a whole record of its
rows with `"part"`, `"parts"` and `"row_offset"` (a line without them is part 0 of 1): CloudWatch
Logs takes events up to 256 KB (1 MB since 2025) and Lambda cuts longer stdout lines, which would
lose the record. The recorder function (functions/recorder) turns each line into S3 rows.
"""

from __future__ import annotations

from collections.abc import Callable
from json.encoder import encode_basestring_ascii as quote
from typing import Any

import numpy as np

from common.mirror.message import matrix_json
from common.mirror.request_mirror import NOT_SAMPLED, SAMPLED, Sample

__all__ = ["MAX_LINE_BYTES", "NOT_SAMPLED", "SAMPLED", "record_lines", "record_members"]

MAX_LINE_BYTES = 200_000
"""Below CloudWatch Logs' classic 256 KB event limit with room for what Lambda adds around a line."""

Render = Callable[[str], str]
"""The served line with a record: record members (`,"output":...`) -> the line's text."""


def record_members(body: str, inputs: np.ndarray | None, sample: Sample) -> str:
    """The record's members for the served line, each with its leading comma."""
    members = f',"output":{body}'
    if sample.inputs and inputs is not None:
        members += f',"inputs":{matrix_json(inputs)}'
    if sample.candidate_model_version is not None:
        members += f',"shadow_candidate":{quote(sample.candidate_model_version)}'
    return members


def record_lines(
    render: Render,
    *,
    body: str,
    outputs: Callable[[], dict[str, Any]],
    inputs: np.ndarray | None,
    sample: Sample,
    dumps: Callable[[Any], str],
    max_line_bytes: int = MAX_LINE_BYTES,
) -> str:
    """The served line(s) of a request: one line when it fits in `max_line_bytes`, else one per part
    of the rows (halved until each part fits, or holds one row), each part's body cut from the
    answer in Python lists (`outputs`, called only then)."""
    line = render(record_members(body, inputs, sample))
    if len(line) <= max_line_bytes:
        return line
    answer = outputs()
    rows = len(answer["predictions"])

    def size(begin: int, end: int) -> int:
        return len(_part(render, answer, inputs, sample, dumps, begin, end))

    ranges = _ranges(0, rows, size, max_line_bytes)
    parts = len(ranges)
    return "".join(
        _part(render, answer, inputs, sample, dumps, begin, end, part=index, parts=parts)
        for index, (begin, end) in enumerate(ranges)
    )


def _ranges(begin: int, end: int, size: Callable[[int, int], int], limit: int) -> list[tuple[int, int]]:
    if end - begin <= 1 or size(begin, end) <= limit:
        return [(begin, end)]
    middle = (begin + end) // 2
    return _ranges(begin, middle, size, limit) + _ranges(middle, end, size, limit)


def _part(
    render: Render,
    outputs: dict[str, Any],
    inputs: np.ndarray | None,
    sample: Sample,
    dumps: Callable[[Any], str],
    begin: int,
    end: int,
    *,
    part: int = 0,
    parts: int = 2,
) -> str:
    piece = {key: value[begin:end] if isinstance(value, list) else value for key, value in outputs.items()}
    members = record_members(dumps(piece), None if inputs is None else inputs[begin:end], sample)
    return render(f',"part":{part},"parts":{parts},"row_offset":{begin}{members}')
