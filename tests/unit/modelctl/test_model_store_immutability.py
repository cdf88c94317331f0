"""A model in the store is never overwritten, even by two publishes racing each other: the upload is a
conditional put (`IfNoneMatch: *`), which S3 (and moto) refuse once the key exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from common.model.metadata import ModelMetadata
from release.errors import RefusedError
from release.publish import ModelStoreUploader, validate_artifact
from tests.unit.modelctl.world import World


class RacingS3:
    """S3 where another publisher writes `competitor` to the same key just before our first put."""

    def __init__(self, real: Any, competitor: bytes) -> None:
        self.real = real
        self.competitor = competitor
        self.raced = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def put_object(self, **arguments: Any) -> Any:
        if not self.raced:
            self.raced = True
            self.real.put_object(Bucket=arguments["Bucket"], Key=arguments["Key"], Body=self.competitor)
        return self.real.put_object(**arguments)


def test_the_conditional_put_is_refused_by_s3_once_the_key_exists(world: World) -> None:
    world.s3.put_object(Bucket=world.bucket, Key="models/m-x/model.onnx", Body=b"first", IfNoneMatch="*")
    with pytest.raises(world.s3.exceptions.ClientError) as refused:
        world.s3.put_object(Bucket=world.bucket, Key="models/m-x/model.onnx", Body=b"second", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    assert world.s3.get_object(Bucket=world.bucket, Key="models/m-x/model.onnx")["Body"].read() == b"first"


def test_a_publish_that_loses_the_race_to_other_bytes_is_refused_and_overwrites_nothing(
    world: World, trained_model: tuple[Path, ModelMetadata]
) -> None:
    artifact = validate_artifact(trained_model[0])
    s3 = RacingS3(world.s3, b"another model's bytes")
    with pytest.raises(RefusedError, match="already exists and differs"):
        ModelStoreUploader(s3, world.bucket).upload(artifact)  # type: ignore[arg-type]
    key = f"models/{artifact.version}/model.onnx"
    assert world.s3.get_object(Bucket=world.bucket, Key=key)["Body"].read() == b"another model's bytes"


def test_a_publish_that_loses_the_race_to_the_same_bytes_succeeds(
    world: World, trained_model: tuple[Path, ModelMetadata]
) -> None:
    artifact = validate_artifact(trained_model[0])
    s3 = RacingS3(world.s3, artifact.files["model.onnx"])
    planned = ModelStoreUploader(s3, world.bucket).upload(artifact)  # type: ignore[arg-type]
    assert [item.action for item in planned] == ["unchanged", "upload"]  # metadata written by us
    key = f"models/{artifact.version}/metadata.json"
    assert world.s3.get_object(Bucket=world.bucket, Key=key)["Body"].read() == artifact.files["metadata.json"]
