"""Waiting for log subscription delivery from another process, through the local Lambda API.

The local cloud's Lambda endpoint (`AWS_ENDPOINT_URL_LAMBDA`, also in `.local-cloud/endpoints.json`)
answers `GET /_localcloud/log-subscriptions?wait=<seconds>`: it waits until every line the
functions have logged so far has been delivered (or dead-lettered), at most that long, and returns
`{"delivered": bool, ...counters}`.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

STATUS_PATH = "/_localcloud/log-subscriptions"


def wait_for_log_delivery(lambda_endpoint: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The counters once everything logged so far is delivered; raises TimeoutError otherwise."""
    url = f"{lambda_endpoint.rstrip('/')}{STATUS_PATH}?wait={timeout_s}"
    with urllib.request.urlopen(url, timeout=timeout_s + 30) as response:
        report: dict[str, Any] = json.loads(response.read())
    if not report.get("delivered"):
        raise TimeoutError(f"log subscription delivery not done after {timeout_s} s: {report}")
    return report
