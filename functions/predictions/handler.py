"""Lambda entry point of GET /predictions/{id}: settings read once from the environment, then one
DynamoDB table client per process (boto3 only, no model); `predictions.lookup` does the work."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3  # provided by the Lambda runtime

from common.precompute.table import PredictionTable
from predictions.lookup import error_response, lookup_response


@dataclass(frozen=True)
class Settings:
    predictions_table: str
    log_level: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        # A missing table name fails the init with KeyError, naming the variable.
        return cls(predictions_table=environ["PREDICTIONS_TABLE"], log_level=environ.get("LOG_LEVEL", "INFO"))


def build(settings: Settings) -> PredictionTable:
    return PredictionTable(boto3.client("dynamodb"), settings.predictions_table)


settings = Settings.from_env(os.environ)
logger = logging.getLogger()
logger.setLevel(settings.log_level)
table = build(settings)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = str(getattr(context, "aws_request_id", ""))
    try:
        return lookup_response(event, table, request_id)
    except Exception:  # the caller gets a 500 with the request id; the trace goes to the log only
        logger.exception("lookup failed")
        return error_response(500, "internal_error", "internal error", request_id)
