"""Reading shadow records for a window: list the hour partitions, then fetch, decompress and parse
objects in reader threads (zlib releases the GIL while it inflates; parsing overlaps the caller's
aggregation), and hand the records to the caller one at a time, in key order. Lines are parsed with
orjson when it is installed (3-4x faster than `json` on these records), with `json` as the
fallback for what orjson refuses, so the records and the counts of bad lines are the same."""

from __future__ import annotations

import gzip
import json
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from common.shadow_record import OBJECT_SUFFIX, hour_prefixes
from modelctl.shadow.errors import aws_call
from modelctl.shadow.window import Window

_fast_loads: Callable[[str], Any]
try:  # optional: a faster parser; `_loads` falls back to json, the results are the same
    from orjson import loads as _orjson_loads

    _fast_loads = _orjson_loads
except ImportError:  # pragma: no cover - depends on the environment
    _fast_loads = json.loads


@dataclass
class ReadStats:
    objects: int = 0
    compressed_bytes: int = 0
    unreadable_objects: int = 0
    unreadable_lines: int = 0


@dataclass
class ParsedObject:
    """One object's records and what could not be read, made by a reader thread."""

    compressed_bytes: int
    records: list[dict[str, Any]]
    unreadable_object: bool = False
    unreadable_lines: int = 0


def _loads(line: str) -> Any:
    """orjson where it reads the line (it accepts a subset of what `json` does, with the same
    result), the standard library for the rest (NaN, integers beyond 64 bits, lone surrogates)."""
    try:
        return _fast_loads(line)
    except ValueError:  # orjson.JSONDecodeError is a ValueError
        return json.loads(line)


def parse_object(data: bytes) -> ParsedObject:
    """One object's records. An object is one batch (about 100 KB of text at the default batch
    size): decompressed at once, parsed line by line; a bad line or a truncated object is counted."""
    try:
        text = gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        return ParsedObject(len(data), [], unreadable_object=True)
    result = ParsedObject(len(data), [])
    append = result.records.append
    for line in text.splitlines():
        if not line:
            continue
        try:
            record = _loads(line)
        except ValueError:
            result.unreadable_lines += 1
            continue
        if isinstance(record, dict):
            append(record)
        else:
            result.unreadable_lines += 1
    return result


class RecordReader:
    def __init__(self, s3: Any, bucket: str, *, max_workers: int = 16) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.max_workers = max_workers
        self.stats = ReadStats()

    def keys(self, window: Window, pool: ThreadPoolExecutor) -> list[str]:
        prefixes = hour_prefixes(window.since, window.until)
        return [key for keys in pool.map(self._list, prefixes) for key in keys]

    def _list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        with aws_call(f"listing s3://{self.bucket}/{prefix}"):
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(OBJECT_SUFFIX))
        return keys

    def _fetch(self, key: str) -> bytes:
        with aws_call(f"reading s3://{self.bucket}/{key}"):
            data: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return data

    def _fetch_and_parse(self, key: str) -> ParsedObject:
        return parse_object(self._fetch(key))

    def records(
        self, window: Window, *, progress: Callable[[int, int], None] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record in the window's hour partitions (the caller filters by timestamp). At most
        2 x max_workers objects are fetched and parsed ahead of the one being handed out."""
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="shadow-report") as pool:
            keys = self.keys(window, pool)
            pending: deque[Future[ParsedObject]] = deque()
            ahead = 2 * self.max_workers
            next_key = 0
            done = 0
            while next_key < len(keys) or pending:
                while next_key < len(keys) and len(pending) < ahead:
                    pending.append(pool.submit(self._fetch_and_parse, keys[next_key]))
                    next_key += 1
                parsed = pending.popleft().result()
                self.stats.objects += 1
                self.stats.compressed_bytes += parsed.compressed_bytes
                self.stats.unreadable_objects += parsed.unreadable_object
                self.stats.unreadable_lines += parsed.unreadable_lines
                yield from parsed.records
                done += 1
                if progress is not None:
                    progress(done, len(keys))
