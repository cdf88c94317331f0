"""The rows of a large common request straight from its text, without a Python object per value.

simdjson (pysimdjson's native API) parses the body into its own tape, and `Array.as_buffer` copies
every number under "instances" into one buffer of doubles, each the correctly rounded value of its
text (a JSON integer through its double, as `float(value)` gives it); numpy then casts them to
float32 as the general decoder does. What the buffer cannot show (where one row ends and the next
begins, whether a row holds an array) the body's brackets and commas show: with every other byte
deleted, a body of `rows` rows of `width` values reads exactly `[[,,...],[,,...],...]`.

Imported only for a large body (`inference.decode`): the extension is a few megabytes that a
1-row request does not need at cold start. It never decides an error: anything it cannot vouch
for is left to the general decoder, which words every error.
"""

from __future__ import annotations

import threading

import numpy as np
from simdjson import Array, Object, Parser

from common.http.validation import FLOAT32_MAX

_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)
_STRUCTURAL = b",[]"
_NOT_STRUCTURAL = bytes(byte for byte in range(256) if byte not in _STRUCTURAL)
"""Every byte but a comma and the square brackets: what `bytes.translate` deletes."""


class BatchRows:
    """Decodes the bodies of requests to a model taking `width` features (at most `max_rows`
    rows each) with one reusable parser. A parser holds one document at a time: a call that finds
    it busy (another thread inside) steps aside."""

    def __init__(self, width: int, max_rows: int) -> None:
        self.width = width
        self.max_rows = max_rows
        self._row = b"[" + b"," * (width - 1) + b"]"
        self._parser = Parser()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> np.ndarray | None:
        """The rows of a body as a C-contiguous float32 matrix, or None when the general decoder
        must decide. Answers only a JSON object whose only key is "instances", holding 1 to
        `max_rows` arrays of `width` numbers each, every number within float32's range (the
        general decoder's test, on the double); for those the general decoder answers the same
        float32 values. Object rows, integers beyond 64 bits and duplicate keys, which the general
        decoder accepts, are left to it."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return self._rows(text.encode("utf-8", "surrogatepass"))
        finally:
            self._lock.release()

    def _rows(self, body: bytes) -> np.ndarray | None:
        try:
            document = self._parser.parse(body)
        except ValueError:  # not JSON (or not UTF-8), or a number beyond float64 or 64-bit integers
            return None
        except RuntimeError:  # an integer beyond 64 bits, or a proxy of the last document still held
            self._parser = Parser()  # a parser whose last document is still referenced cannot parse
            return None
        if type(document) is not Object or len(document) != 1:  # len counts duplicate keys
            return None
        try:
            instances = document["instances"]
        except KeyError:
            return None
        if type(instances) is not Array:
            return None
        count = len(instances)
        if not 0 < count <= self.max_rows or body.translate(None, _NOT_STRUCTURAL) != self._structure(count):
            return None
        try:
            values = instances.as_buffer(of_type="d")
        except TypeError:  # a value that is not a number: a string, true, false, null or an object
            return None
        doubles = np.frombuffer(values, _FLOAT64)
        if doubles.size != count * self.width:  # a width of 1 lets an empty row fit the structure
            return None
        if not (doubles.max() <= FLOAT32_MAX and doubles.min() >= -FLOAT32_MAX):
            return None
        return doubles.astype(_FLOAT32).reshape(count, self.width)

    def _structure(self, count: int) -> bytes:
        """The brackets and commas of `count` rows of `width` values, in the order JSON writes them."""
        return b"[" + (self._row + b",") * (count - 1) + self._row + b"]"
