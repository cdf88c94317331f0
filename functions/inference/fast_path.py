"""Which requests the inference API answers on its fast path: the common one.

The common request is what nearly every client sends: POST /predict, Content-Type exactly
application/json, a plain (not base64) ASCII body within the size limit, with no shadow mirror
wired. For it, the API skips the general path's routing (upper-casing, trailing slashes), header
scans, body re-encoding and per-value checks (`InferenceService.predict_common`). Anything else,
and any common request the fast path cannot vouch for, goes the general path, which answers it
as it always did: both paths build the same response, log line and EMF line (tests compare them
byte for byte on generated requests).
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"


def common_predict_body(event: dict[str, Any], max_body_bytes: int) -> str | None:
    """The body of a common /predict request, exactly as `decode_body` would return it; None for
    any other request. An ASCII body's UTF-8 form has one byte per character, so its length is
    the size the limit is checked against and decoding gives it back unchanged."""
    if type(event) is not dict or event.get("path") != "/predict" or event.get("httpMethod") != "POST":
        return None
    headers = event.get("headers")
    if type(headers) is not dict:
        return None
    content_type = headers.get("Content-Type")
    if content_type is None:
        content_type = headers.get("content-type")
    if content_type != JSON:
        return None
    body = event.get("body")
    if type(body) is not str or event.get("isBase64Encoded") or not body.isascii():
        return None
    if not 0 < len(body) <= max_body_bytes:
        return None
    return body
