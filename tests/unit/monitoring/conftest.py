"""Fixtures of the monitoring tests: the log bucket in moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.monitoring_support import LOG_BUCKET


@pytest.fixture
def s3() -> Iterator[Any]:
    """An S3 client (moto) with the empty log bucket, LOG_BUCKET."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=LOG_BUCKET)
        yield client
