"""Running a report's query in Athena: start it in the reports' workgroup (which fixes where the
results go, their encryption and the bytes-scanned cutoff), poll until it ends or the deadline
passes (then stop it), and read every page of its results as text values by column name.

A failed or cancelled query, one stopped by the workgroup's cutoff, or one past the deadline raises
`ShadowError` with one line for the CLI (the query id, Athena's reason, what to do)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from release.aws import aws_errors
from release.errors import ShadowError

Row = dict[str, str | None]
DEFAULT_DEADLINE_SECONDS = 600.0
POLL_SECONDS = (0.2, 0.5, 1.0, 2.0)
"""Waits between polls: short at first (small queries end in about a second), then every 2 s."""


@dataclass
class QueryStats:
    """What the report's queries cost: Athena bills by bytes scanned."""

    queries: int = 0
    bytes_scanned: int = 0
    engine_ms: int = 0
    query_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "bytes_scanned": self.bytes_scanned,
            "engine_ms": self.engine_ms,
            "query_ids": list(self.query_ids),
        }


class AthenaRunner:
    def __init__(
        self,
        athena: Any,
        *,
        work_group: str,
        database: str,
        deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.athena = athena
        self.work_group = work_group
        self.database = database
        self.deadline_seconds = deadline_seconds
        self.sleep = sleep
        self.clock = clock
        self.stats = QueryStats()

    def rows(self, sql: str) -> list[Row]:
        """The query's result rows, each a dict of column name -> text value (None for NULL)."""
        query_id = self._start(sql)
        self._wait(query_id)
        return self._results(query_id)

    def _start(self, sql: str) -> str:
        with aws_errors(f"starting a query in Athena workgroup {self.work_group}", ShadowError):
            started = self.athena.start_query_execution(
                QueryString=sql,
                QueryExecutionContext={"Database": self.database},
                WorkGroup=self.work_group,
            )
        query_id = str(started["QueryExecutionId"])
        self.stats.queries += 1
        self.stats.query_ids.append(query_id)
        return query_id

    def _wait(self, query_id: str) -> None:
        deadline = self.clock() + self.deadline_seconds
        polls = 0
        while True:
            with aws_errors(f"reading Athena query {query_id}", ShadowError):
                execution = self.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            status = execution.get("Status", {})
            state = status.get("State", "")
            if state == "SUCCEEDED":
                self._count(execution)
                return
            if state in ("FAILED", "CANCELLED"):
                self._count(execution)
                raise ShadowError(_failure(query_id, state, status, self.work_group))
            if self.clock() >= deadline:
                self._stop(query_id)
                raise ShadowError(
                    f"Athena query {query_id} did not finish within {self.deadline_seconds:g} s (state "
                    f"{state or 'unknown'}); it was stopped: try a shorter --since, or --engine local"
                )
            self.sleep(POLL_SECONDS[min(polls, len(POLL_SECONDS) - 1)])
            polls += 1

    def _stop(self, query_id: str) -> None:
        with contextlib.suppress(Exception):  # best effort: the deadline error is what matters
            self.athena.stop_query_execution(QueryExecutionId=query_id)

    def _count(self, execution: dict[str, Any]) -> None:
        statistics = execution.get("Statistics", {})
        self.stats.bytes_scanned += int(statistics.get("DataScannedInBytes", 0) or 0)
        self.stats.engine_ms += int(statistics.get("EngineExecutionTimeInMillis", 0) or 0)

    def _results(self, query_id: str) -> list[Row]:
        rows: list[Row] = []
        names: list[str] | None = None
        with aws_errors(f"reading the results of Athena query {query_id}", ShadowError):
            pages = self.athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id)
            for page in pages:
                result = page.get("ResultSet", {})
                if names is None:
                    columns = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                    names = [str(column.get("Name") or column.get("Label")) for column in columns]
                    skip_header = True
                else:
                    skip_header = False
                for index, raw in enumerate(result.get("Rows", [])):
                    values = [cell.get("VarCharValue") for cell in raw.get("Data", [])]
                    # The first row of the first page repeats the column names (SELECT results).
                    if skip_header and index == 0 and values == names:
                        continue
                    rows.append(dict(zip(names, values, strict=False)))
        return rows


def _failure(query_id: str, state: str, status: dict[str, Any], work_group: str) -> str:
    reason = str(status.get("StateChangeReason") or "no reason given")
    error = status.get("AthenaError") or {}
    if "bytes scanned" in reason.lower() or "cutoff" in reason.lower() or error.get("ErrorType") == 1205:
        return (
            f"Athena query {query_id} stopped at workgroup {work_group}'s bytes-scanned cutoff: {reason}; "
            "narrow the window (--since/--until) or raise the cutoff (docs/queries.md)"
        )
    verb = "was cancelled" if state == "CANCELLED" else "failed"
    return f"Athena query {query_id} {verb}: {reason}"
