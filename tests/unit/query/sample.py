"""A sample of the log bucket for the engine comparison: prediction-log rows (contract of the
recorder: one object per answered row), feedback (as functions/feedback writes it) and shadow
records (common.mirror.record's shape), written to moto's S3 and to a local folder alike."""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common.layout import FEEDBACK_PREFIX, PREDICTION_LOG_PREFIX, RECORDS_PREFIX, hour_prefix
from common.observe.feedback import format_time
from common.observe.prediction_log import PredictionRow, parse_timestamp

PREDICTION_LOG = PREDICTION_LOG_PREFIX
SINCE = datetime(2026, 12, 5, 10, 17, 30, 250000, tzinfo=UTC)
UNTIL = datetime(2026, 12, 7, 9, 43, tzinfo=UTC)
FEEDBACK_UNTIL = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
LABELS = [0, 1, 2]


@dataclass
class Sample:
    objects: dict[str, list[str]] = field(default_factory=dict)
    """key -> JSON lines (one object per key)."""

    def add(self, key: str, lines: list[str]) -> None:
        self.objects.setdefault(key, []).extend(lines)

    def write(self, s3: Any, bucket: str, root: Path) -> None:
        for key, lines in self.objects.items():
            body = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)


def _moment(rng: random.Random) -> datetime:
    span = (UNTIL - SINCE) + timedelta(hours=4)
    offset = timedelta(milliseconds=rng.randrange(int(span / timedelta(milliseconds=1))))
    return (SINCE - timedelta(hours=2) + offset).replace(microsecond=(offset.microseconds // 1000) * 1000)


def prediction_log(rng: random.Random, sample: Sample, *, regression: bool, requests: int = 300) -> None:
    for number in range(requests):
        at = _moment(rng)
        request_id = f"req-{'r' if regression else 'c'}-{number:05d}"
        version = rng.choice(["3", "4", "12"])
        lines = []
        for row in range(rng.choice([1, 1, 2, 3])):
            if regression:
                prediction: Any = round(rng.gauss(100, 20), 3)
                probabilities = None
            else:
                prediction = rng.choice(LABELS)
                p = [rng.random() for _ in LABELS]
                probabilities = [v / sum(p) for v in p]
            features = [rng.uniform(-2, 2) for _ in range(4)] if rng.random() < 0.5 else None
            lines.append(
                json.dumps(
                    {
                        "request_id": request_id,
                        "row": row,
                        "requested_at": format_time(at),
                        "model_version": f"m{version}",
                        "function_version": version,
                        "task": "regression" if regression else "classification",
                        "prediction": prediction,
                        "probabilities": probabilities,
                        "features": features,
                        "shadow_candidate": None,
                    }
                )
            )
            if rng.random() < 0.7:
                _feedback(rng, sample, request_id, row, at, prediction, regression)
        sample.add(f"{hour_prefix(at, PREDICTION_LOG)}batch-{number % 3}.jsonl.gz", lines)
    sample.add(f"{hour_prefix(SINCE + timedelta(hours=5), PREDICTION_LOG)}broken.jsonl.gz", ["{not json"])
    for number in range(20):  # feedback naming no logged request
        _feedback(rng, sample, f"unknown-{number}", 0, SINCE, 1, regression)


def _feedback(
    rng: random.Random,
    sample: Sample,
    request_id: str,
    row: int,
    at: datetime,
    predicted: Any,
    regression: bool,
) -> None:
    for _ in range(2 if rng.random() < 0.15 else 1):  # a correction (or a repeat) later
        received = at + timedelta(minutes=rng.randrange(1, 36 * 60))
        if regression:
            label: Any = predicted + rng.gauss(0, 5) if rng.random() < 0.8 else rng.randrange(50, 150)
        else:
            label = predicted if rng.random() < 0.7 else rng.choice(LABELS)
        line = {
            "schema_version": 1,
            "request_id": request_id,
            "row": row,
            "label": label,
            "received_at": format_time(received),
        }
        sample.add(f"{hour_prefix(received, FEEDBACK_PREFIX)}{rng.randrange(3)}.jsonl.gz", [json.dumps(line)])


def shadow_records(rng: random.Random, sample: Sample, records: int = 400) -> None:
    batch: dict[str, list[str]] = {}
    for number in range(records):
        at = _moment(rng)
        rows = rng.choice([1, 2, 4])
        parts = 2 if rows == 4 else 1
        for part in range(parts):
            count = rows // parts

            def answer(
                model: str, function: str | None, count: int = count, classes: int = 2 if number % 3 else 3
            ) -> dict[str, Any]:
                probabilities = []
                for _ in range(count):
                    p = [rng.random() for _ in range(classes)]
                    probabilities.append([v / sum(p) for v in p])
                return {
                    "predictions": [max(range(len(p)), key=p.__getitem__) for p in probabilities],
                    "probabilities": probabilities,
                    "inference_ms": round(rng.uniform(0.1, 5), 4),
                    "model_version": model,
                    "function_version": function,
                }

            line = json.dumps(
                {
                    "schema_version": 1,
                    "record_id": f"rec-{number}#{part}",
                    "request_id": f"rec-{number}",
                    "part": part,
                    "parts": parts,
                    "row_offset": part * count,
                    "timestamp": format_time(at),
                    "inputs": [[rng.random()] * 3 for _ in range(count)],
                    "live": answer("m3", rng.choice(["3", "4"])),
                    "shadow": answer("m9", None),
                    "message_id": f"msg-{number}",
                    "processed_at": format_time(at),
                }
            )
            key = f"{hour_prefix(at, RECORDS_PREFIX)}b{number % 5}.jsonl.gz"
            batch.setdefault(key, []).append(line)
            if number % 37 == 0:  # delivered twice, regrouped into another object
                batch.setdefault(f"{hour_prefix(at, RECORDS_PREFIX)}again.jsonl.gz", []).append(line)
    for key, lines in batch.items():
        sample.add(key, lines)


def parse_rows(sample: Sample) -> list[PredictionRow]:
    """The prediction-log rows as the in-process reader hands them out (contract 3 -> PredictionRow),
    in key order, the window applied, malformed lines skipped."""
    rows = []
    for key in sorted(sample.objects):
        if not key.startswith(PREDICTION_LOG):
            continue
        for line in sample.objects[key]:
            try:
                document = json.loads(line)
            except ValueError:
                continue
            at = parse_timestamp(document["requested_at"])
            assert at is not None
            if not SINCE <= at < UNTIL:
                continue
            rows.append(
                PredictionRow(
                    request_id=document["request_id"],
                    row=document["row"],
                    requested_at=at,
                    model_version=document["model_version"],
                    function_version=document["function_version"],
                    features=document["features"] or [],
                    predicted=document["prediction"],
                )
            )
    return rows
