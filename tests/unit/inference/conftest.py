"""The inference handler in-process: a classifier's and regressors' artifacts, the handler module
loaded for one of them, its log stream and an `invoke` that sends real API Gateway proxy events."""

from __future__ import annotations

import importlib
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from common.model.metadata import ModelMetadata
from localcloud.events import rest_proxy_event
from tests.helpers import FakeLambdaContext
from tests.unit.inference.support import Invoke, RegressionReference


def _trained_regressor(model_root: Path, pipeline: str) -> RegressionReference:
    """A built-in regressor trained on diabetes, with the fitted scikit-learn estimator and the
    float32 holdout rows the artifact was not trained on."""
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.task import REGRESSION, split_holdout, target_for
    from training.train import train_model

    data = load_builtin("diabetes")
    estimator = build_pipeline(pipeline)
    result = train_model(data, estimator, output_root=model_root)  # fits `estimator`
    info = result.metadata.training_data
    split = split_holdout(
        data.X,
        target_for(REGRESSION, data.y),
        task=REGRESSION,
        test_size=info["test_size"],
        seed=info["seed"],
    )
    return RegressionReference(
        result.artifact_dir, result.metadata, estimator, np.asarray(split.X_test, dtype=np.float32)
    )


@pytest.fixture(scope="session")
def ridge_model(model_root: Path) -> RegressionReference:
    return _trained_regressor(model_root, "ridge")


@pytest.fixture(scope="session")
def forest_regressor_model(model_root: Path) -> RegressionReference:
    return _trained_regressor(model_root, "random_forest_regressor")


@pytest.fixture()
def served_model(request: pytest.FixtureRequest) -> tuple[Path, ModelMetadata]:
    """The artifact the handler serves: the classifier, unless a test names "regressor" (a ridge
    pipeline) or "tree_regressor" through indirect parametrization."""
    kind = getattr(request, "param", "classifier")
    if kind == "classifier":
        trained: tuple[Path, ModelMetadata] = request.getfixturevalue("trained_model")
        return trained
    reference: RegressionReference = request.getfixturevalue(
        "ridge_model" if kind == "regressor" else "forest_regressor_model"
    )
    return reference.artifact_dir, reference.metadata


@pytest.fixture()
def handler_module(
    served_model: tuple[Path, ModelMetadata], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    artifact_dir, _ = served_model
    monkeypatch.setenv("MODEL_URI", str(artifact_dir))
    monkeypatch.setenv("MAX_ROWS", "50")
    monkeypatch.setenv("MAX_BODY_BYTES", "60000")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "inference")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ModelServingTest")
    sys.modules.pop("inference.handler", None)
    module = importlib.import_module("inference.handler")
    yield module
    sys.modules.pop("inference.handler", None)


@pytest.fixture()
def log_stream(handler_module: ModuleType) -> Iterator[io.StringIO]:
    """The handler writes its request log lines and EMF metrics lines to the stdout it saw at init,
    and Powertools' Logger (internal errors) likewise: point both at a buffer we can read."""
    stream = io.StringIO()
    handler_module.app.stream = stream
    previous = handler_module.logger.get().registered_handler.setStream(stream)
    yield stream
    if previous is not None:  # Powertools' logging handler outlives this module object
        handler_module.logger.get().registered_handler.setStream(previous)


@pytest.fixture()
def invoke(handler_module: ModuleType) -> Invoke:
    def _invoke(
        method: str = "POST",
        path: str = "/predict",
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: str | bytes | None = None,
        context: FakeLambdaContext | None = None,
    ) -> dict[str, Any]:
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        event = rest_proxy_event(
            method,
            path,
            body=payload,
            headers={"Content-Type": "application/json"} if headers is None else headers,
        )
        result: dict[str, Any] = handler_module.handler(event, context or FakeLambdaContext())
        return result

    return _invoke
