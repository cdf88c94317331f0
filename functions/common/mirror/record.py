"""Shadow records and where they live in the log bucket.

A record is one mirrored message plus what the candidate model answered for the same rows. Records
are JSON Lines, gzip-compressed, one object per batch (per hour of request time within a batch):

    records/dt=YYYY-MM-DD/hour=HH/<sha256 of the batch's sorted record ids, 32 hex>.jsonl.gz

The partition is the *request's* hour, not the processing time, and the name is derived from the
messages only: a batch delivered again (SQS is at-least-once) writes the same key with the same
rows and overwrites itself. SQS may regroup redelivered messages into different batches, so readers
(`modelctl shadow report`) also drop repeated record ids.

A *live-only* record (a request sampled for the prediction log with no shadow drawn for it; its
message names no candidate) has `"shadow": null` and lives under `predictions/` instead of
`records/`, so the shadow report reads shadow records only while the prediction log
(`common.observe.prediction_log`) reads both prefixes (docs/monitoring.md).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.layout import OBJECT_SUFFIX, PREDICTIONS_PREFIX, RECORDS_PREFIX, hour_prefix
from common.mirror.message import MirrorMessage, ModelResult, float32_rows_text, parse_timestamp

RECORD_SCHEMA_VERSION = 1


ShadowResult = ModelResult


@dataclass(frozen=True)
class ShadowRecord:
    message: MirrorMessage
    shadow: ShadowResult | None
    """None for a live-only record (the prediction log)."""
    message_id: str
    processed_at: str

    @property
    def record_id(self) -> str:
        return self.message.record_id

    @property
    def prefix(self) -> str:
        return RECORDS_PREFIX if self.shadow is not None else PREDICTIONS_PREFIX

    @property
    def hour(self) -> datetime:
        moment = parse_timestamp(self.message.timestamp)
        return moment.replace(minute=0, second=0, microsecond=0)

    def _head(self) -> dict[str, Any]:
        message = self.message
        return {
            "schema_version": RECORD_SCHEMA_VERSION,
            "record_id": message.record_id,
            "request_id": message.request_id,
            "part": message.part,
            "parts": message.parts,
            "row_offset": message.row_offset,
            "timestamp": message.timestamp,
        }

    def _tail(self) -> dict[str, Any]:
        return {
            "live": self.message.live.to_dict(),
            "shadow": self.shadow.to_dict() if self.shadow is not None else None,
            "message_id": self.message_id,
            "processed_at": self.processed_at,
        }

    def to_dict(self) -> dict[str, Any]:
        """What a reader of the line gets (inputs as the float32 values, as Python floats)."""
        return {**self._head(), "inputs": self.message.inputs.tolist(), **self._tail()}

    def to_json_line(self) -> str:
        """One JSON line; the inputs in numpy's shortest float32 text (they read back exactly)."""
        head = json.dumps(self._head(), separators=(",", ":"), allow_nan=False)
        tail = json.dumps(self._tail(), separators=(",", ":"), allow_nan=False)
        return f'{head[:-1]},"inputs":{float32_rows_text(self.message.inputs)},{tail[1:]}'


# -- keys ------------------------------------------------------------------------------------------


def object_key(hour: datetime, record_ids: Iterable[str], prefix: str = RECORDS_PREFIX) -> str:
    """The object of a batch's records of one hour: named by its record ids, so a redelivered batch
    overwrites the same object instead of adding a copy."""
    digest = hashlib.sha256("\n".join(sorted(set(record_ids))).encode()).hexdigest()[:32]
    return f"{hour_prefix(hour, prefix)}{digest}{OBJECT_SUFFIX}"


def group_by_hour(records: Iterable[ShadowRecord]) -> dict[datetime, list[ShadowRecord]]:
    """Records per request hour, each group sorted by record id, repeated ids dropped."""
    groups: dict[datetime, dict[str, ShadowRecord]] = {}
    for record in records:
        groups.setdefault(record.hour, {}).setdefault(record.record_id, record)
    return {hour: [group[i] for i in sorted(group)] for hour, group in sorted(groups.items())}


def group_by_object(records: Iterable[ShadowRecord]) -> dict[str, list[ShadowRecord]]:
    """Records per object key (prefix and request hour), each group sorted by record id, repeated ids
    dropped: shadow records go under `records/`, live-only ones under `predictions/`."""
    places: dict[str, list[ShadowRecord]] = {}
    for record in records:
        places.setdefault(record.prefix, []).append(record)
    return {
        object_key(hour, (record.record_id for record in group), prefix): group
        for prefix, same_prefix in sorted(places.items())
        for hour, group in group_by_hour(same_prefix).items()
    }


# -- bodies ----------------------------------------------------------------------------------------


def encode_jsonl_gz(records: Sequence[ShadowRecord]) -> bytes:
    """Gzip of the JSON lines; mtime 0 so identical records give identical bytes."""
    text = "".join(record.to_json_line() + "\n" for record in records).encode()
    return gzip.compress(text, compresslevel=6, mtime=0)


def iter_jsonl_gz(data: bytes) -> Iterator[dict[str, Any]]:
    """Decode an object's records one line at a time (decompression streams with the iteration)."""
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)
