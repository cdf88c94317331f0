"""The shadow report's fast path: a record line decoded straight into typed structs holding only
the fields the report aggregates (msgspec). The inputs (30 floats per row), the ids and times the
report does not use are checked as JSON and skipped instead of being built as Python objects, which
spares most of the parse of a line the shadow function wrote (figures in docs/performance.md).

The structs accept only the types the shadow function writes (text or integer labels, number
probabilities and latencies, text versions). A line they do not fit (another type, a missing field,
NaN, a lone surrogate, not JSON at all...) raises `TypedDecodeError` and takes the report's general
path (orjson, then `json`, into a dict), so every report is the one the general path gives
(`tests/unit/shadow/test_shadow_typed_records.py` compares them).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Integer = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
"""64-bit integers, which orjson (the general path) reads as int too: it reads integers past
2**64 - 1 as float, and msgspec bounds stop at the int64 range, so the rest take the general path."""


class TypedResult(msgspec.Struct, gc=False):
    """One model's answer in a record (`live` or `shadow`)."""

    predictions: list[Integer | str]
    probabilities: list[list[float]]
    inference_ms: float
    model_version: str | None = None
    function_version: str | None = None


class TypedRecord(msgspec.Struct, gc=False):
    """The fields of a record line that `ReportBuilder.add_typed` reads."""

    timestamp: str
    record_id: str
    live: TypedResult
    shadow: TypedResult
    part: Integer = 0


TypedDecodeError = msgspec.DecodeError  # ValidationError (a field does not fit) is a DecodeError
decode_typed = msgspec.json.Decoder(TypedRecord).decode
