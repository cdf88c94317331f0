"""Lambda entry point of GET /predictions/{id}: boto3 only, no model. One DynamoDB client per process."""

from __future__ import annotations

import logging
import os
from typing import Any

import boto3  # provided by the Lambda runtime

from common.precompute.table import PredictionTable
from predictions.lookup import error_response, lookup_response

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
table = PredictionTable(boto3.client("dynamodb"), os.environ["PREDICTIONS_TABLE"])


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = str(getattr(context, "aws_request_id", ""))
    try:
        return lookup_response(event, table, request_id)
    except Exception:  # the caller gets a 500 with the request id; the trace goes to the log only
        logger.exception("lookup failed")
        return error_response(500, "internal_error", "internal error", request_id)
