"""The Athena runner: the query starts in the workgroup with its database, its results come back by
column name without the header row, over every page; a failed, cancelled, cut-off or overdue query is
one clear error.

moto's Athena (with results preloaded through /moto-api/static/athena/query-results) speaks the
JSON protocol, and botocore 1.44 calls Athena with rest-json only (moto answers "Not yet
implemented"), so the success path runs against botocore's Stubber, which checks every request and
response against Athena's service model."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from modelctl.reports.query.athena import AthenaRunner
from release.errors import ShadowError

WORK_GROUP = "reports"


def _page(rows: list[list[str | None]], names: list[str | None] | None, token: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows]
    }
    if names is not None:
        result["ResultSetMetadata"] = {"ColumnInfo": [{"Name": n, "Type": "varchar"} for n in names]}
    page: dict[str, Any] = {"ResultSet": result}
    if token:
        page["NextToken"] = token
    return page


def test_rows_come_back_by_column_name_over_every_page() -> None:
    client = boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    names: list[str | None] = ["function_version", "predictions", "error_sum"]
    with Stubber(client) as stub:
        stub.add_response(
            "start_query_execution",
            {"QueryExecutionId": "q-1"},
            {
                "QueryString": "SELECT 1",
                "QueryExecutionContext": {"Database": "logs"},
                "WorkGroup": WORK_GROUP,
            },
        )
        stub.add_response("get_query_execution", {"QueryExecution": {"Status": {"State": "RUNNING"}}})
        stub.add_response(
            "get_query_execution",
            {
                "QueryExecution": {
                    "Status": {"State": "SUCCEEDED"},
                    "Statistics": {"DataScannedInBytes": 2048},
                }
            },
        )
        stub.add_response(
            "get_query_results", _page([names, ["3", "12", None]], names, "t2"), {"QueryExecutionId": "q-1"}
        )
        stub.add_response(
            "get_query_results",
            _page([["4", "7", "0.5"]], None, None),
            {"QueryExecutionId": "q-1", "NextToken": "t2"},
        )
        runner = AthenaRunner(client, work_group=WORK_GROUP, database="logs", sleep=lambda _: None)
        rows = runner.rows("SELECT 1")
        stub.assert_no_pending_responses()
    assert rows == [
        {"function_version": "3", "predictions": "12", "error_sum": None},
        {"function_version": "4", "predictions": "7", "error_sum": "0.5"},
    ]
    assert runner.stats.to_dict() == {
        "queries": 1,
        "bytes_scanned": 2048,
        "engine_ms": 0,
        "query_ids": ["q-1"],
    }


class FakeAthena:
    """A query that stays in `states` one poll each (moto's executions always succeed)."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states
        self.stopped: list[str] = []

    def start_query_execution(self, **_: Any) -> dict[str, Any]:
        return {"QueryExecutionId": "q-1"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        status = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"QueryExecution": {"Status": status, "Statistics": {"DataScannedInBytes": 10}}}

    def stop_query_execution(self, QueryExecutionId: str) -> None:
        self.stopped.append(QueryExecutionId)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (
            {"State": "FAILED", "StateChangeReason": "COLUMN_NOT_FOUND: line 1"},
            "q-1 failed: COLUMN_NOT_FOUND",
        ),
        ({"State": "CANCELLED", "StateChangeReason": "cancelled by user"}, "q-1 was cancelled"),
        (
            {
                "State": "CANCELLED",
                "StateChangeReason": "Query cancelled! : Bytes scanned limit was exceeded",
            },
            "bytes-scanned cutoff",
        ),
    ],
)
def test_a_query_that_does_not_succeed_is_one_clear_error(status: dict[str, Any], message: str) -> None:
    fake = FakeAthena([{"State": "RUNNING"}, status])
    runner = AthenaRunner(fake, work_group=WORK_GROUP, database="logs", sleep=lambda _: None)
    with pytest.raises(ShadowError, match=message):
        runner.rows("SELECT 1")
    assert runner.stats.bytes_scanned == 10


def test_a_query_past_its_deadline_is_stopped() -> None:
    fake = FakeAthena([{"State": "RUNNING"}])
    ticks = iter(range(100))
    runner = AthenaRunner(
        fake,
        work_group=WORK_GROUP,
        database="logs",
        deadline_seconds=5,
        sleep=lambda _: None,
        clock=lambda: float(next(ticks)),
    )
    with pytest.raises(ShadowError, match="did not finish within 5 s"):
        runner.rows("SELECT 1")
    assert fake.stopped == ["q-1"]
