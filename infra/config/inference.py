"""The inference function: its size, the model it serves and the version its `live` alias names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from infra.config.artifacts import METADATA_FILE, MODEL_FILE, list_model_versions, read_metadata
from infra.config.checks import CONTEXT_KEY, ConfigError, check, check_bool, check_int_range

# API Gateway REST integrations time out at 29 s by default: a longer Lambda timeout is never seen.
API_INTEGRATION_TIMEOUT_S = 29
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True, kw_only=True)
class InferenceConfig:
    """The inference function and the artifact it serves; only the model version has no default."""

    PREFIX: ClassVar[str] = ""

    memory_mb: int = 1024
    timeout_seconds: int = 15
    provisioned_concurrency: int = 0
    """Provisioned concurrency on the `live` alias; 0 = none (pay per request, accept cold starts)."""
    snapstart: bool = False
    """Lambda SnapStart on published versions: each version's init (model loaded and warmed) runs
    once and new environments restore from its snapshot (docs/performance.md). Lambda does not
    combine it with provisioned concurrency."""
    model_artifacts_dir: Path = Path("model_artifacts")
    model_version: str
    """The artifact `<model_artifacts_dir>/<model_version>/` to upload and serve."""
    live_version: str = ""
    """The version the `live` alias names in the template. Empty: the version the stack published
    when it was created; the template then never changes the alias, whose routing belongs to
    `modelctl`. Set it to the live primary only to change an alias property (e.g.
    `provisioned_concurrency`) after releases; `modelctl deploy-check` verifies it first."""

    def __post_init__(self) -> None:
        check_int_range("memory_mb", self.memory_mb, 128, 10_240)
        check_int_range(
            "timeout_seconds",
            self.timeout_seconds,
            1,
            API_INTEGRATION_TIMEOUT_S,
            hint="API Gateway's integration timeout is 29 s",
        )
        check_int_range("provisioned_concurrency", self.provisioned_concurrency, 0, 1000)
        check_bool("snapstart", self.snapstart)
        check(
            not (self.snapstart and self.provisioned_concurrency),
            "snapstart",
            "cannot be true with provisioned_concurrency > 0: Lambda does not combine them on a version",
        )
        check(
            _VERSION_RE.fullmatch(self.model_version) is not None,
            "model_version",
            f"must be an artifact folder name such as 'm-2f4854ecd677', got {self.model_version!r}",
        )
        check(
            isinstance(self.live_version, str)
            and (self.live_version == "" or (self.live_version.isdigit() and int(self.live_version) > 0)),
            "live_version",
            f"must be empty or a published version number such as '7', got {self.live_version!r}",
        )

    @property
    def model_artifact_dir(self) -> Path:
        """The folder holding `model.onnx` and `metadata.json` of the served model."""
        return self.model_artifacts_dir / self.model_version

    @property
    def model_key_prefix(self) -> str:
        """Where the artifact lives in the model store: `models/<version>/`."""
        return f"models/{self.model_version}/"

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
        recorded = read_metadata(folder).get("version")
        check(
            recorded in (None, self.model_version),
            "model_version",
            f"{folder / METADATA_FILE} says version {recorded!r}, not {self.model_version!r}",
        )
