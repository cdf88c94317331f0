"""moto around each test: a model store holding the trained artifact, a work bucket, the predictions
table shaped as the stack creates it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from common.model.metadata import ModelMetadata
from common.precompute.table import PredictionTable

MODEL_BUCKET = "model-store"
WORK_BUCKET = "precompute-work"
TABLE = "predictions"


@dataclass
class World:
    s3: Any
    dynamodb: Any
    table: PredictionTable
    metadata: ModelMetadata
    model_dir: Path


@pytest.fixture()
def world(trained_model: tuple[Path, ModelMetadata]) -> Iterator[World]:
    model_dir, metadata = trained_model
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (MODEL_BUCKET, WORK_BUCKET):
            s3.create_bucket(Bucket=bucket)
        for name in ("model.onnx", "metadata.json"):
            s3.upload_file(str(model_dir / name), MODEL_BUCKET, f"models/{metadata.version}/{name}")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield World(
            s3=s3,
            dynamodb=dynamodb,
            table=PredictionTable(dynamodb, TABLE, sleep=lambda _: None),
            metadata=metadata,
            model_dir=model_dir,
        )
