"""Lambda entry points of the precompute workflow's control steps: `plan` (validate the input, write
chunk tasks) and `switch` (serve the finished run). Clients are created once per process; a step's
errors (PlanError, IncompleteRunError, PointerConflictError) fail the execution with their message."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3  # provided by the Lambda runtime

from common.precompute.table import PredictionTable
from precompute_control.planner import Plan, Planner, PlanRequest
from precompute_control.switch import switch_served_version

DEFAULT_CHUNK_SIZE = 5000


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


@cache
def _s3() -> Any:
    return boto3.client("s3")


@cache
def _table() -> PredictionTable:
    return PredictionTable(boto3.client("dynamodb"), _required("PREDICTIONS_TABLE"))


@cache
def _planner() -> Planner:
    return Planner(
        s3=_s3(),
        table=_table(),
        work_bucket=_required("WORK_BUCKET"),
        model_bucket=_required("MODEL_BUCKET"),
        max_items=int(_required("MAX_ITEMS")),
    )


def plan(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = PlanRequest.from_event(
        event,
        default_input_uri=os.environ.get("DEFAULT_INPUT_URI", ""),
        chunk_size=int(os.environ.get("CHUNK_SIZE", DEFAULT_CHUNK_SIZE)),
    )
    result: Plan = _planner().plan(request)
    return result.to_json()


def switch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return switch_served_version(event, s3=_s3(), table=_table())
