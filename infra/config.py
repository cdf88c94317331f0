"""Typed configuration of the serving stacks, read from the `serving` key of the CDK context.

`cdk.json` holds the project's defaults under `"serving": {...}`; a single field can be overridden
for one run with `-c serving.<field>=<value>` (e.g. `cdk synth -c serving.model_version=m-2f4854ecd677`).
Only `app.py` reads context; it hands the raw values to `ServingConfig.from_context`, which
rejects unknown keys and invalid values with an error naming the key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, cast, get_args

from common.layout import METADATA_FILE, MODEL_FILE, model_prefix

CONTEXT_KEY = "serving"
OVERRIDE_PREFIX = f"{CONTEXT_KEY}."

Architecture = Literal["arm64", "x86_64"]
PythonVersion = Literal["3.12", "3.13", "3.14"]
ApiAuth = Literal["api_key", "iam", "none"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
RetrainCompute = Literal["lambda", "sagemaker"]
RetrainRelease = Literal["shadow", "canary", "registered"]
RETRAIN_COMPUTES: tuple[str, ...] = get_args(RetrainCompute)
RETRAIN_RELEASES: tuple[str, ...] = get_args(RetrainRelease)
RETRAIN_GATE_METRICS = ("accuracy", "f1_macro", "roc_auc", "log_loss")
_SCHEDULE_RE = re.compile(r"^(rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)|cron\([^()]+\))$")

ARCHITECTURES: tuple[str, ...] = get_args(Architecture)
PYTHON_VERSIONS: tuple[str, ...] = get_args(PythonVersion)
API_AUTH_MODES: tuple[str, ...] = get_args(ApiAuth)
LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)

# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
# Lambda's synchronous request payload limit is 6 MB (the event wraps the body, so stay below).
MAX_BODY_BYTES_LIMIT = 6_000_000
# API Gateway REST integrations time out at 29 s by default: a longer Lambda timeout is never seen.
API_INTEGRATION_TIMEOUT_S = 29
_PROJECT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,59}$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9._/#:-]{1,255}$")
_ORIGIN_RE = re.compile(r"^(\*|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?)$")
_STAGE_RE = re.compile(r"^[A-Za-z0-9_]{1,128}$")
# The metrics functions/common/observe/classification_metrics.py computes (a unit test keeps them equal).
MONITOR_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro")


class ConfigError(ValueError):
    """A context value is unknown, of the wrong type or out of range; the message names the key."""


@dataclass(frozen=True, kw_only=True)
class ServingConfig:
    """Everything the serving stacks can be told; every field has a default but the model version."""

    project: str = "ModelServing"
    """Prefix of the stack names: `<project>-ModelStore` and `<project>-Serving`."""
    architecture: Architecture = "arm64"
    python_version: PythonVersion = "3.14"
    memory_mb: int = 1024
    timeout_seconds: int = 15
    provisioned_concurrency: int = 0
    """Provisioned concurrency on the `live` alias; 0 = none (pay per request, accept cold starts)."""
    model_artifacts_dir: Path = Path("model_artifacts")
    model_version: str
    """The artifact `<model_artifacts_dir>/<model_version>/` to upload and serve."""
    max_rows: int = 1000
    max_body_bytes: int = 262_144
    throttle_rate_limit: float = 50.0
    """Steady-state requests per second for the stage (and per API key in the usage plan)."""
    throttle_burst_limit: int = 100
    api_auth: ApiAuth = "api_key"
    stage_name: str = "prod"
    validate_request_body: bool = True
    api_gateway_cloudwatch_role: bool = True
    """Create API Gateway's account-wide CloudWatch role (required once per account and region for
    access and execution logs). Set false where the account already has one configured."""
    cors_origins: tuple[str, ...] = ()
    log_retention_days: int = 30
    log_level: LogLevel = "INFO"
    service_name: str = "inference"
    metrics_namespace: str = "ModelServing"
    alarm_errors_threshold: int = 5
    """Errors on the alias per alarm period that raise the errors alarm."""
    alarm_error_rate_percent: float = 5.0
    alarm_p99_duration_ms: int = 1000
    alarm_period_seconds: int = 60
    alarm_evaluation_periods: int = 3
    shadow_batch_size: int = 1000
    """Mirrored messages per shadow function invocation; above 10 needs a batching window of >= 1 s."""
    shadow_batching_window_seconds: int = 5
    """How long the SQS event source gathers messages before invoking the shadow function (0..300)."""
    shadow_timeout_seconds: int = 60
    """The shadow function's timeout; the shadow queue's visibility timeout is six times this."""
    shadow_memory_mb: int = 1024
    shadow_max_receive_count: int = 3
    """Receives of a message the shadow function keeps failing before SQS moves it to the DLQ."""
    shadow_max_concurrency: int = 5
    """Most concurrent shadow invocations, so a shadow never takes the live function's concurrency."""
    shadow_record_expiration_days: int = 30
    """Shadow records (and the log bucket's access logs) expire after this many days."""
    shadow_config_ttl_seconds: int = 5
    """How long the inference function trusts its cached copy of the active shadow configuration."""
    precompute_enabled: bool = True
    """Deploy the precompute stack and GET /predictions/{id} (false: live inference only)."""
    precompute_max_items: int = 1_000_000
    """Most rows (or grid combinations) one precompute run may score; larger inputs are refused
    before any work starts (docs/precompute.md)."""
    precompute_chunk_size: int = 5000
    """Rows per chunk: one scoring Lambda invocation (one item of the distributed Map) each."""
    precompute_max_concurrency: int = 20
    """Chunks scored at once (the distributed Map's MaxConcurrency)."""
    precompute_memory_mb: int = 2048
    precompute_prediction_ttl_days: int = 90
    """Precomputed items expire this many days after they were computed (DynamoDB TTL); 0 = never."""
    precompute_input_uri: str = ""
    """Default input of a run started without one (e.g. by the retraining workflow after a release)."""
    prediction_log_sample_percent: float = 10.0
    """Share of live requests (0..100) logged for monitoring even without a shadow (docs/monitoring.md);
    feedback can only be joined to logged requests."""
    prediction_log_expiration_days: int = 90
    """Logged predictions (`predictions/`) and feedback (`feedback/`) expire after this many days."""
    feedback_max_items: int = 1000
    """Most labels in one `POST /feedback` body."""
    monitor_schedule: str = "rate(1 hour)"
    """How often the monitor function publishes LiveAccuracy and FeatureDrift (EventBridge expression)."""
    monitor_window_hours: int = 24
    """The window (ending now) over which the monitor computes accuracy and drift."""
    monitor_metric: str = "f1_macro"
    """The quality metric reported beside accuracy (accuracy, balanced_accuracy, f1_macro, ...)."""
    monitor_min_labelled: int = 20
    """Labelled predictions a window needs before the monitor publishes LiveAccuracy for it."""
    retrain_compute: RetrainCompute = "lambda"
    """Where the retraining workflow trains: a container-image Lambda, or a SageMaker training job
    (managed scikit-learn image) for data that outgrows one function (docs/retraining.md)."""
    retrain_schedule: str = "rate(7 days)"
    retrain_schedule_enabled: bool = False
    retrain_memory_mb: int = 3008
    retrain_timeout_seconds: int = 900
    retrain_workflow_timeout_minutes: int = 120
    retrain_base_data: str = "sklearn:breast_cancer"
    """`sklearn:<name>` or `s3://bucket/key.csv` (with `retrain_target_column`)."""
    retrain_target_column: str = "target"
    retrain_pipeline: str = "logistic_regression"
    retrain_feedback_lookback_days: int = 30
    retrain_min_feedback_rows: int = 0
    retrain_gate_metric: str = "accuracy"
    retrain_gate_margin: float = 0.01
    retrain_max_class_share: float = 0.95
    retrain_release: RetrainRelease = "shadow"
    retrain_shadow_sample_percent: float = 100.0
    retrain_canary_weight: float = 10.0
    retrain_canary_bake_seconds: int = 0
    retrain_accuracy_alarm_threshold: float = 0.0
    """Start the workflow early when LiveAccuracy over a window falls below this (0 = no alarm)."""
    retrain_accuracy_alarm_period_seconds: int = 3600
    retrain_sagemaker_instance_type: str = "ml.m5.large"
    retrain_sagemaker_image_uri: str = (
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    )
    live_version: str = ""
    """The version the `live` alias names in the template. Empty: the version the stack published
    when it was created; the template then never changes the alias, whose routing belongs to
    `modelctl`. Set it to the live primary only to change an alias property (e.g.
    `provisioned_concurrency`) after releases; `modelctl deploy-check` verifies it first."""

    def __post_init__(self) -> None:
        _check(
            _PROJECT_RE.fullmatch(self.project) is not None,
            "project",
            f"must start with a letter and hold at most 60 letters, digits or '-', got {self.project!r}",
        )
        _check_choice("architecture", self.architecture, ARCHITECTURES)
        _check_choice("python_version", self.python_version, PYTHON_VERSIONS)
        _check_int_range("memory_mb", self.memory_mb, 128, 10_240)
        _check_int_range(
            "timeout_seconds",
            self.timeout_seconds,
            1,
            API_INTEGRATION_TIMEOUT_S,
            hint="API Gateway's integration timeout is 29 s",
        )
        _check_int_range("provisioned_concurrency", self.provisioned_concurrency, 0, 1000)
        _check(
            _VERSION_RE.fullmatch(self.model_version) is not None,
            "model_version",
            f"must be an artifact folder name such as 'm-2f4854ecd677', got {self.model_version!r}",
        )
        _check_int_range("max_rows", self.max_rows, 1, 100_000)
        _check_int_range(
            "max_body_bytes",
            self.max_body_bytes,
            1,
            MAX_BODY_BYTES_LIMIT,
            hint="Lambda's synchronous payload limit is 6 MB",
        )
        _check(
            isinstance(self.throttle_rate_limit, (int, float))
            and not isinstance(self.throttle_rate_limit, bool)
            and 0 < self.throttle_rate_limit <= 10_000,
            "throttle_rate_limit",
            f"must be a number of requests per second in (0, 10000], got {self.throttle_rate_limit!r}",
        )
        _check_int_range("throttle_burst_limit", self.throttle_burst_limit, 1, 5000)
        _check(
            self.throttle_burst_limit >= self.throttle_rate_limit,
            "throttle_burst_limit",
            f"must be at least throttle_rate_limit ({self.throttle_rate_limit}), "
            f"got {self.throttle_burst_limit}",
        )
        _check_choice("api_auth", self.api_auth, API_AUTH_MODES)
        _check(
            _STAGE_RE.fullmatch(self.stage_name) is not None,
            "stage_name",
            f"must hold only letters, digits or '_', got {self.stage_name!r}",
        )
        _check_bool("validate_request_body", self.validate_request_body)
        _check_bool("api_gateway_cloudwatch_role", self.api_gateway_cloudwatch_role)
        for origin in self.cors_origins:
            _check(
                isinstance(origin, str) and _ORIGIN_RE.fullmatch(origin) is not None,
                "cors_origins",
                f"each origin must be '*' or scheme://host[:port] without a path, got {origin!r}",
            )
        _check(
            "*" not in self.cors_origins or len(self.cors_origins) == 1,
            "cors_origins",
            "'*' cannot be combined with other origins",
        )
        _check(
            self.log_retention_days in LOG_RETENTION_DAYS and not isinstance(self.log_retention_days, bool),
            "log_retention_days",
            f"must be one of CloudWatch's values {', '.join(map(str, LOG_RETENTION_DAYS))}, "
            f"got {self.log_retention_days!r}",
        )
        _check_choice("log_level", self.log_level, LOG_LEVELS)
        _check(
            _NAMESPACE_RE.fullmatch(self.service_name) is not None,
            "service_name",
            f"must be 1-255 letters, digits or ._/#:-, got {self.service_name!r}",
        )
        _check(
            _NAMESPACE_RE.fullmatch(self.metrics_namespace) is not None
            and not self.metrics_namespace.startswith("AWS/"),
            "metrics_namespace",
            "must be 1-255 letters, digits or ._/#:- and not start with 'AWS/', "
            f"got {self.metrics_namespace!r}",
        )
        _check_int_range("alarm_errors_threshold", self.alarm_errors_threshold, 1, 1_000_000)
        _check(
            isinstance(self.alarm_error_rate_percent, (int, float))
            and not isinstance(self.alarm_error_rate_percent, bool)
            and 0 < self.alarm_error_rate_percent <= 100,
            "alarm_error_rate_percent",
            f"must be a percentage in (0, 100], got {self.alarm_error_rate_percent!r}",
        )
        _check_int_range(
            "alarm_p99_duration_ms",
            self.alarm_p99_duration_ms,
            1,
            self.timeout_seconds * 1000,
            hint="the function's timeout",
        )
        _check(
            self.alarm_period_seconds in (10, 30)
            or (
                isinstance(self.alarm_period_seconds, int)
                and not isinstance(self.alarm_period_seconds, bool)
                and self.alarm_period_seconds >= 60
                and self.alarm_period_seconds % 60 == 0
            ),
            "alarm_period_seconds",
            f"must be 10, 30 or a multiple of 60, got {self.alarm_period_seconds!r}",
        )
        _check_int_range("alarm_evaluation_periods", self.alarm_evaluation_periods, 1, 100)
        self._check_shadow()
        self._check_precompute()
        self._check_retrain()
        _check(
            isinstance(self.live_version, str)
            and (self.live_version == "" or (self.live_version.isdigit() and int(self.live_version) > 0)),
            "live_version",
            f"must be empty or a published version number such as '7', got {self.live_version!r}",
        )

    def _check_shadow(self) -> None:
        _check_int_range("shadow_batch_size", self.shadow_batch_size, 1, 10_000)
        _check_int_range("shadow_batching_window_seconds", self.shadow_batching_window_seconds, 0, 300)
        _check(
            self.shadow_batch_size <= 10 or self.shadow_batching_window_seconds >= 1,
            "shadow_batch_size",
            "above 10 needs shadow_batching_window_seconds >= 1 (an SQS event source rule), "
            f"got batch size {self.shadow_batch_size} with a window of {self.shadow_batching_window_seconds}",
        )
        _check_int_range(
            "shadow_timeout_seconds", self.shadow_timeout_seconds, 1, 900, hint="Lambda's maximum"
        )
        _check_int_range("shadow_memory_mb", self.shadow_memory_mb, 128, 10_240)
        _check_int_range("shadow_max_receive_count", self.shadow_max_receive_count, 1, 1000)
        _check_int_range("shadow_max_concurrency", self.shadow_max_concurrency, 2, 1000)
        _check_int_range("shadow_record_expiration_days", self.shadow_record_expiration_days, 1, 3650)
        _check_int_range("shadow_config_ttl_seconds", self.shadow_config_ttl_seconds, 1, 300)
        self._check_monitoring()

    def _check_monitoring(self) -> None:
        percent = self.prediction_log_sample_percent
        _check(
            isinstance(percent, (int, float)) and not isinstance(percent, bool) and 0 <= percent <= 100,
            "prediction_log_sample_percent",
            f"must be a percentage from 0 to 100, got {percent!r}",
        )
        _check_int_range("prediction_log_expiration_days", self.prediction_log_expiration_days, 1, 3650)
        _check_int_range("feedback_max_items", self.feedback_max_items, 1, 10_000)
        _check(
            isinstance(self.monitor_schedule, str)
            and _SCHEDULE_RE.fullmatch(self.monitor_schedule) is not None,
            "monitor_schedule",
            f"must be an EventBridge rate(...) or cron(...) expression, got {self.monitor_schedule!r}",
        )
        _check_int_range("monitor_window_hours", self.monitor_window_hours, 1, 24 * 90)
        _check_choice("monitor_metric", self.monitor_metric, MONITOR_METRICS)
        _check_int_range("monitor_min_labelled", self.monitor_min_labelled, 1, 1_000_000)

    def _check_retrain(self) -> None:
        _check_choice("retrain_compute", self.retrain_compute, RETRAIN_COMPUTES)
        _check(
            isinstance(self.retrain_schedule, str)
            and _SCHEDULE_RE.fullmatch(self.retrain_schedule) is not None,
            "retrain_schedule",
            f"must be rate(<n> <unit>) or cron(<6 fields>), got {self.retrain_schedule!r}",
        )
        _check_bool("retrain_schedule_enabled", self.retrain_schedule_enabled)
        _check_int_range("retrain_memory_mb", self.retrain_memory_mb, 512, 10_240)
        _check_int_range(
            "retrain_timeout_seconds", self.retrain_timeout_seconds, 60, 900, hint="Lambda's maximum"
        )
        _check_int_range("retrain_workflow_timeout_minutes", self.retrain_workflow_timeout_minutes, 5, 1440)
        _check(
            isinstance(self.retrain_base_data, str)
            and (self.retrain_base_data.startswith("sklearn:") or self.retrain_base_data.startswith("s3://")),
            "retrain_base_data",
            f"must be sklearn:<name> or s3://bucket/key.csv, got {self.retrain_base_data!r}",
        )
        _check_int_range("retrain_feedback_lookback_days", self.retrain_feedback_lookback_days, 1, 3650)
        _check_int_range("retrain_min_feedback_rows", self.retrain_min_feedback_rows, 0, 10_000_000)
        _check_choice("retrain_gate_metric", self.retrain_gate_metric, RETRAIN_GATE_METRICS)
        for key, low, high in (
            ("retrain_gate_margin", -1.0, 1.0),
            ("retrain_max_class_share", 0.01, 1.0),
            ("retrain_shadow_sample_percent", 0.0, 100.0),
            ("retrain_canary_weight", 0.01, 99.99),
            ("retrain_accuracy_alarm_threshold", 0.0, 1.0),
        ):
            value = getattr(self, key)
            _check(
                isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high,
                key,
                f"must be a number from {low:g} to {high:g}, got {value!r}",
            )
        _check_choice("retrain_release", self.retrain_release, RETRAIN_RELEASES)
        _check_int_range(
            "retrain_canary_bake_seconds",
            self.retrain_canary_bake_seconds,
            0,
            self.retrain_timeout_seconds - 60,
            hint="the release step must finish within the function's timeout",
        )
        _check(
            isinstance(self.retrain_accuracy_alarm_period_seconds, int)
            and self.retrain_accuracy_alarm_period_seconds >= 60
            and self.retrain_accuracy_alarm_period_seconds % 60 == 0,
            "retrain_accuracy_alarm_period_seconds",
            f"must be a multiple of 60, got {self.retrain_accuracy_alarm_period_seconds!r}",
        )
        _check(
            self.retrain_sagemaker_instance_type.startswith("ml."),
            "retrain_sagemaker_instance_type",
            "must be a SageMaker instance type such as ml.m5.large, "
            f"got {self.retrain_sagemaker_instance_type!r}",
        )

    def _check_precompute(self) -> None:
        _check_bool("precompute_enabled", self.precompute_enabled)
        _check_int_range("precompute_max_items", self.precompute_max_items, 1, 1_000_000_000)
        _check_int_range("precompute_chunk_size", self.precompute_chunk_size, 1, 100_000)
        _check_int_range("precompute_max_concurrency", self.precompute_max_concurrency, 1, 10_000)
        _check_int_range("precompute_memory_mb", self.precompute_memory_mb, 128, 10_240)
        _check_int_range("precompute_prediction_ttl_days", self.precompute_prediction_ttl_days, 0, 3650)
        _check(
            self.precompute_input_uri == "" or self.precompute_input_uri.startswith("s3://"),
            "precompute_input_uri",
            f"must be empty or an s3:// URI, got {self.precompute_input_uri!r}",
        )

    @property
    def model_artifact_dir(self) -> Path:
        """The folder holding `model.onnx` and `metadata.json` of the served model."""
        return self.model_artifacts_dir / self.model_version

    @property
    def model_key_prefix(self) -> str:
        """Where the artifact lives in the model store: `models/<version>/`."""
        return model_prefix(self.model_version)

    @classmethod
    def from_context(
        cls,
        raw: Any,
        *,
        overrides: Mapping[str, Any] | None = None,
        base_dir: Path,
    ) -> ServingConfig:
        """Build the config from the `serving` context value plus `serving.<field>` overrides.

        `raw` is the `serving` context value (a JSON object, or a JSON string when given with -c);
        `overrides` maps field names to values (strings from the command line are parsed by the
        field's type). A relative `model_artifacts_dir` is resolved against `base_dir`, and an
        empty `model_version` chooses the newest artifact there.
        """
        values = dict(_as_object(raw))
        for key, value in (overrides or {}).items():
            values[key] = _parse_override(key, value)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"{CONTEXT_KEY}: unknown key(s) {', '.join(unknown)}; "
                f"known keys are {', '.join(sorted(known))}"
            )
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in values:
                continue
            kwargs[f.name] = _coerce(f.name, values[f.name])
        artifacts_dir = Path(kwargs.pop("model_artifacts_dir", cls.model_artifacts_dir))
        if not artifacts_dir.is_absolute():
            artifacts_dir = (base_dir / artifacts_dir).resolve()
        version = kwargs.pop("model_version", "") or newest_model_version(artifacts_dir)
        config = cls(model_artifacts_dir=artifacts_dir, model_version=version, **kwargs)
        config.check_artifact()
        return config

    def check_artifact(self) -> None:
        """The chosen artifact exists and is complete (it is uploaded to S3 as it is)."""
        folder = self.model_artifact_dir
        missing = [name for name in (MODEL_FILE, METADATA_FILE) if not (folder / name).is_file()]
        if missing:
            raise ConfigError(
                f"{CONTEXT_KEY}.model_version: {folder} lacks {', '.join(missing)}; "
                f"available: {', '.join(list_model_versions(self.model_artifacts_dir)) or 'none'}. "
                "Run `make model` to train one"
            )
        recorded = _read_metadata(folder).get("version")
        _check(
            recorded in (None, self.model_version),
            "model_version",
            f"{folder / METADATA_FILE} says version {recorded!r}, not {self.model_version!r}",
        )


