"""Each handler reads its environment once into frozen settings (`Settings.from_env`), with the same
variable names and the same errors for a missing or malformed value as the stack and the workflows
expect; then `build(settings)` wires the collaborators without touching the network."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Iterator
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from moto import mock_aws

COMMON = {"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Imports a handler module afresh under the given environment (and moto: clients are created)."""
    loaded: list[str] = []

    def _load(name: str, environ: dict[str, str]) -> ModuleType:
        for key, value in {**COMMON, **environ}.items():
            monkeypatch.setenv(key, value)
        sys.modules.pop(name, None)
        loaded.append(name)
        return importlib.import_module(name)

    with mock_aws():
        yield _load
    for name in loaded:
        sys.modules.pop(name, None)


def test_shadow_settings(load: Any) -> None:
    module = load("shadow.handler", {"MODEL_BUCKET": "models", "LOG_BUCKET": "logs"})
    settings = module.Settings.from_env({"MODEL_BUCKET": "models", "LOG_BUCKET": "logs"})
    assert settings == module.Settings(model_bucket="models", log_bucket="logs")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.log_bucket = "other"
    with pytest.raises(RuntimeError, match="LOG_BUCKET"):
        module.Settings.from_env({"MODEL_BUCKET": "models"})


def test_monitor_settings(load: Any) -> None:
    environ = {
        "MODEL_BUCKET": "models",
        "LOG_BUCKET": "logs",
        "METRICS_NAMESPACE": "Serving",
        "SERVICE_NAME": "svc",
    }
    module = load("monitor.handler", environ)
    settings = module.Settings.from_env({**environ, "WINDOW_HOURS": "6"})
    assert settings.model_bucket == "models"
    assert settings.monitor.window == timedelta(hours=6)
    assert (settings.monitor.metric_name, settings.monitor.min_labelled) == ("f1_macro", 20)
    with pytest.raises(RuntimeError, match="WINDOW_HOURS"):
        module.Settings.from_env({**environ, "WINDOW_HOURS": "0"})
    with pytest.raises(RuntimeError, match="MODEL_BUCKET"):
        module.Settings.from_env({k: v for k, v in environ.items() if k != "MODEL_BUCKET"})


def test_predictions_settings(load: Any) -> None:
    module = load("predictions.handler", {"PREDICTIONS_TABLE": "table"})
    assert module.table.table_name == "table"
    assert module.Settings.from_env({"PREDICTIONS_TABLE": "t"}).log_level == "INFO"
    with pytest.raises(KeyError, match="PREDICTIONS_TABLE"):
        module.Settings.from_env({})


def test_precompute_score_settings(load: Any) -> None:
    environ = {"PREDICTIONS_TABLE": "table", "MODEL_BUCKET": "models", "WORK_BUCKET": "work"}
    module = load("precompute_score.handler", {**environ, "PREDICTION_TTL_DAYS": "7"})
    assert (module.worker.work_bucket, module.worker.ttl_days) == ("work", 7)
    assert module.Settings.from_env(environ).ttl_days == 0
    with pytest.raises(RuntimeError, match="WORK_BUCKET"):
        module.Settings.from_env({k: v for k, v in environ.items() if k != "WORK_BUCKET"})
    with pytest.raises(ValueError):
        module.Settings.from_env({**environ, "PREDICTION_TTL_DAYS": "seven"})


def test_precompute_control_settings_are_per_step(load: Any) -> None:
    # The switch function has no MAX_ITEMS: the module imports, and each step reads only its own.
    module = load("precompute_control.handler", {"PREDICTIONS_TABLE": "table"})
    assert module.SwitchSettings.from_env({"PREDICTIONS_TABLE": "table"}).predictions_table == "table"
    environ = {"PREDICTIONS_TABLE": "t", "WORK_BUCKET": "w", "MODEL_BUCKET": "m", "MAX_ITEMS": "10"}
    settings = module.PlanSettings.from_env(environ)
    assert (settings.max_items, settings.chunk_size, settings.default_input_uri) == (10, 5000, "")
    step = module.build_plan(settings)
    assert (step.planner.work_bucket, step.planner.max_items) == ("w", 10)
    with pytest.raises(RuntimeError, match="MAX_ITEMS"):
        module.PlanSettings.from_env({k: v for k, v in environ.items() if k != "MAX_ITEMS"})
    with pytest.raises(RuntimeError, match="PREDICTIONS_TABLE"):
        module.SwitchSettings.from_env({})
