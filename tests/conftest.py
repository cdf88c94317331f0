"""Fixtures for every tier: fake AWS credentials and a trained model artifact."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from common.model.metadata import ModelMetadata

REPO_ROOT = Path(__file__).resolve().parent.parent

# Property tests: no per-example deadline on these noisy machines. `make test` explores new examples
# each run (and replays the ones that failed before, from .hypothesis/); CI (`--hypothesis-profile=ci`,
# set by .ci/run) draws the same examples every run, so a clean clone's result is the one CI gets.
settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, database=None, print_blob=True)

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(autouse=True, scope="session")
def fake_aws_credentials() -> Iterator[None]:
    """No test may use real credentials: they are replaced for the whole session."""
    saved = {key: os.environ.get(key) for key in [*FAKE_AWS_ENV, "AWS_PROFILE", "AWS_ENDPOINT_URL"]}
    os.environ.update(FAKE_AWS_ENV)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model_artifacts")


@pytest.fixture(scope="session")
def trained_model(model_root: Path) -> tuple[Path, ModelMetadata]:
    """The default pipeline trained on the bundled data set, written to a temporary artifact root."""
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.train import train_model

    result = train_model(load_builtin(), build_pipeline("logistic_regression"), output_root=model_root)
    return result.artifact_dir, result.metadata


@pytest.fixture(scope="session")
def holdout(trained_model: tuple[Path, ModelMetadata]) -> tuple[object, object, object]:
    """(X_holdout, fitted scikit-learn pipeline, metadata): the reference the ONNX model must match."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    from training.data import load_builtin
    from training.pipelines import build_pipeline

    _, metadata = trained_model
    data = load_builtin()
    info = metadata.training_data
    X_train, X_test, y_train, _ = train_test_split(
        data.X, data.y, test_size=info["test_size"], random_state=info["seed"], stratify=data.y
    )
    estimator = build_pipeline("logistic_regression")
    estimator.fit(X_train.astype(np.float32).astype(np.float64), y_train)
    return X_test.astype(np.float32), estimator, metadata
