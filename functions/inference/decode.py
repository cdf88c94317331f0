"""Where a /predict event becomes the model's rows: the one seam between HTTP and the model.

`Decoder.rows` answers the float32 matrix of a request, or raises the `RequestError` that names
what is wrong with it. Inside, a fast decoder takes the request nearly every client sends (a plain
ASCII JSON body `{"instances": [[number, ...], ...]}` with Content-Type exactly application/json):
a small body through orjson, its numbers packed into float32 bytes; a large one through simdjson
(`inference.batch_rows`, imported on the first large body), which writes the numbers into one
buffer without a Python float per value. Whatever they cannot vouch for goes to the general
decoder (common.http), which accepts the same requests with the same values and words every error.
The fast decoders therefore never decide an error: they only answer rows or step aside.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from itertools import starmap
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import orjson

from common.http.validation import (
    RequestLimits,
    check_content_type,
    decode_body,
    parse_instances,
    parse_json_object,
)

if TYPE_CHECKING:
    from inference.batch_rows import BatchRows

JSON = "application/json"
BATCH_MIN_BYTES = 2048
"""From this body size on, simdjson's decoder (`inference.batch_rows`) is faster than orjson's
parse and the float32 packing; below it, orjson's."""
_HIGH_BYTE = 3 if sys.byteorder == "little" else 0
"""Where a packed float32's sign and top seven exponent bits are (byte order of this machine)."""


def content_type(headers: dict[str, str] | None) -> str | None:
    """The Content-Type header, in any case."""
    if not headers:
        return None
    found = headers.get("Content-Type")
    if found is None:
        found = headers.get("content-type")
    if found is None:
        for name, value in headers.items():
            if name.lower() == "content-type":
                found = value
    return found


def common_body(event: dict[str, Any], max_body_bytes: int) -> str | None:
    """The body of a common request, exactly as `decode_body` would return it; None for any other.
    An ASCII body's UTF-8 form has one byte per character, so its length is the size the limit
    is checked against and decoding gives it back unchanged."""
    headers = event.get("headers")
    if type(headers) is not dict:
        return None
    found = headers.get("Content-Type")
    if found is None:
        found = headers.get("content-type")
    if found != JSON:
        return None
    body = event.get("body")
    if type(body) is not str or event.get("isBase64Encoded") or not body.isascii():
        return None
    if not 0 < len(body) <= max_body_bytes:
        return None
    return body


def packed_rows(instances: list[Any], width: int, body_text: str) -> bytes | None:
    """The float32 values of `instances` packed in this machine's byte order, when every row is a
    list of `width` JSON numbers under 2**127 in magnitude; None otherwise (the general decoder
    then decides, and accepts these rows with the same float32 values).

    `body_text` is the text `instances` was parsed from, by orjson (which yields no NaN or
    infinity), as the only key of an object. Each row is packed by a `struct` of `width` floats,
    which takes an int or a float (an int through its float, as `float(value)` does) and rounds
    the double to float32 as numpy's cast does; a row of another length, or a value that is a
    string, an array, an object or null, makes it raise. Booleans it would take as numbers: a
    body holding true or false has a "u" or an "l" (which "instances" has not), so such a body is
    left to the general decoder. A value beyond float32's range raises or rounds to infinity or to
    FLOAT32_MAX; every one of these, like every value from 2**127 up, has all of the high byte's
    exponent bits set, so one scan of those bytes sends them, and a few valid values, to the
    general decoder."""
    return _packed(instances, _ROW_PACKERS.get(width) or _row_packer(width), body_text)


def _packed(instances: list[Any], pack: Callable[..., bytes], body_text: str) -> bytes | None:
    """`packed_rows` with the row packer of its width."""
    if "u" in body_text or "l" in body_text:
        return None
    try:
        packed = pack(*instances[0]) if len(instances) == 1 else b"".join(starmap(pack, instances))
    except (struct.error, TypeError, OverflowError):  # TypeError: a row that is not iterable
        return None
    high = packed[_HIGH_BYTE::4]
    if b"\x7f" in high or b"\xff" in high:
        return None
    return packed


_FLOAT32 = np.dtype(np.float32)
_ROW_PACKERS: dict[int, Callable[..., bytes]] = {}


def _row_packer(width: int) -> Callable[..., bytes]:
    """The `pack` of a struct of `width` float32 values (standard sizes, this machine's order)."""
    pack = _ROW_PACKERS[width] = struct.Struct(f"={width}f").pack
    return pack


class Decoder:
    """Turns /predict events into the float32 rows of a model with these feature names."""

    def __init__(self, feature_names: list[str], limits: RequestLimits) -> None:
        self.feature_names = feature_names
        self.limits = limits
        self.width = len(feature_names)
        self._pack = _row_packer(self.width)
        self._batch: BatchRows | Literal[False] | None = None
        """The large bodies' decoder once loaded; False where simdjson cannot be imported."""
        self.fast = True
        """Whether common requests take the fast decoders; tests turn it off to compare."""

    def rows(self, event: dict[str, Any]) -> np.ndarray:
        """The request's rows as a C-contiguous float32 matrix, one row per instance."""
        if self.fast:
            text = common_body(event, self.limits.max_body_bytes)
            rows = None if text is None else self.fast_rows(text)
            if rows is not None:
                return rows
        return self.general_rows(event)

    def fast_rows(self, text: str) -> np.ndarray | None:
        """The rows of a common body (`common_body`), or None when the general decoder must
        decide: a body that is not an object whose only key is "instances" holding 1 to
        `max_rows` rows that `packed_rows` packs (a body from `BATCH_MIN_BYTES` on: that
        `BatchRows` decodes). The matrix may be a read-only view of the bytes."""
        if len(text) >= BATCH_MIN_BYTES:
            batch = self._batch if self._batch is not None else self._load_batch()
            if batch:
                return batch(text)
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        if type(document) is not dict or len(document) != 1:
            return None
        instances = document.get("instances")
        if type(instances) is not list or not 0 < len(instances) <= self.limits.max_rows:
            return None
        packed = _packed(instances, self._pack, text)
        if packed is None:
            return None
        return np.ndarray((len(instances), self.width), _FLOAT32, packed)

    def _load_batch(self) -> BatchRows | Literal[False]:
        """The large bodies' decoder, imported on first use; False (orjson's decoder then takes
        every body) where pysimdjson is not installed."""
        try:
            from inference.batch_rows import BatchRows
        except ImportError:
            self._batch = False
        else:
            self._batch = BatchRows(self.width, self.limits.max_rows)
        return self._batch

    def general_rows(self, event: dict[str, Any]) -> np.ndarray:
        """Every check in turn: content type, body encoding and size, JSON, then the rows."""
        check_content_type(content_type(event.get("headers")))
        text = decode_body(
            event.get("body"), is_base64=bool(event.get("isBase64Encoded")), limits=self.limits
        )
        document = parse_json_object(text)
        return parse_instances(document, feature_names=self.feature_names, limits=self.limits, body_text=text)
