"""Small helpers shared by the test tiers."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeLambdaContext:
    """The attributes of Lambda's context object that our handlers and Powertools read."""

    function_name: str = "inference"
    function_version: str = "7"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/inference"
    log_stream_name: str = "stream"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}:live"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def json_body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])
