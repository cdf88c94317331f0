"""Reading shadow records for a window: list the hour partitions, then fetch and decompress objects
in reader threads (zlib releases the GIL while it inflates), and parse each object's lines one at
a time as the caller takes its records, in key order (parsing holds the GIL, so doing it ahead in
the threads would only hold more parsed records in memory). Lines are parsed with orjson when it
is installed, with `json` as the fallback for what orjson refuses, so the records and the counts
of bad lines are the same. The report itself reads through `iter_report_records`: each line is
first decoded into the typed structs of `typed_records` (msgspec, only the fields the report
uses), and a line they do not fit takes the general path above.

The listing and the read counts are the shared log-object reader's (common/observe/log_objects.py); what
is here is the report's own fast path over the same gzip JSON Lines objects (docs/performance.md)."""

from __future__ import annotations

import gzip
import json
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from common.layout import hour_prefixes
from common.observe.log_objects import ReadStats, list_keys
from modelctl.reports.shadow.window import Window
from release.aws import aws_errors
from release.errors import ShadowError

if TYPE_CHECKING:
    from modelctl.reports.shadow.typed_records import TypedRecord

_decode_typed: Callable[[bytes], TypedRecord] | None
_TypedDecodeError: type[Exception]
try:  # optional, as orjson: without msgspec every line takes the general path (same report)
    from modelctl.reports.shadow.typed_records import TypedDecodeError as _TypedDecodeError
    from modelctl.reports.shadow.typed_records import decode_typed as _decode_typed
except ImportError:  # pragma: no cover - depends on the environment
    _decode_typed = None
    _TypedDecodeError = ValueError

_Item = TypeVar("_Item")

ReportRecord: TypeAlias = "tuple[TypedRecord | None, Any]"
"""What the report aggregates per line: the typed record and its line (bytes: parsed in full only
if one of its rows makes the most-disagreeing list), or, for a line the typed structs do not fit,
None and the general path's dict."""

_fast_loads: Callable[[str | bytes], Any]
try:  # optional: a faster parser; `_standard_loads` is the fallback, the results are the same
    from orjson import loads as _orjson_loads

    _fast_loads = _orjson_loads
except ImportError:  # pragma: no cover - depends on the environment
    _fast_loads = json.loads


@dataclass
class ParsedObject:
    """One object's records and what could not be read (`parse_object`)."""

    compressed_bytes: int
    records: list[dict[str, Any]]
    unreadable_object: bool = False
    unreadable_lines: int = 0


def _standard_loads(line: str | bytes) -> Any:
    """The fallback for what orjson refuses (NaN, Infinity, lone surrogates); orjson accepts a
    subset of what `json` does, with the same result. Bytes are decoded first, as the text reader
    did: `json.loads` would guess the encoding of bytes."""
    return json.loads(line.decode("utf-8") if isinstance(line, bytes) else line)


# Line breaks `str.splitlines` honours and `bytes.splitlines` does not (besides non-ASCII ones).
_TEXT_ONLY_BREAKS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")


def _lines(raw: bytes) -> list[bytes] | list[str]:
    """The object's lines as `str.splitlines` cuts its text. ASCII bytes without the rarer breaks
    (what the shadow function writes: its JSON escapes everything else) are cut and parsed as bytes,
    which spares decoding each object's text into str for the parser to encode it back."""
    if raw.isascii() and not any(brk in raw for brk in _TEXT_ONLY_BREAKS):
        return raw.splitlines()
    return raw.decode("utf-8").splitlines()  # UnicodeDecodeError: an unreadable object


@dataclass(frozen=True)
class InflatedObject:
    """One object's decompressed text (None when it is not gzip or is truncated)."""

    compressed_bytes: int
    text: bytes | None


def inflate_object(data: bytes) -> InflatedObject:
    """The reader threads' part: zlib releases the GIL while it inflates, so this overlaps."""
    try:
        return InflatedObject(len(data), gzip.decompress(data))
    except (OSError, EOFError, zlib.error):
        return InflatedObject(len(data), None)


def parse_object(data: bytes) -> ParsedObject:
    """One object's records. An object is one batch of the shadow function's: decompressed at once,
    parsed line by line; a bad line or a truncated object is counted."""
    tally = ReadStats()
    records = list(iter_records(inflate_object(data), tally))
    return ParsedObject(len(data), records, bool(tally.unreadable_objects), tally.unreadable_lines)


