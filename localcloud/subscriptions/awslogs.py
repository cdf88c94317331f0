"""The event CloudWatch Logs sends a subscribed Lambda function: `{"awslogs": {"data": ...}}`, where
data is base64(gzip(JSON)) of one batch of log events from one log stream."""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass
from typing import Any

from localcloud.provision import ACCOUNT


@dataclass(frozen=True)
class LogEvent:
    id: str
    timestamp_ms: int
    message: str


def awslogs_event(
    events: list[LogEvent], *, log_group: str, log_stream: str, filter_name: str, owner: str = ACCOUNT
) -> dict[str, Any]:
    document = {
        "messageType": "DATA_MESSAGE",
        "owner": owner,
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": [filter_name],
        "logEvents": [{"id": e.id, "timestamp": e.timestamp_ms, "message": e.message} for e in events],
    }
    data = base64.b64encode(gzip.compress(json.dumps(document).encode(), compresslevel=6)).decode()
    return {"awslogs": {"data": data}}


def decode_awslogs(event: dict[str, Any]) -> dict[str, Any]:
    """The batch inside an awslogs event (what a subscribed function does first)."""
    return dict(json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"]))))
