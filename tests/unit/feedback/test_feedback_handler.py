"""The feedback function end to end in-process (S3 in moto): 202 with the count and gzip JSON Lines in
the log bucket, idempotent on retry; 4xx JSON for bad requests; 503 only when S3 fails."""

from __future__ import annotations

import gzip
import json
from typing import Any

from common.layout import FEEDBACK_PREFIX
from localcloud.events import rest_proxy_event
from tests.helpers import FakeLambdaContext
from tests.unit.feedback.conftest import LOG_BUCKET, MODEL_VERSION, FeedbackFunction


def post(
    function: FeedbackFunction, body: Any, path: str = "/feedback", method: str = "POST"
) -> dict[str, Any]:
    event = rest_proxy_event(
        method, path, body=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    response: dict[str, Any] = function.module.handler(event, FakeLambdaContext("feedback", "1"))
    return {
        "status": response["statusCode"],
        "body": json.loads(response["body"]),
        "headers": {
            **(response.get("headers") or {}),
            **{k: ", ".join(v) for k, v in (response.get("multiValueHeaders") or {}).items()},
        },
    }


def stored(function: FeedbackFunction) -> dict[str, list[dict[str, Any]]]:
    listing = function.s3.list_objects_v2(Bucket=LOG_BUCKET, Prefix=FEEDBACK_PREFIX).get("Contents", [])
    return {
        o["Key"]: [
            json.loads(line)
            for line in gzip.decompress(
                function.s3.get_object(Bucket=LOG_BUCKET, Key=o["Key"])["Body"].read()
            )
            .decode()
            .splitlines()
        ]
        for o in listing
    }


def test_feedback_is_stored_as_json_lines_and_answered_202(feedback_function: FeedbackFunction) -> None:
    body = {"feedback": [{"request_id": "req-1", "label": 1}, {"request_id": "req-2", "row": 4, "label": 0}]}
    answer = post(feedback_function, body)
    assert answer["status"] == 202
    assert answer["body"] == {"accepted": 2, "model_version": MODEL_VERSION}
    ((key, lines),) = stored(feedback_function).items()
    assert key.startswith(FEEDBACK_PREFIX + "dt=")
    assert [(line["request_id"], line["row"], line["label"]) for line in lines] == [
        ("req-1", 0, 1),
        ("req-2", 4, 0),
    ]
    assert all(line["schema_version"] == 1 and line["received_at"].endswith("Z") for line in lines)


def test_a_retried_body_overwrites_its_object(feedback_function: FeedbackFunction) -> None:
    body = {"request_id": "req-1", "label": 0}
    assert post(feedback_function, body)["status"] == 202
    assert post(feedback_function, body)["status"] == 202
    assert len(stored(feedback_function)) == 1


def test_bad_requests_are_4xx_json_and_store_nothing(feedback_function: FeedbackFunction) -> None:
    answer = post(feedback_function, {"request_id": "req-1", "label": 7})
    assert answer["status"] == 400
    assert answer["body"]["error"]["code"] == "invalid_field"
    assert "label must be one of the model's class labels 0, 1" in answer["body"]["error"]["message"]
    assert post(feedback_function, {"request_id": "r", "label": 1}, method="GET")["status"] == 405
    assert post(feedback_function, {"request_id": "r", "label": 1}, path="/labels")["status"] == 404
    assert stored(feedback_function) == {}


def test_a_failing_bucket_is_a_503_so_the_client_retries(feedback_function: FeedbackFunction) -> None:
    feedback_function.s3.delete_bucket(Bucket=LOG_BUCKET)
    answer = post(feedback_function, {"request_id": "req-1", "label": 1})
    assert answer["status"] == 503
    assert answer["body"]["error"]["code"] == "storage_unavailable"
    assert answer["headers"].get("Retry-After") == "1"
