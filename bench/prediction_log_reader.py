"""The prediction log reader's throughput, side by side: `prediction_rows` of the checkout given as
the first argument over 100,000 rows held in memory (no S3 time), as the older part records
(`old`: one request of one row with 30 inputs per line) or as the recorder's row records (`new`:
inputs on one row in ten). Usage: python bench/prediction_log_reader.py <checkout> old|new"""

from __future__ import annotations

import gzip
import importlib
import io
import json
import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 12, 7, 10, tzinfo=UTC)
OBJECTS, PER_OBJECT, FEATURES = 100, 1000, 30


def stamp(index: int) -> str:
    return (T0 + timedelta(milliseconds=index)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class MemoryS3:
    """The two calls the reader makes, over objects in memory."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def get_paginator(self, name: str) -> Any:
        objects = self.objects

        class Pages:
            def paginate(self, Bucket: str, Prefix: str) -> Iterator[dict[str, Any]]:
                yield {"Contents": [{"Key": key} for key in sorted(objects) if key.startswith(Prefix)]}

        return Pages()

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.objects[Key])}


def old_line(index: int, rng: random.Random) -> dict[str, Any]:
    live = {"model_version": "m", "function_version": "3", "predictions": [1], "probabilities": [[0.5, 0.5]]}
    return {
        "record_id": f"r{index}#0",
        "request_id": f"r{index}",
        "part": 0,
        "row_offset": 0,
        "timestamp": stamp(index),
        "inputs": [[rng.random() for _ in range(FEATURES)]],
        "live": {**live, "inference_ms": 1.0},
        "shadow": None,
    }


def new_line(index: int, rng: random.Random) -> dict[str, Any]:
    return {
        "request_id": f"r{index}",
        "row": 0,
        "requested_at": stamp(index),
        "model_version": "m",
        "function_version": "3",
        "task": "classification",
        "prediction": 1,
        "probabilities": [0.5, 0.5],
        "features": [rng.random() for _ in range(FEATURES)] if index % 10 == 0 else None,
        "shadow_candidate": None,
    }


def objects(kind: str) -> dict[str, bytes]:
    rng = random.Random(1)
    prefix, line = ("predictions/", old_line) if kind == "old" else ("prediction-log/", new_line)
    result = {}
    for number in range(OBJECTS):
        lines = [json.dumps(line(number * PER_OBJECT + j, rng)) for j in range(PER_OBJECT)]
        key = f"{prefix}dt=2026-12-07/hour=10/{number:05d}.jsonl.gz"
        result[key] = gzip.compress("\n".join(lines).encode())
    return result


def main(root: str, kind: str) -> None:
    sys.path[:0] = [root, f"{root}/functions"]
    reader = importlib.import_module("common.observe.prediction_log")
    s3 = MemoryS3(objects(kind))
    times, rows = [], 0
    for _ in range(5):
        start = time.perf_counter()
        rows = sum(1 for _ in reader.prediction_rows(s3, "b", since=T0, until=T0 + timedelta(hours=1)))
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"{root} {kind}: {rows} rows, median {median:.3f} s of 5 runs, {rows / median:,.0f} rows/s")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
