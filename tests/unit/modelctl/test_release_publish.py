"""`modelctl publish`: validation, immutable upload, a version pinning the model, idempotence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from common.model.metadata import ModelMetadata
from release.errors import ArtifactError
from release.publish import validate_artifact
from tests.unit.modelctl.world import World, build_world, run_cli


@pytest.fixture()
def artifact(trained_model: tuple[Path, ModelMetadata], tmp_path: Path) -> Path:
    """A private copy of the trained artifact that a test may damage."""
    source, metadata = trained_model
    target = tmp_path / metadata.version
    shutil.copytree(source, target)
    return target


def edit_metadata(artifact: Path, **changes: Any) -> None:
    path = artifact / "metadata.json"
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data))


def test_a_complete_artifact_passes_every_check(artifact: Path) -> None:
    validated = validate_artifact(artifact)
    assert validated.version == artifact.name
    assert any("parity recorded" in check for check in validated.checks)
    assert any("predicts its 5 sample rows" in check for check in validated.checks)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"feature_names": None}, "metadata is missing required fields: feature_names"),
        ({"onnx_sha256": "0" * 64}, "the artifact was modified after it was written"),
        ({"input_name": "x"}, "do not match metadata input 'x'"),
        ({"parity": {}}, "parity is not recorded"),
        (
            {
                "parity": {
                    "rows": 10,
                    "labels_equal": False,
                    "max_abs_probability_diff": 0.2,
                    "tolerance": 1e-5,
                }
            },
            "parity failed",
        ),
        ({"sample_rows": []}, "has no sample_rows"),
    ],
)
def test_broken_artifacts_are_refused_with_the_reason(
    artifact: Path, changes: dict[str, Any], message: str
) -> None:
    edit_metadata(artifact, **changes)
    with pytest.raises(ArtifactError, match=message):
        validate_artifact(artifact)


def test_a_corrupt_graph_is_refused(artifact: Path) -> None:
    (artifact / "model.onnx").write_bytes(b"not an onnx graph")
    with pytest.raises(ArtifactError, match="sha256"):
        validate_artifact(artifact)


def test_publish_uploads_sets_model_uri_keeps_the_rest_and_prints_the_version(
    world: World, artifact: Path
) -> None:
    code, output, result = run_cli(world.factory(), "publish", str(artifact), "--reason", "retrained")
    assert code == 0, output
    assert result.stdout.strip().splitlines()[-1] == "4"
    version = world.lambda_.get_function_configuration(FunctionName=world.function, Qualifier="4")
    variables = version["Environment"]["Variables"]
    assert variables["MODEL_URI"] == f"s3://{world.bucket}/models/{artifact.name}/"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "inference" and variables["MAX_ROWS"] == "1000"
    stored = world.s3.get_object(Bucket=world.bucket, Key=f"models/{artifact.name}/model.onnx")["Body"].read()
    assert stored == (artifact / "model.onnx").read_bytes()
    entry = world.history_items()[-1]
    assert (entry["action"], entry["outcome"], entry["version"], entry["model_version"]) == (
        "publish",
        "published",
        "4",
        artifact.name,
    )
    assert world.alias_routing() == ("1", {})  # publishing moves no traffic


def test_publishing_the_same_artifact_again_is_idempotent(world: World, artifact: Path) -> None:
    run_cli(world.factory(), "publish", str(artifact))
    code, output, result = run_cli(world.factory(), "publish", str(artifact))
    assert code == 0
    assert "already published as version 4" in output
    assert result.stdout.strip().splitlines()[-1] == "4"
    versions = world.lambda_.list_versions_by_function(FunctionName=world.function)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2", "3", "4"]


def test_an_artifact_with_other_bytes_under_the_same_version_is_refused(world: World, artifact: Path) -> None:
    world.s3.put_object(Bucket=world.bucket, Key=f"models/{artifact.name}/model.onnx", Body=b"other bytes")
    code, output, _ = run_cli(world.factory(), "publish", str(artifact))
    assert code == 1
    assert "model.onnx already exists and differs (sha256" in output and "artifacts are immutable" in output
    assert len(world.lambda_.list_versions_by_function(FunctionName=world.function)["Versions"]) == 4


def test_the_same_model_trained_again_keeps_the_stored_metadata(world: World, artifact: Path) -> None:
    """Retraining writes the same model.onnx (same version) with a new created_at: not a conflict."""
    stored = json.loads((artifact / "metadata.json").read_text())
    stored["created_at"] = "2020-01-01T00:00:00+00:00"
    world.s3.put_object(
        Bucket=world.bucket, Key=f"models/{artifact.name}/metadata.json", Body=json.dumps(stored)
    )
    world.s3.put_object(
        Bucket=world.bucket,
        Key=f"models/{artifact.name}/model.onnx",
        Body=(artifact / "model.onnx").read_bytes(),
    )
    code, output, _ = run_cli(world.factory(), "publish", str(artifact))
    assert code == 0, output
    assert f"unchanged s3://{world.bucket}/models/{artifact.name}/metadata.json" in output
    kept = world.s3.get_object(Bucket=world.bucket, Key=f"models/{artifact.name}/metadata.json")[
        "Body"
    ].read()
    assert json.loads(kept)["created_at"] == "2020-01-01T00:00:00+00:00"


def test_metadata_that_differs_in_what_it_serves_is_refused(world: World, artifact: Path) -> None:
    stored = json.loads((artifact / "metadata.json").read_text())
    stored["sample_rows"] = stored["sample_rows"][:1]
    world.s3.put_object(
        Bucket=world.bucket, Key=f"models/{artifact.name}/metadata.json", Body=json.dumps(stored)
    )
    code, output, _ = run_cli(world.factory(), "publish", str(artifact))
    assert code == 1
    assert "metadata.json already exists and differs in sample_rows" in output


def test_publish_dry_run_uploads_and_publishes_nothing(world: World, artifact: Path) -> None:
    code, output, _ = run_cli(world.factory(), "publish", str(artifact), "--dry-run")
    assert code == 0
    assert "would upload" in output and "dry run: nothing changed" in output
    assert "Contents" not in world.s3.list_objects_v2(Bucket=world.bucket, Prefix=f"models/{artifact.name}/")
    assert len(world.lambda_.list_versions_by_function(FunctionName=world.function)["Versions"]) == 4


def test_a_broken_artifact_is_refused_before_aws_is_touched(world: World, artifact: Path) -> None:
    edit_metadata(artifact, parity={})
    code, output, _ = run_cli(world.factory(), "publish", str(artifact))
    assert code == 1 and "parity is not recorded" in output
    assert "Contents" not in world.s3.list_objects_v2(Bucket=world.bucket, Prefix=f"models/{artifact.name}/")


def test_a_model_with_other_features_than_the_live_one_is_refused(
    aws: None, metadata: dict[str, Any], artifact: Path
) -> None:
    renamed = dict(metadata, feature_names=[f"f{i}" for i in range(len(metadata["feature_names"]))])
    world = build_world(renamed)
    code, output, _ = run_cli(world.factory(), "publish", str(artifact))
    assert code == 1 and "takes different features than the live model m-one" in output
    code, _, _ = run_cli(world.factory(), "publish", str(artifact), "--allow-feature-change")
    assert code == 0


def test_publish_json_output(world: World, artifact: Path) -> None:
    code, _, result = run_cli(world.factory(), "publish", str(artifact), "--json")
    assert code == 0
    assert json.loads(result.stdout) == {
        "version": "4",
        "created": True,
        "model_version": artifact.name,
        "model_uri": f"s3://{world.bucket}/models/{artifact.name}/",
        "function": world.function,
    }


class ConflictingLambda:
    """$LATEST updated by someone else between our read and our update, as Lambda reports it (moto
    neither returns a function RevisionId nor checks one)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.revision_ids: list[str | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def get_function_configuration(self, **kwargs: Any) -> Any:
        return {"RevisionId": "rev-read", **self.real.get_function_configuration(**kwargs)}

    def update_function_configuration(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        self.revision_ids.append(kwargs.get("RevisionId"))
        raise ClientError(
            {"Error": {"Code": "PreconditionFailedException", "Message": "revision mismatch"}},
            "UpdateFunctionConfiguration",
        )


def test_a_concurrent_change_to_latest_stops_publish(world: World, artifact: Path) -> None:
    factory = world.factory()
    conflicting = ConflictingLambda(factory.clients.lambda_)
    factory.clients.__dict__["lambda_"] = conflicting
    code, output, _ = run_cli(factory, "publish", str(artifact))
    assert code == 1
    assert "$LATEST of inference was changed by someone else meanwhile" in output
    assert conflicting.revision_ids == ["rev-read"]


@pytest.fixture(scope="module")
def regression_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.train import train_model

    root = tmp_path_factory.mktemp("regression_artifacts")
    return train_model(load_builtin("diabetes"), build_pipeline("ridge"), output_root=root).artifact_dir


def test_a_regression_artifact_passes_every_check(regression_artifact: Path) -> None:
    validated = validate_artifact(regression_artifact)
    assert validated.metadata.task == "regression"
    assert any("max relative |dy|" in check for check in validated.checks)
    assert any("predicts its 5 sample rows" in check for check in validated.checks)


def test_a_regression_artifact_whose_parity_failed_is_refused(
    regression_artifact: Path, tmp_path: Path
) -> None:
    artifact = tmp_path / regression_artifact.name
    shutil.copytree(regression_artifact, artifact)
    parity = json.loads((artifact / "metadata.json").read_text())["parity"]
    edit_metadata(artifact, parity={**parity, "max_rel_diff": 0.01})
    with pytest.raises(ArtifactError, match="parity failed"):
        validate_artifact(artifact)


def test_a_model_of_another_task_than_the_live_one_is_refused(
    regression_artifact: Path, trained_model: tuple[Path, ModelMetadata]
) -> None:
    from release.errors import RefusedError
    from release.publish import check_compatible

    regressor = validate_artifact(regression_artifact).metadata
    with pytest.raises(RefusedError, match=r"regression model but the live model .* is a classification"):
        check_compatible(regressor, trained_model[1])
