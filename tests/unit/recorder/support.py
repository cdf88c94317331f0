"""Served lines as the inference function writes them (its own line writers, no model) and the
CloudWatch Logs delivery that carries them to the recorder."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import numpy as np

from common.mirror.request_mirror import NOT_SAMPLED, Sample
from inference.log_lines import RequestLog
from inference.record_line import MAX_LINE_BYTES, record_lines


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def served_lines(
    request_id: str,
    inputs: np.ndarray,
    *,
    predictions: list[Any] | None = None,
    probabilities: list[list[float]] | None = None,
    sample: Sample = NOT_SAMPLED,
    max_line_bytes: int = MAX_LINE_BYTES,
    function_version: str = "3",
) -> list[str]:
    """The "prediction served" line(s) of one request, without the trailing newlines."""
    rows = len(inputs)
    log = RequestLog(service="inference", model_version="m-live")
    log.bind_function_version(function_version)
    outputs: dict[str, Any] = {"predictions": predictions if predictions is not None else [1] * rows}
    if probabilities is not None or predictions is None:
        outputs["probabilities"] = probabilities if probabilities is not None else [[0.25, 0.75]] * rows
    outputs["model_version"] = "m-live"

    def render(members: str) -> str:
        return log.served(request_id, rows, 0.0421, members)

    text = record_lines(
        render,
        body=_dumps(outputs),
        outputs=lambda: outputs,
        inputs=np.asarray(inputs, dtype=np.float32),
        sample=sample,
        dumps=_dumps,
        max_line_bytes=max_line_bytes,
    )
    return text.splitlines()


def delivery(lines: list[str], *, message_type: str = "DATA_MESSAGE") -> dict[str, Any]:
    """The event a subscription filter invokes its destination with."""
    document = {
        "messageType": message_type,
        "owner": "123456789012",
        "logGroup": "/aws/lambda/inference",
        "logStream": "2026/12/07/[3]abcdef",
        "subscriptionFilters": ["RecorderSubscription"],
        "logEvents": [
            {"id": str(index), "timestamp": 1796660401123 + index, "message": line}
            for index, line in enumerate(lines)
        ],
    }
    data = base64.b64encode(gzip.compress(json.dumps(document).encode())).decode()
    return {"awslogs": {"data": data}}
