"""Resolving MODEL_URI to a local artifact directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from common.model.artifact_source import parse_s3_uri, resolve_model_dir
from common.model.metadata import ModelMetadata
from common.model.onnx_model import ModelLoadError, OnnxModel


class FakeS3:
    """Serves files from a local folder as if it were s3://bucket/models/<version>/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[tuple[str, str]] = []

    def download_file(self, Bucket: str, Key: str, Filename: str) -> None:
        self.calls.append((Bucket, Key))
        shutil.copy(self.root / Key.rsplit("/", 1)[1], Filename)


def test_s3_uri_is_downloaded_once_and_cached(
    trained_model: tuple[Path, ModelMetadata], tmp_path: Path
) -> None:
    artifact_dir, metadata = trained_model
    s3 = FakeS3(artifact_dir)
    uri = f"s3://store/models/{metadata.version}"
    first = resolve_model_dir(uri, s3_client=s3, cache_dir=tmp_path)
    second = resolve_model_dir(uri, s3_client=s3, cache_dir=tmp_path)
    assert first == second == tmp_path / "store" / "models" / metadata.version
    assert sorted(s3.calls) == [
        ("store", f"models/{metadata.version}/metadata.json"),
        ("store", f"models/{metadata.version}/model.onnx"),
    ]
    assert OnnxModel.load(first).version == metadata.version


def test_local_directory_is_used_in_place(trained_model: tuple[Path, ModelMetadata]) -> None:
    artifact_dir, _ = trained_model
    assert resolve_model_dir(str(artifact_dir)) == artifact_dir


def test_missing_local_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        resolve_model_dir(str(tmp_path / "nope"))


@pytest.mark.parametrize("uri", ["s3://", "s3:///key", "http://x/y"])
def test_bad_s3_uris(uri: str) -> None:
    with pytest.raises(ValueError):
        parse_s3_uri(uri)


def test_tampered_model_is_refused(trained_model: tuple[Path, ModelMetadata], tmp_path: Path) -> None:
    artifact_dir, _ = trained_model
    copy = tmp_path / "copy"
    shutil.copytree(artifact_dir, copy)
    with (copy / "model.onnx").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelLoadError, match="was modified after it was written"):
        OnnxModel.load(copy)


def test_metadata_that_does_not_match_the_graph_is_refused(
    trained_model: tuple[Path, ModelMetadata], tmp_path: Path
) -> None:
    import json

    artifact_dir, _ = trained_model
    copy = tmp_path / "copy"
    shutil.copytree(artifact_dir, copy)
    raw = json.loads((copy / "metadata.json").read_text())
    raw["feature_names"] = raw["feature_names"][:5]
    (copy / "metadata.json").write_text(json.dumps(raw))
    with pytest.raises(ModelLoadError, match="does not take 5 features"):
        OnnxModel.load(copy)