def _check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{CONTEXT_KEY}.{key} {message}")


def _check_choice(key: str, value: object, choices: tuple[str, ...]) -> None:
    _check(value in choices, key, f"must be one of {', '.join(choices)}, got {value!r}")


def _check_bool(key: str, value: object) -> None:
    _check(isinstance(value, bool), key, f"must be true or false, got {value!r}")


def _check_int_range(key: str, value: object, low: int, high: int, *, hint: str = "") -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    _check(ok, key, f"must be an integer from {low} to {high}{f' ({hint})' if hint else ''}, got {value!r}")


def _as_object(raw: Any) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{CONTEXT_KEY} context must be a JSON object: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{CONTEXT_KEY} context must be a JSON object, got {type(raw).__name__}")
    return cast(Mapping[str, Any], raw)


def _field_default(name: str) -> Any:
    return next(f.default for f in fields(ServingConfig) if f.name == name)


def _parse_override(key: str, value: Any) -> Any:
    """Command-line context values are strings: parse them by the type of the field's default."""
    if not isinstance(value, str):
        return value
    if key not in {f.name for f in fields(ServingConfig)}:
        return value  # reported as unknown by the caller
    default = _field_default(key)
    try:
        if isinstance(default, bool):
            lowered = value.strip().lower()
            if lowered not in ("true", "false"):
                raise ValueError(value)
            return lowered == "true"
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError as exc:
        raise ConfigError(
            f"{CONTEXT_KEY}.{key} must be {type(default).__name__}, got {value!r} on the command line"
        ) from exc
    if isinstance(default, tuple):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _coerce(key: str, value: Any) -> Any:
    """JSON gives lists and plain numbers: turn them into the field's types (or fail, naming the key)."""
    if key == "cors_origins":
        if isinstance(value, str):
            value = [value] if value else []
        _check(isinstance(value, (list, tuple)), key, f"must be a list of origins, got {value!r}")
        return tuple(value)
    if key == "model_artifacts_dir":
        _check(isinstance(value, str) and value != "", key, f"must be a path, got {value!r}")
        return Path(value)
    default = _field_default(key)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, str):
        _check(isinstance(value, str), key, f"must be a string, got {value!r}")
    return value


def _read_metadata(folder: Path) -> dict[str, Any]:
    path = folder / METADATA_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{CONTEXT_KEY}.model_version: cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{CONTEXT_KEY}.model_version: {path} must hold a JSON object")
    return cast(dict[str, Any], data)


def list_model_versions(artifacts_dir: Path) -> list[str]:
    """Complete artifacts (model.onnx and metadata.json) under `artifacts_dir`, by name."""
    if not artifacts_dir.is_dir():
        return []
    return sorted(
        child.name
        for child in artifacts_dir.iterdir()
        if child.is_dir()
        and not child.name.startswith(".")
        and (child / MODEL_FILE).is_file()
        and (child / METADATA_FILE).is_file()
    )


def newest_model_version(artifacts_dir: Path) -> str:
    """The artifact with the latest `created_at` in its metadata (ties broken by name)."""
    versions = list_model_versions(artifacts_dir)
    if not versions:
        raise ConfigError(
            f"{CONTEXT_KEY}.model_version: no model artifact under {artifacts_dir}. "
            "Run `make model` first (or set serving.model_artifacts_dir)"
        )
    return max(
        versions, key=lambda name: (str(_read_metadata(artifacts_dir / name).get("created_at", "")), name)
    )
