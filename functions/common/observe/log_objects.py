"""Reading gzip JSON Lines objects from hour partitions of the log bucket: list the prefixes, fetch
objects with a few threads (a bounded number ahead of the one being read), and hand out one line at a
time. Unreadable objects and lines are counted, never fatal: a report or a monitor run reads what it
can and says what it skipped."""

from __future__ import annotations

import gzip
import json
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from common.layout import OBJECT_SUFFIX


@dataclass
class ReadStats:
    objects: int = 0
    compressed_bytes: int = 0
    unreadable_objects: int = 0
    unreadable_lines: int = 0

    def add(self, other: ReadStats) -> None:
        self.objects += other.objects
        self.compressed_bytes += other.compressed_bytes
        self.unreadable_objects += other.unreadable_objects
        self.unreadable_lines += other.unreadable_lines


def list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(OBJECT_SUFFIX))
    return keys


def _lines(data: bytes, stats: ReadStats) -> Iterator[dict[str, Any]]:
    try:
        text = gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError):
        stats.unreadable_objects += 1
        return
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except ValueError:
            stats.unreadable_lines += 1
            continue
        if isinstance(document, dict):
            yield document
        else:
            stats.unreadable_lines += 1


def iter_documents(
    s3: Any, bucket: str, prefixes: Iterable[str], *, stats: ReadStats | None = None, max_workers: int = 8
) -> Iterator[dict[str, Any]]:
    """Every JSON object line of every `.jsonl.gz` object under `prefixes`, object by object."""
    stats = stats if stats is not None else ReadStats()

    def fetch(key: str) -> bytes:
        data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return data

    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="log-objects") as pool:
        keys = [key for keys in pool.map(lambda p: list_keys(s3, bucket, p), list(prefixes)) for key in keys]
        pending: deque[Future[bytes]] = deque()
        ahead = 2 * max_workers
        next_key = 0
        while next_key < len(keys) or pending:
            while next_key < len(keys) and len(pending) < ahead:
                pending.append(pool.submit(fetch, keys[next_key]))
                next_key += 1
            data = pending.popleft().result()
            stats.objects += 1
            stats.compressed_bytes += len(data)
            yield from _lines(data, stats)
