"""The prediction log's S3 rows: one JSON object per answered row, gzip JSON Lines, one object per
delivered batch and request hour:

    prediction-log/dt=YYYY-MM-DD/hour=HH/<sha256 of the batch's sorted record ids, 32 hex>.jsonl.gz

    {"request_id": "...", "row": 0, "requested_at": "2026-12-07T16:20:01.123Z",
     "model_version": "m-...", "function_version": "3", "task": "classification",
     "prediction": 1, "probabilities": [0.1, 0.9], "features": [1.5, ...] | null,
     "shadow_candidate": "m-..." | null}

The hour is the request's (UTC), and the name depends on the lines only: a batch delivered again
(CloudWatch Logs and Lambda's asynchronous retries are at-least-once) overwrites its own object.
`features` are the float32 values the model saw, in numpy's shortest float32 text (they read back
exactly), for the sampled share only.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import numpy as np

from common.layout import OBJECT_SUFFIX, PREDICTION_LOG_PREFIX, hour_prefix
from recorder.lines import LoggedPart


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def row_lines(part: LoggedPart) -> list[str]:
    """The JSON lines of one part's rows, in row order."""
    features: list[str] = ["null"] * part.rows
    if part.inputs is not None:
        features = ["[" + ",".join(row) + "]" for row in np.asarray(part.inputs, np.float32).astype(str)]
    probabilities = part.probabilities
    candidate = _dumps(part.shadow_candidate)
    lines = []
    for index, prediction in enumerate(part.predictions):
        head = _dumps(
            {
                "request_id": part.request_id,
                "row": part.row_offset + index,
                "requested_at": part.requested_at,
                "model_version": part.model_version,
                "function_version": part.function_version,
                "task": part.task,
                "prediction": prediction,
                "probabilities": None if probabilities is None else probabilities[index],
            }
        )
        lines.append(f'{head[:-1]},"features":{features[index]},"shadow_candidate":{candidate}}}')
    return lines


def request_hour(part: LoggedPart) -> datetime:
    moment = datetime.fromisoformat(part.requested_at[:-1] + "+00:00").astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def object_key(hour: datetime, record_ids: Iterable[str]) -> str:
    """The object of a batch's rows of one request hour, named by the batch's record ids."""
    digest = hashlib.sha256("\n".join(sorted(set(record_ids))).encode()).hexdigest()[:32]
    return f"{hour_prefix(hour, PREDICTION_LOG_PREFIX)}{digest}{OBJECT_SUFFIX}"


def objects(parts: Sequence[LoggedPart]) -> dict[str, bytes]:
    """key -> gzip body of the batch's rows, per request hour; a line delivered twice in one batch
    counts once. Bytes depend on the lines only (sorted by record id; gzip mtime 0)."""
    hours: dict[datetime, dict[str, LoggedPart]] = {}
    for part in parts:
        hours.setdefault(request_hour(part), {}).setdefault(part.record_id, part)
    result = {}
    for hour, by_id in sorted(hours.items()):
        ordered = [by_id[record_id] for record_id in sorted(by_id)]
        text = "".join(line + "\n" for part in ordered for line in row_lines(part))
        result[object_key(hour, by_id)] = gzip.compress(text.encode(), compresslevel=6, mtime=0)
    return result
