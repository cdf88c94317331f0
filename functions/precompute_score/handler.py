"""Lambda entry point of a precompute chunk worker (one item of the distributed Map): settings read
once from the environment, then the S3 and DynamoDB clients and the model loader built once per
process; `scorer` does the work."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3  # provided by the Lambda runtime
from aws_lambda_powertools import Logger

from common.environment import required
from common.precompute.run import ChunkTask
from common.precompute.table import PredictionTable
from precompute_score.scorer import ModelLoader, score_chunk


@dataclass(frozen=True)
class Settings:
    predictions_table: str
    model_bucket: str
    work_bucket: str
    ttl_days: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            predictions_table=required(environ, "PREDICTIONS_TABLE", "the precomputed predictions table"),
            model_bucket=required(environ, "MODEL_BUCKET", "the model store bucket"),
            work_bucket=required(environ, "WORK_BUCKET", "the precompute work bucket"),
            ttl_days=int(environ.get("PREDICTION_TTL_DAYS", "0")),
        )


@dataclass(frozen=True)
class Worker:
    """What a chunk needs, built once per process."""

    s3: Any
    table: PredictionTable
    models: ModelLoader
    work_bucket: str
    ttl_days: int


def build(settings: Settings) -> Worker:
    s3 = boto3.client("s3")
    return Worker(
        s3=s3,
        table=PredictionTable(boto3.client("dynamodb"), settings.predictions_table),
        models=ModelLoader(model_bucket=settings.model_bucket, s3=s3),
        work_bucket=settings.work_bucket,
        ttl_days=settings.ttl_days,
    )


logger = Logger()
worker = build(Settings.from_env(os.environ))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task = ChunkTask.from_json(event)
    logger.append_keys(run_id=task.run_id, chunk=task.index, model_version=task.model_version)
    result = score_chunk(
        task,
        s3=worker.s3,
        models=worker.models,
        table=worker.table,
        work_bucket=worker.work_bucket,
        ttl_days=worker.ttl_days,
    )
    logger.info("chunk scored", extra={"items": result.items})
    return result.to_json()
