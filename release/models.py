"""Reading a published model's metadata from the model store (what a version's MODEL_URI names)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from common.layout import METADATA_FILE
from common.model.artifact_source import parse_s3_uri
from common.model.metadata import MetadataError, ModelMetadata
from release.aws import error_code, error_message
from release.errors import AwsCallError, RefusedError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def read_published_metadata(s3: S3Client, model_uri: str) -> ModelMetadata:
    try:
        bucket, prefix = parse_s3_uri(model_uri)
    except ValueError as exc:
        raise RefusedError(f"MODEL_URI {model_uri!r} is not an s3:// model store location") from exc
    key = prefix + METADATA_FILE
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NoSuchBucket"):
            raise RefusedError(
                f"s3://{bucket}/{key} does not exist: the version pins a missing model"
            ) from exc
        raise AwsCallError(f"reading s3://{bucket}/{key}: {error_code(exc)}: {error_message(exc)}") from exc
    try:
        return ModelMetadata.from_dict(json.loads(body))
    except (ValueError, MetadataError) as exc:
        raise RefusedError(f"s3://{bucket}/{key} is not valid model metadata: {exc}") from exc
