"""Lambda entry points of the precompute workflow's control steps: `plan` (validate the input, write
chunk tasks) and `switch` (serve the finished run). Each step's settings are read from the environment
and its clients built once per process, on the step's first call: the plan and switch functions share
this module but not their environment (only plan has MAX_ITEMS). A step's errors (PlanError,
IncompleteRunError, PointerConflictError) fail the execution with their message."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3  # provided by the Lambda runtime

from common.environment import required
from common.precompute.table import PredictionTable
from precompute_control.planner import Plan, Planner, PlanRequest
from precompute_control.switch import switch_served_version

DEFAULT_CHUNK_SIZE = 5000


@dataclass(frozen=True)
class SwitchSettings:
    predictions_table: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SwitchSettings:
        return cls(
            predictions_table=required(environ, "PREDICTIONS_TABLE", "the precomputed predictions table")
        )


@dataclass(frozen=True)
class PlanSettings:
    predictions_table: str
    work_bucket: str
    model_bucket: str
    max_items: int
    default_input_uri: str
    chunk_size: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PlanSettings:
        return cls(
            predictions_table=required(environ, "PREDICTIONS_TABLE", "the precomputed predictions table"),
            work_bucket=required(environ, "WORK_BUCKET", "the precompute work bucket"),
            model_bucket=required(environ, "MODEL_BUCKET", "the model store bucket"),
            max_items=int(required(environ, "MAX_ITEMS", "the largest run in items")),
            default_input_uri=environ.get("DEFAULT_INPUT_URI", ""),
            chunk_size=int(environ.get("CHUNK_SIZE", DEFAULT_CHUNK_SIZE)),
        )


@dataclass(frozen=True)
class PlanStep:
    planner: Planner
    default_input_uri: str
    chunk_size: int


@dataclass(frozen=True)
class SwitchStep:
    s3: Any
    table: PredictionTable


def build_plan(settings: PlanSettings) -> PlanStep:
    planner = Planner(
        s3=boto3.client("s3"),
        table=PredictionTable(boto3.client("dynamodb"), settings.predictions_table),
        work_bucket=settings.work_bucket,
        model_bucket=settings.model_bucket,
        max_items=settings.max_items,
    )
    return PlanStep(
        planner=planner, default_input_uri=settings.default_input_uri, chunk_size=settings.chunk_size
    )


def build_switch(settings: SwitchSettings) -> SwitchStep:
    return SwitchStep(
        s3=boto3.client("s3"), table=PredictionTable(boto3.client("dynamodb"), settings.predictions_table)
    )


@cache
def _plan_step() -> PlanStep:
    return build_plan(PlanSettings.from_env(os.environ))


@cache
def _switch_step() -> SwitchStep:
    return build_switch(SwitchSettings.from_env(os.environ))


def plan(event: dict[str, Any], context: Any) -> dict[str, Any]:
    step = _plan_step()
    request = PlanRequest.from_event(
        event, default_input_uri=step.default_input_uri, chunk_size=step.chunk_size
    )
    result: Plan = step.planner.plan(request)
    return result.to_json()


def switch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    step = _switch_step()
    return switch_served_version(event, s3=step.s3, table=step.table)
