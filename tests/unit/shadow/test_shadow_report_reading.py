"""Reading record objects for the shadow report: the bytes fast path gives exactly the records and
bad-line counts of parsing the object's text line by line, and the report pauses the cyclic GC."""

from __future__ import annotations

import gc
import gzip
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from modelctl.reports.shadow.gc_pause import cyclic_gc_paused
from modelctl.reports.shadow.records import RecordReader, parse_object
from modelctl.reports.shadow.window import Window

GOOD = {"record_id": "r#0", "timestamp": "2026-01-02T13:00:00.000Z", "live": {"predictions": [1]}}


def text_reference(data: bytes) -> tuple[list[Any], int] | None:
    """What the report read before: decode the whole text, `str.splitlines`, then per line orjson
    with `json` for what orjson refuses."""
    try:
        text = gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError):
        return None
    records, bad = [], 0
    for line in text.splitlines():
        if not line:
            continue
        try:
            value = orjson.loads(line)
        except ValueError:
            try:
                value = json.loads(line)
            except ValueError:
                bad += 1
                continue
        if isinstance(value, dict):
            records.append(value)
        else:
            bad += 1
    return records, bad


LINE = json.dumps(GOOD).encode()
BODIES = {
    "written by the shadow function": LINE + b"\n" + LINE.replace(b"r#0", b"r#1") + b"\n",
    "blank lines and CRLF": b"\n" + LINE + b"\r\n\r\n" + LINE + b"\r" + LINE,
    "not an object, not JSON": b"[1, 2]\n42\n{broken\n" + LINE + b"\n",
    "NaN (json only) and a huge integer": b'{"x": NaN}\n{"n": 123456789012345678901234567890}\n',
    "a vertical tab between two objects": LINE + b"\x0b" + LINE + b"\n",
    "a form feed and group separators": LINE + b"\x0c" + LINE + b"\x1c" + LINE + b"\x1d\x1e" + LINE,
    "raw non-ASCII in a string": '{"label": "café"}\n'.encode(),
    "a raw line separator inside a string": '{"label": "a\u2028b"}\n'.encode() + LINE,
    "a NUL byte before an object": b"\x00" + LINE + b"\n" + LINE,
    "a lone surrogate escape": b'{"s": "\\ud800"}\n',
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_parse_object_reads_what_the_text_reader_read(name: str) -> None:
    data = gzip.compress(BODIES[name], mtime=0)
    expected = text_reference(data)
    assert expected is not None
    parsed = parse_object(data)
    assert (parsed.records, parsed.unreadable_lines, parsed.unreadable_object) == (*expected, False)
    assert parsed.compressed_bytes == len(data)


@pytest.mark.parametrize(
    "data",
    [gzip.compress(b"\xff\xfe not UTF-8\n", mtime=0), gzip.compress(LINE * 50, mtime=0)[:40], b"not gzip"],
    ids=["invalid UTF-8", "truncated", "not gzip"],
)
def test_an_unreadable_object_is_counted_as_one(data: bytes) -> None:
    parsed = parse_object(data)
    assert (parsed.records, parsed.unreadable_lines, parsed.unreadable_object) == ([], 0, True)


def test_cyclic_gc_is_paused_inside_and_restored_after() -> None:
    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block did not turn it back on
    assert gc.isenabled()
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        raise RuntimeError("a failed read")
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_reader_hands_out_every_object_s_records_in_key_order_and_counts_what_it_cannot_read() -> None:
    window = Window(datetime(2026, 1, 2, 13, tzinfo=UTC), datetime(2026, 1, 2, 14, tzinfo=UTC))
    prefix = "records/dt=2026-01-02/hour=13/"
    lines = [json.dumps({**GOOD, "record_id": f"r#{i}"}).encode() for i in range(12)]
    bodies = {
        f"{prefix}a.jsonl.gz": gzip.compress(b"\n".join(lines[:5]), mtime=0),
        f"{prefix}b.jsonl.gz": gzip.compress(b"\n".join(lines[5:]) + b"\n{broken\n[1]", mtime=0),
        f"{prefix}c.jsonl.gz": gzip.compress(LINE * 40, mtime=0)[:30],  # truncated
        f"{prefix}d.jsonl.gz": gzip.compress(b"\xff\xfe", mtime=0),  # not UTF-8
        f"{prefix}notes.txt": b"not a record object",
    }
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="shadow-logs")
        for key, body in bodies.items():
            s3.put_object(Bucket="shadow-logs", Key=key, Body=body)
        reader = RecordReader(s3, "shadow-logs", max_workers=1)  # read-ahead of 2 objects
        records = list(reader.records(window))
    assert [record["record_id"] for record in records] == [f"r#{i}" for i in range(12)]
    stats = reader.stats
    assert (stats.objects, stats.unreadable_objects, stats.unreadable_lines) == (4, 2, 2)
    assert stats.compressed_bytes == sum(len(body) for key, body in bodies.items() if key.endswith(".gz"))
