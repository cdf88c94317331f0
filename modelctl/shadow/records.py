"""Reading shadow records for a window: list the hour partitions, fetch objects in parallel, and hand
the records to the caller one at a time (each object's bytes are dropped once its lines are read)."""

from __future__ import annotations

import gzip
import json
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from common.shadow_record import OBJECT_SUFFIX, hour_prefixes
from modelctl.shadow.errors import aws_call
from modelctl.shadow.window import Window


@dataclass
class ReadStats:
    objects: int = 0
    compressed_bytes: int = 0
    unreadable_objects: int = 0
    unreadable_lines: int = 0


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

    def records(
        self, window: Window, *, progress: Callable[[int, int], None] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record in the window's hour partitions (the caller filters by timestamp). At most
        2 x max_workers objects are fetched ahead of the one being read."""
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="shadow-report") as pool:
            keys = self.keys(window, pool)
            pending: deque[Future[bytes]] = deque()
            ahead = 2 * self.max_workers
            next_key = 0
            done = 0
            while next_key < len(keys) or pending:
                while next_key < len(keys) and len(pending) < ahead:
                    pending.append(pool.submit(self._fetch, keys[next_key]))
                    next_key += 1
                data = pending.popleft().result()
                self.stats.objects += 1
                self.stats.compressed_bytes += len(data)
                yield from self._lines(data)
                done += 1
                if progress is not None:
                    progress(done, len(keys))

    def _lines(self, data: bytes) -> Iterator[dict[str, Any]]:
        """One object's records. An object is one batch (about 100 KB of text at the default batch size):
        decompressed at once, parsed line by line; a bad line or a truncated object is counted."""
        try:
            text = gzip.decompress(data).decode("utf-8")
        except (OSError, EOFError, UnicodeDecodeError):
            self.stats.unreadable_objects += 1
            return
        for line in text.splitlines():
            if not line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                self.stats.unreadable_lines += 1
                continue
            if isinstance(record, dict):
                yield record
            else:
                self.stats.unreadable_lines += 1
