"""ServingConfig: defaults, overrides from context and the command line, and clear errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import SECTIONS, ConfigError, ServingConfig, context_fields, newest_model_version
from infra.config.checks import context_keys
from infra.config.runtime import LOG_RETENTION_DAYS
from infra.config.shadow import ShadowConfig
from infra.constructs.retention import RETENTION_DAYS
from tests.unit.infra.infra_support import REPO_ROOT, cdk_json_context


def write_artifact(root: Path, version: str, created_at: str, *, metadata_version: str | None = None) -> Path:
    folder = root / version
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"onnx")
    metadata = {"version": metadata_version or version, "created_at": created_at}
    (folder / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return folder


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    root = tmp_path / "model_artifacts"
    write_artifact(root, "m-000000000001", "2026-01-01T00:00:00+00:00")
    write_artifact(root, "m-000000000002", "2026-03-01T00:00:00+00:00")
    write_artifact(root, "m-000000000003", "2026-02-01T00:00:00+00:00")
    return root


def load(raw: Any = None, overrides: dict[str, Any] | None = None, *, base_dir: Path) -> ServingConfig:
    return ServingConfig.from_context(raw, overrides=overrides, base_dir=base_dir)


# -- defaults and overrides -----------------------------------------------------------------------


def test_defaults_choose_the_newest_artifact(artifacts: Path) -> None:
    config = load({"model_artifacts_dir": str(artifacts)}, base_dir=REPO_ROOT)
    inference, runtime, api = config.inference, config.runtime, config.api
    assert inference.model_version == "m-000000000002"
    assert inference.model_artifact_dir == artifacts / "m-000000000002"
    assert inference.model_key_prefix == "models/m-000000000002/"
    assert (config.project, runtime.architecture, runtime.python_version) == ("ModelServing", "arm64", "3.13")
    assert (inference.memory_mb, inference.timeout_seconds, inference.provisioned_concurrency) == (
        1024,
        15,
        0,
    )
    assert (api.max_rows, api.max_body_bytes) == (1000, 262_144)
    assert api.api_auth == "api_key"
    assert api.cors_origins == ()
    assert runtime.log_retention_days == 30


def test_relative_artifacts_dir_is_resolved_against_the_app_folder(tmp_path: Path, artifacts: Path) -> None:
    config = load({"model_artifacts_dir": "model_artifacts"}, base_dir=tmp_path)
    assert config.inference.model_artifacts_dir == artifacts.resolve()


def test_cdk_json_serving_block_matches_the_dataclass_defaults() -> None:
    """cdk.json documents the defaults: it must say what the code does."""
    serving = cdk_json_context()["serving"]
    fields = context_fields()
    assert set(serving) == set(fields)
    for name, value in serving.items():
        default = fields[name].default
        if name == "model_version":
            assert value == ""
        elif name == "model_artifacts_dir":
            assert Path(value) == default
        elif name in ("cors_origins", "jwt_audience"):
            assert tuple(value) == default
        else:
            assert value == default, name


def test_explicit_version_and_context_values(artifacts: Path) -> None:
    config = load(
        {
            "model_artifacts_dir": str(artifacts),
            "model_version": "m-000000000001",
            "memory_mb": 2048,
            "architecture": "x86_64",
            "api_auth": "iam",
            "cors_origins": ["https://app.example.com"],
            "throttle_rate_limit": 10,
            "alarm_error_rate_percent": 2,
        },
        base_dir=REPO_ROOT,
    )
    assert config.inference.model_version == "m-000000000001"
    assert config.inference.memory_mb == 2048
    assert config.runtime.architecture == "x86_64"
    assert config.api.api_auth == "iam"
    assert config.api.cors_origins == ("https://app.example.com",)
    assert config.api.throttle_rate_limit == 10.0 and isinstance(config.api.throttle_rate_limit, float)
    assert isinstance(config.alarms.error_rate_percent, float)


def test_command_line_overrides_are_parsed_by_field_type(artifacts: Path) -> None:
    config = load(
        {"model_artifacts_dir": str(artifacts), "memory_mb": 512},
        {
            "memory_mb": "3008",
            "validate_request_body": "false",
            "throttle_rate_limit": "12.5",
            "cors_origins": "https://a.example.com, https://b.example.com",
            "model_version": "m-000000000003",
        },
        base_dir=REPO_ROOT,
    )
    assert config.inference.memory_mb == 3008
    assert config.api.validate_request_body is False
    assert config.api.throttle_rate_limit == 12.5
    assert config.api.cors_origins == ("https://a.example.com", "https://b.example.com")
    assert config.inference.model_version == "m-000000000003"


def test_serving_context_may_be_a_json_string(artifacts: Path) -> None:
    config = load(json.dumps({"model_artifacts_dir": str(artifacts), "max_rows": 10}), base_dir=REPO_ROOT)
    assert config.api.max_rows == 10


def test_config_is_frozen_and_keyword_only(artifacts: Path) -> None:
    config = load({"model_artifacts_dir": str(artifacts)}, base_dir=REPO_ROOT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.inference.memory_mb = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.api = config.api  # type: ignore[misc]
    with pytest.raises(TypeError):
        ServingConfig("ModelServing")  # type: ignore[call-arg]


def test_every_allowed_retention_maps_to_a_cdk_value() -> None:
    assert sorted(RETENTION_DAYS) == sorted(LOG_RETENTION_DAYS)


# -- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("project", "1-bad", "serving.project must start with a letter"),
        ("project", "has space", "serving.project"),
        ("architecture", "arm", "serving.architecture must be one of arm64, x86_64, got 'arm'"),
        ("python_version", "3.9", "serving.python_version must be one of 3.12, 3.13, 3.14"),
        ("memory_mb", 64, "serving.memory_mb must be an integer from 128 to 10240, got 64"),
        ("memory_mb", "1024", "serving.memory_mb must be an integer"),
        ("memory_mb", True, "serving.memory_mb must be an integer"),
        ("timeout_seconds", 30, "serving.timeout_seconds must be an integer from 1 to 29 (API Gateway"),
        ("provisioned_concurrency", -1, "serving.provisioned_concurrency"),
        ("model_version", "../escape", "serving.model_version must be an artifact folder name"),
        ("max_rows", 0, "serving.max_rows must be an integer from 1"),
        ("max_body_bytes", 7_000_000, "serving.max_body_bytes must be an integer from 1 to 6000000"),
        ("throttle_rate_limit", 0, "serving.throttle_rate_limit must be a number"),
        ("throttle_rate_limit", "fast", "serving.throttle_rate_limit must be a number"),
        ("throttle_burst_limit", 10, "serving.throttle_burst_limit must be at least throttle_rate_limit"),
        ("api_auth", "cognito", "serving.api_auth must be one of api_key, iam, jwt, none, got 'cognito'"),
        ("api_type", "graphql", "serving.api_type must be one of rest, http, function_url, got 'graphql'"),
        ("api_auth", "jwt", "serving.api_auth api_type=rest offers api_key, iam, none, got 'jwt'"),
        ("stage_name", "prod-1", "serving.stage_name"),
        ("validate_request_body", "yes", "serving.validate_request_body must be true or false"),
        ("api_gateway_cloudwatch_role", 1, "serving.api_gateway_cloudwatch_role must be true or false"),
        ("cors_origins", ["https://a.example.com/path"], "serving.cors_origins each origin must be"),
        ("cors_origins", ["*", "https://a.example.com"], "serving.cors_origins '*' cannot be combined"),
        ("cors_origins", 5, "serving.cors_origins must be a list of strings"),
        ("log_retention_days", 31, "serving.log_retention_days must be one of CloudWatch's values"),
        ("log_level", "verbose", "serving.log_level must be one of DEBUG"),
        ("service_name", "", "serving.service_name"),
        ("metrics_namespace", "AWS/Lambda", "serving.metrics_namespace"),
        ("alarm_errors_threshold", 0, "serving.alarm_errors_threshold"),
        ("alarm_error_rate_percent", 150, "serving.alarm_error_rate_percent must be a percentage"),
        ("alarm_p99_duration_ms", 20_000, "serving.alarm_p99_duration_ms must be an integer from 1 to 15000"),
        ("alarm_period_seconds", 45, "serving.alarm_period_seconds must be 10, 30 or a multiple of 60"),
        ("alarm_evaluation_periods", 0, "serving.alarm_evaluation_periods"),
        ("model_artifacts_dir", "", "serving.model_artifacts_dir must be a path"),
        ("shadow_reserved_concurrency", 4, "serving.shadow_reserved_concurrency must be 0 or at least"),
        ("shadow_reserved_concurrency", -1, "serving.shadow_reserved_concurrency must be an integer"),
        ("precompute_reserved_concurrency", 19, "serving.precompute_reserved_concurrency must be 0 or at"),
    ],
)
def test_invalid_values_name_the_key(artifacts: Path, key: str, value: Any, expected: str) -> None:
    raw = {"model_artifacts_dir": str(artifacts), key: value}
    with pytest.raises(ConfigError) as excinfo:
        load(raw, base_dir=REPO_ROOT)
    assert expected in str(excinfo.value)


def test_unknown_keys_are_rejected_by_name(artifacts: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) memory, timeout; known keys are .*memory_mb"):
        load({"model_artifacts_dir": str(artifacts), "memory": 1, "timeout": 2}, base_dir=REPO_ROOT)


def test_unknown_command_line_override_is_rejected(artifacts: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key.*memroy_mb"):
        load({"model_artifacts_dir": str(artifacts)}, {"memroy_mb": "512"}, base_dir=REPO_ROOT)


def test_unparsable_command_line_override_names_the_key(artifacts: Path) -> None:
    with pytest.raises(ConfigError, match=r"serving\.memory_mb must be int, got 'lots' on the command line"):
        load({"model_artifacts_dir": str(artifacts)}, {"memory_mb": "lots"}, base_dir=REPO_ROOT)


def test_non_object_context_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="serving context must be a JSON object"):
        load([1, 2], base_dir=tmp_path)
    with pytest.raises(ConfigError, match="serving context must be a JSON object"):
        load("{not json", base_dir=tmp_path)


def test_no_artifact_tells_to_train_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no model artifact under .*Run `make model` first"):
        load({"model_artifacts_dir": str(tmp_path / "empty")}, base_dir=REPO_ROOT)


def test_incomplete_artifacts_are_not_candidates(tmp_path: Path) -> None:
    (tmp_path / "m-half").mkdir()
    (tmp_path / "m-half" / "model.onnx").write_bytes(b"x")
    with pytest.raises(ConfigError, match="no model artifact"):
        newest_model_version(tmp_path)


def test_unknown_version_lists_the_available_ones(artifacts: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load({"model_artifacts_dir": str(artifacts), "model_version": "m-ffffffffffff"}, base_dir=REPO_ROOT)
    message = str(excinfo.value)
    assert "serving.model_version" in message and "lacks model.onnx, metadata.json" in message
    assert "available: m-000000000001, m-000000000002, m-000000000003" in message


def test_metadata_must_agree_with_the_folder_name(tmp_path: Path) -> None:
    write_artifact(tmp_path, "m-aaaaaaaaaaaa", "2026-01-01T00:00:00+00:00", metadata_version="m-bbbbbbbbbbbb")
    with pytest.raises(ConfigError, match="says version 'm-bbbbbbbbbbbb', not 'm-aaaaaaaaaaaa'"):
        load({"model_artifacts_dir": str(tmp_path)}, base_dir=REPO_ROOT)


def test_unreadable_metadata_is_reported(tmp_path: Path) -> None:
    folder = write_artifact(tmp_path, "m-aaaaaaaaaaaa", "2026-01-01T00:00:00+00:00")
    (folder / "metadata.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cannot read .*metadata\.json"):
        load({"model_artifacts_dir": str(tmp_path)}, base_dir=REPO_ROOT)


# -- sections -----------------------------------------------------------------------------------------


def test_every_context_key_belongs_to_exactly_one_section() -> None:
    keys = [key for section in SECTIONS.values() for key in context_keys(section)]
    assert len(keys) == len(set(keys))
    assert set(context_fields()) == {"project", *keys}


def test_a_section_validates_itself_and_names_the_flat_key() -> None:
    with pytest.raises(ConfigError, match=r"serving\.shadow_batch_size above 10 needs"):
        ShadowConfig(batch_size=20, batching_window_seconds=0)
    assert ShadowConfig(batch_size=10, batching_window_seconds=0).batch_size == 10


def test_the_p99_alarm_is_bounded_by_the_inference_timeout(artifacts: Path) -> None:
    raw = {"model_artifacts_dir": str(artifacts), "timeout_seconds": 2, "alarm_p99_duration_ms": 2000}
    assert load(raw, base_dir=REPO_ROOT).alarms.p99_duration_ms == 2000
    with pytest.raises(ConfigError, match=r"alarm_p99_duration_ms must be an integer from 1 to 2000"):
        load({**raw, "alarm_p99_duration_ms": 2001}, base_dir=REPO_ROOT)


def test_a_regression_gate_metric_takes_a_margin_in_the_target_s_units() -> None:
    from infra.config.retrain import RetrainConfig

    assert RetrainConfig(gate_metric="rmse", gate_margin=2.5).gate_margin == 2.5
    with pytest.raises(ConfigError, match="retrain_gate_margin must be a finite number"):
        RetrainConfig(gate_metric="mae", gate_margin=float("inf"))
    with pytest.raises(ConfigError, match="retrain_gate_margin must be a number from -1 to 1"):
        RetrainConfig(gate_metric="accuracy", gate_margin=2.5)
