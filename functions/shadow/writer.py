"""Writing a batch's records to the log bucket: gzip JSON Lines, one object per batch, hour and prefix
(`records/` for shadow records, `predictions/` for live-only ones)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from common.mirror.record import ShadowRecord, encode_jsonl_gz, group_by_object


class S3Writer(Protocol):
    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> Any: ...


class RecordWriter:
    def __init__(self, s3: S3Writer, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def write(self, records: Sequence[ShadowRecord]) -> list[str]:
        """Put the records; return the keys written. The keys depend on the records only, so writing
        the same batch again overwrites the same objects."""
        keys = []
        for key, group in group_by_object(records).items():
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=encode_jsonl_gz(group),
                # A gzip file, not a gzip-encoded text: readers (and Athena, by the .gz suffix) unzip it.
                ContentType="application/gzip",
            )
            keys.append(key)
        return keys