def iter_records(inflated: InflatedObject, tally: ReadStats) -> Iterator[dict[str, Any]]:
    """An inflated object's records, each line parsed when the caller asks for the next record, so
    the record is still in the CPU cache when it is aggregated (cheaper than parsing an object into a
    list first). The object, its bytes and whatever cannot be read are counted in `tally`."""
    yield from _general_records(_object_lines(inflated, tally) or [], tally)


def iter_report_records(inflated: InflatedObject, tally: ReadStats) -> Iterator[ReportRecord]:
    """`iter_records` for the report: the same lines, records and counts, but each line the typed
    structs fit is handed out as its `TypedRecord` (and the line) instead of a dict."""
    lines = _object_lines(inflated, tally)
    decode = _decode_typed
    if not lines or decode is None or isinstance(lines[0], str):  # text: non-ASCII, not the writer's
        for general in _general_records(lines or [], tally):
            yield None, general
        return
    typed_error = _TypedDecodeError
    for line in lines:
        if not line:
            continue
        try:
            typed = decode(line)
        except typed_error:
            record = _load_record(line, tally)
            if record is not None:
                yield None, record
            continue
        yield typed, line


def _general_records(lines: list[bytes] | list[str], tally: ReadStats) -> Iterator[dict[str, Any]]:
    """The general path: each line parsed into a dict (`load_line`), what is not an object counted."""
    for line in lines:
        if line:
            record = _load_record(line, tally)
            if record is not None:
                yield record


def _object_lines(inflated: InflatedObject, tally: ReadStats) -> list[bytes] | list[str] | None:
    """The object's lines (None when it cannot be read); the object, its bytes and whether it could
    be read are counted in `tally`."""
    tally.objects += 1
    tally.compressed_bytes += inflated.compressed_bytes
    if inflated.text is None:
        tally.unreadable_objects += 1
        return None
    try:
        return _lines(inflated.text)
    except UnicodeDecodeError:
        tally.unreadable_objects += 1
        return None


def load_line(line: str | bytes) -> Any:
    """One line as the general path parses it: orjson, then `json` for what orjson refuses
    (ValueError when neither can)."""
    try:
        return _fast_loads(line)
    except ValueError:  # orjson.JSONDecodeError is a ValueError
        return _standard_loads(line)


def _load_record(line: str | bytes, tally: ReadStats) -> dict[str, Any] | None:
    """A line's record, or None (counted as an unreadable line) when it is not a JSON object."""
    try:
        record = load_line(line)
    except ValueError:
        tally.unreadable_lines += 1
        return None
    if isinstance(record, dict):
        return record
    tally.unreadable_lines += 1
    return None


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
        with aws_errors(f"listing s3://{self.bucket}/{prefix}", ShadowError):
            return list_keys(self.s3, self.bucket, prefix)

    def _fetch(self, key: str) -> bytes:
        with aws_errors(f"reading s3://{self.bucket}/{key}", ShadowError):
            data: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return data

    def _fetch_and_inflate(self, key: str) -> InflatedObject:
        return inflate_object(self._fetch(key))

    def records(
        self, window: Window, *, progress: Callable[[int, int], None] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record in the window's hour partitions (the caller filters by timestamp). At most
        2 x max_workers objects are fetched and decompressed ahead of the one being handed out."""
        return self._read(window, iter_records, progress)

    def report_records(
        self, window: Window, *, progress: Callable[[int, int], None] | None = None
    ) -> Iterator[ReportRecord]:
        """`records` as the report takes them (`iter_report_records`: typed where they fit)."""
        return self._read(window, iter_report_records, progress)

    def _read(
        self,
        window: Window,
        read_object: Callable[[InflatedObject, ReadStats], Iterator[_Item]],
        progress: Callable[[int, int], None] | None,
    ) -> Iterator[_Item]:
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="shadow-report") as pool:
            keys = self.keys(window, pool)
            pending: deque[Future[InflatedObject]] = deque()
            ahead = 2 * self.max_workers
            next_key = 0
            done = 0
            while next_key < len(keys) or pending:
                while next_key < len(keys) and len(pending) < ahead:
                    pending.append(pool.submit(self._fetch_and_inflate, keys[next_key]))
                    next_key += 1
                yield from read_object(pending.popleft().result(), self.stats)
                done += 1
                if progress is not None:
                    progress(done, len(keys))
