"""The body of a JSON API request, numpy-free: content type, size, encoding and JSON parsing.

Shared by /predict (common.http.validation then turns the document into the model's rows) and
/feedback, whose function loads no numpy. Every way a body can be wrong maps to a RequestError
that names what was wrong; nothing here raises anything else for any input.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import orjson

from common.http.errors import RequestError, bad_request, json_type


@dataclass(frozen=True)
class RequestLimits:
    max_rows: int = 1000
    max_body_bytes: int = 262_144


def _reject_constant(name: str) -> Any:
    raise bad_request("invalid_number", f"{name} is not a valid number: use finite numbers only")


def check_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        shown = content_type if content_type else "none"
        raise RequestError(
            415, "unsupported_media_type", f"Content-Type must be application/json, got {shown}"
        )


def decode_body(body: str | None, *, is_base64: bool, limits: RequestLimits) -> str:
    if body is None or body == "":
        raise bad_request("empty_body", "the request body is empty: send a JSON object")
    if is_base64:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise bad_request("invalid_body", "the body is marked base64 but does not decode") from exc
    else:
        raw = body.encode("utf-8", errors="surrogatepass")
    if len(raw) > limits.max_body_bytes:
        raise RequestError(
            413,
            "body_too_large",
            f"the body is {len(raw)} bytes; the limit is {limits.max_body_bytes} bytes",
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request("invalid_encoding", "the body is not valid UTF-8") from exc


def _parse_int(text: str) -> int | float:
    """A JSON integer's value: an int, or, for one with more digits than Python converts to an int
    (sys.get_int_max_str_digits), the float it rounds to (an infinity, far beyond float32), which
    validation then refuses as out of range like any other such number."""
    try:
        return int(text)
    except ValueError:
        return float(text)


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_parse_int)
"""Built once: `json.loads` with a keyword argument builds a new decoder on every call."""


def _loads(text: str) -> Any:
    """orjson first (much faster than the standard library on a request body); anything it refuses
    is parsed again by the standard library's decoder, so every error, and every input orjson
    refuses but the decoder accepts (lone surrogate escapes, nesting beyond 1024, numbers beyond
    float64, the NaN/Infinity literals), is answered as the standard library answers it. Where both
    accept a text they return the same document, except integers outside the 64-bit range, which
    orjson returns as the float that `float(int)` gives: the same float32 after validation. An
    integer too long for Python's int conversion becomes its float (`_parse_int`)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    if text.startswith("\ufeff"):  # as json.loads does, before decoding
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODER.decode(text)


def parse_json_object(text: str) -> dict[str, Any]:
    try:
        document = _loads(text)
    except RequestError:
        raise
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = (
            f": {exc.msg} at line {exc.lineno} column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else ": nested too deeply"
        )
        raise bad_request("invalid_json", f"the body is not valid JSON{detail}") from exc
    if not isinstance(document, dict):
        raise bad_request("invalid_body", f"the body must be a JSON object, got {json_type(document)}")
    return document
