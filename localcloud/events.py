"""API Gateway REST API proxy events (payload format 1.0), as the deployed API sends them.

The local gateway builds its events here, and so do the tests, so both exercise the handler with
the same shape that Lambda receives behind API Gateway.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


def _is_text(content_type: str | None) -> bool:
    media = (content_type or "").lower()
    return any(media.startswith(kind) for kind in TEXT_TYPES) or media == ""


def rest_proxy_event(
    method: str,
    path: str,
    *,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    stage: str = "prod",
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
) -> dict[str, Any]:
    headers = dict(headers or {})
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    encoded_body: str | None
    is_base64 = False
    if body is None or body in (b"", ""):
        encoded_body = None
    elif isinstance(body, str):
        encoded_body = body
    elif _is_text(content_type):
        try:
            encoded_body = body.decode("utf-8")
        except UnicodeDecodeError:
            encoded_body, is_base64 = base64.b64encode(body).decode("ascii"), True
    else:
        encoded_body, is_base64 = base64.b64encode(body).decode("ascii"), True
    pairs = parse_qsl(query, keep_blank_values=True)
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    now = time.time()
    return {
        "resource": path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": headers or None,
        "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
        "queryStringParameters": single or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method.upper(),
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": request_id or str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")},
            "protocol": "HTTP/1.1",
        },
        "body": encoded_body,
        "isBase64Encoded": is_base64,
    }
