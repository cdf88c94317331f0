"""Log subscription delivery against real workers: the lines a function writes reach the
subscribed function in CloudWatch Logs' awslogs format, batched, retried, nothing lost."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.integration.local_runtime.support import LOG_GROUP, LogFunctions, MakeLogFunctions


def test_every_record_line_reaches_the_destination_in_the_awslogs_format(
    make_log_functions: MakeLogFunctions,
) -> None:
    functions: LogFunctions = make_log_functions()
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda i: functions.invoke("logger", json.dumps({"id": i}).encode()), range(40))
        )
    assert all(r.status == "ok" for r in results)

    functions.wait_delivered()

    messages = functions.delivered_messages()
    assert sorted(m["request_id"] for m in messages) == list(range(40))  # each once, none missing
    batch = functions.delivered()[0]
    assert batch["messageType"] == "DATA_MESSAGE"
    assert batch["logGroup"] == LOG_GROUP
    assert batch["subscriptionFilters"] == ["records"]
    assert batch["owner"] == "123456789012"
    assert batch["logStream"].endswith("[1]localcloud")
    event = batch["logEvents"][0]
    assert set(event) == {"id", "timestamp", "message"} and event["id"].isdigit() and event["timestamp"] > 0
    # START/END/REPORT lines are in the log group too, but the JSON pattern does not match them.
    assert any(line.startswith("REPORT") for _, line in functions.lines)
    report = functions.subscriptions.report()
    assert report["events_delivered"] == 40 and report["events_pending"] == 0
    assert report["lines_offered"] >= 40 * 4


def test_a_failing_destination_is_retried_and_gets_the_batch_on_a_later_attempt(
    make_log_functions: MakeLogFunctions,
    tmp_path: Path,
) -> None:
    fail_file = tmp_path / "fail"
    fail_file.write_text("1")
    functions: LogFunctions = make_log_functions(environment={"FAIL_FILE": str(fail_file)}, window_s=1.0)
    for i in range(3):
        assert functions.invoke("logger", json.dumps({"id": i}).encode()).status == "ok"

    functions.wait_delivered()

    assert sorted(m["request_id"] for m in functions.delivered_messages()) == [0, 1, 2]
    report = functions.subscriptions.report()
    assert report["failed_attempts"] == 1 and report["batches_delivered"] == 1


def test_the_wait_is_reachable_from_another_process_through_the_lambda_api(tmp_path: Path) -> None:
    from localcloud.lambda_api import LambdaFront
    from localcloud.subscriptions.client import STATUS_PATH, wait_for_log_delivery
    from localcloud.tls import ensure_certificate

    cert, _ = ensure_certificate(tmp_path)
    asked: list[dict[str, list[str]]] = []
    delivered = [True]

    def status(query: dict[str, list[str]]) -> dict[str, Any]:
        asked.append(query)
        return {"delivered": delivered[0], "events_delivered": 3}

    front = LambdaFront(
        lambda *_: None,  # type: ignore[arg-type]
        moto_host="127.0.0.1",
        moto_port=9,
        cafile=str(cert),
        local_routes={STATUS_PATH: status},
    )
    front.start()
    try:
        assert wait_for_log_delivery(front.endpoint, timeout_s=2.5)["events_delivered"] == 3
        assert asked == [{"wait": ["2.5"]}]
        delivered[0] = False
        with pytest.raises(TimeoutError, match="not done after 1"):
            wait_for_log_delivery(front.endpoint, timeout_s=1)
    finally:
        front.stop()
