"""Typed configuration of the stacks, read from the `serving` key of the CDK context.

`cdk.json` holds the project's defaults under `"serving": {...}`; a single key can be overridden
for one run with `-c serving.<key>=<value>` (e.g. `cdk synth -c serving.model_version=m-2f4854ecd677`).
The keys are flat; each belongs to one frozen section (api, alarms, shadow, monitor, ...) that
validates itself, and `ServingConfig` composes the sections. Only `app.py` reads context; it hands
the raw values to `ServingConfig.from_context`, which rejects unknown keys and invalid values with
an error naming the key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field
from pathlib import Path
from typing import Any, cast

from infra.config.alarms import AlarmsConfig
from infra.config.api import ApiConfig
from infra.config.artifacts import list_model_versions, newest_model_version
from infra.config.checks import CONTEXT_KEY, OVERRIDE_PREFIX, ConfigError, Section, check, context_keys
from infra.config.inference import InferenceConfig
from infra.config.metrics import MetricsConfig
from infra.config.monitor import MonitorConfig, PredictionLogConfig
from infra.config.precompute import PrecomputeConfig
from infra.config.retrain import RetrainConfig
from infra.config.routing import RoutingConfig
from infra.config.runtime import RuntimeConfig
from infra.config.shadow import ShadowConfig

__all__ = [
    "CONTEXT_KEY",
    "OVERRIDE_PREFIX",
    "ConfigError",
    "ServingConfig",
    "context_fields",
    "list_model_versions",
    "newest_model_version",
]

_PROJECT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,59}$")
# Each section under the attribute of ServingConfig that holds it, in the order they are validated.
SECTIONS: dict[str, type[Section]] = {
    "runtime": RuntimeConfig,
    "inference": InferenceConfig,
    "api": ApiConfig,
    "metrics": MetricsConfig,
    "alarms": AlarmsConfig,
    "shadow": ShadowConfig,
    "prediction_log": PredictionLogConfig,
    "monitor": MonitorConfig,
    "precompute": PrecomputeConfig,
    "retrain": RetrainConfig,
    "routing": RoutingConfig,
}


@dataclass(frozen=True, kw_only=True)
class ServingConfig:
    """Everything the stacks can be told: the project name and one section per concern."""

    project: str = "ModelServing"
    """Prefix of the stack names: `<project>-ModelStore`, `<project>-Serving`, ..."""
    inference: InferenceConfig
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    alarms: AlarmsConfig = field(default_factory=AlarmsConfig)
    shadow: ShadowConfig = field(default_factory=ShadowConfig)
    prediction_log: PredictionLogConfig = field(default_factory=PredictionLogConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    precompute: PrecomputeConfig = field(default_factory=PrecomputeConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)

    def __post_init__(self) -> None:
        check(
            _PROJECT_RE.fullmatch(self.project) is not None,
            "project",
            f"must start with a letter and hold at most 60 letters, digits or '-', got {self.project!r}",
        )
        # The one rule across sections: a p99 alarm above the function's timeout could never fire.
        p99, timeout_ms = self.alarms.p99_duration_ms, self.inference.timeout_seconds * 1000
        ok = isinstance(p99, int) and not isinstance(p99, bool) and 1 <= p99 <= timeout_ms
        check(
            ok,
            "alarm_p99_duration_ms",
            f"must be an integer from 1 to {timeout_ms} (the function's timeout), got {p99!r}",
        )

    @classmethod
    def from_context(
        cls,
        raw: Any,
        *,
        overrides: Mapping[str, Any] | None = None,
        base_dir: Path,
    ) -> ServingConfig:
        """Build the config from the `serving` context value plus `serving.<key>` overrides.

        `raw` is the `serving` context value (a JSON object, or a JSON string when given with -c);
        `overrides` maps keys to values (strings from the command line are parsed by the type of the
        key's default). A relative `model_artifacts_dir` is resolved against `base_dir`, and an
        empty `model_version` chooses the newest artifact there.
        """
        known = context_fields()
        values = dict(_as_object(raw))
        for key, value in (overrides or {}).items():
            values[key] = _parse_override(key, value, known.get(key))
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(
                f"{CONTEXT_KEY}: unknown key(s) {', '.join(unknown)}; "
                f"known keys are {', '.join(sorted(known))}"
            )
        kwargs = {key: _coerce(key, values[key], known[key]) for key in known if key in values}
        artifacts_dir = Path(kwargs.pop("model_artifacts_dir", InferenceConfig.model_artifacts_dir))
        if not artifacts_dir.is_absolute():
            artifacts_dir = (base_dir / artifacts_dir).resolve()
        kwargs["model_artifacts_dir"] = artifacts_dir
        kwargs["model_version"] = kwargs.get("model_version", "") or newest_model_version(artifacts_dir)
        sections: dict[str, Any] = {
            name: section(
                **{f.name: kwargs[key] for key, f in context_keys(section).items() if key in kwargs}
            )
            for name, section in SECTIONS.items()
        }
        config = cls(**({"project": kwargs["project"]} if "project" in kwargs else {}), **sections)
        config.inference.check_artifact()
        return config


def context_fields() -> dict[str, Field[Any]]:
    """Every `serving.<key>` the context accepts, mapped to the dataclass field that holds it."""
    found: dict[str, Field[Any]] = {"project": ServingConfig.__dataclass_fields__["project"]}
    for section in SECTIONS.values():
        found.update(context_keys(section))
    return found


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


def _parse_override(key: str, value: Any, known: Field[Any] | None) -> Any:
    """Command-line context values are strings: parse them by the type of the key's default."""
    if not isinstance(value, str) or known is None:
        return value  # an unknown key is reported by the caller
    default = known.default
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


def _coerce(key: str, value: Any, known: Field[Any]) -> Any:
    """JSON gives lists and plain numbers: turn them into the field's types (or fail, naming the key)."""
    if key in ("cors_origins", "jwt_audience"):
        if isinstance(value, str):
            value = [value] if value else []
        check(isinstance(value, (list, tuple)), key, f"must be a list of strings, got {value!r}")
        return tuple(value)
    if key == "model_artifacts_dir":
        check(isinstance(value, str) and value != "", key, f"must be a path, got {value!r}")
        return Path(value)
    default = known.default
    if default is MISSING:
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, str):
        check(isinstance(value, str), key, f"must be a string, got {value!r}")
    return value
