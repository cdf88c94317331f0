"""The feedback function's handler module, imported against an S3 bucket in moto (the live model's
metadata in a model bucket, an empty log bucket)."""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

MODEL_BUCKET = "models"
LOG_BUCKET = "prediction-log"
MODEL_VERSION = "m-0123456789ab"


@dataclass
class FeedbackFunction:
    module: ModuleType
    s3: Any


@pytest.fixture
def feedback_function() -> Iterator[FeedbackFunction]:
    yield from _feedback_function({"version": MODEL_VERSION, "class_labels": [0, 1]})


@pytest.fixture
def regression_feedback_function() -> Iterator[FeedbackFunction]:
    """The function of a deployment that serves a regressor (its metadata: task regression, no labels)."""
    yield from _feedback_function({"version": MODEL_VERSION, "task": "regression", "class_labels": []})


def _feedback_function(metadata: dict[str, Any]) -> Iterator[FeedbackFunction]:
    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (MODEL_BUCKET, LOG_BUCKET):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(
            Bucket=MODEL_BUCKET,
            Key=f"models/{MODEL_VERSION}/metadata.json",
            Body=json.dumps(metadata).encode(),
        )
        for key, value in {
            "MODEL_URI": f"s3://{MODEL_BUCKET}/models/{MODEL_VERSION}/",
            "LOG_BUCKET": LOG_BUCKET,
            "FEEDBACK_MAX_ITEMS": "50",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "Test",
            "POWERTOOLS_SERVICE_NAME": "feedback",
        }.items():
            patch.setenv(key, value)
        sys.modules.pop("feedback.handler", None)
        module = importlib.import_module("feedback.handler")
        handler = module.logger.registered_handler
        with open(os.devnull, "w") as sink:
            previous = handler.setStream(sink)
            try:
                yield FeedbackFunction(module=module, s3=s3)
            finally:
                if previous is not None:  # Powertools' handler outlives the module: give its stream back
                    handler.setStream(previous)
        sys.modules.pop("feedback.handler", None)
