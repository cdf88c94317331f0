"""Lambda entry point of a precompute chunk worker (one item of the distributed Map): wires the S3
and DynamoDB clients and the model loader once per process; `scorer` does the work."""

from __future__ import annotations

import os
from typing import Any

import boto3  # provided by the Lambda runtime
from aws_lambda_powertools import Logger

from common.precompute.run import ChunkTask
from common.precompute.table import PredictionTable
from precompute_score.scorer import ModelLoader, score_chunk


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


logger = Logger()
s3 = boto3.client("s3")
table = PredictionTable(boto3.client("dynamodb"), _required("PREDICTIONS_TABLE"))
models = ModelLoader(model_bucket=_required("MODEL_BUCKET"), s3=s3)
work_bucket = _required("WORK_BUCKET")
ttl_days = int(os.environ.get("PREDICTION_TTL_DAYS", "0"))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task = ChunkTask.from_json(event)
    logger.append_keys(run_id=task.run_id, chunk=task.index, model_version=task.model_version)
    result = score_chunk(task, s3=s3, models=models, table=table, work_bucket=work_bucket, ttl_days=ttl_days)
    logger.info("chunk scored", extra={"items": result.items})
    return result.to_json()
