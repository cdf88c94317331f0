"""What every function of the app shares: runtime, architecture, log level and log retention."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

from infra.config.checks import check, check_choice

Architecture = Literal["arm64", "x86_64"]
PythonVersion = Literal["3.12", "3.13", "3.14"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
ARCHITECTURES: tuple[str, ...] = get_args(Architecture)
PYTHON_VERSIONS: tuple[str, ...] = get_args(PythonVersion)
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


@dataclass(frozen=True, kw_only=True)
class RuntimeConfig:
    """The Lambda runtime and logging settings every function of the app is built with."""

    PREFIX: ClassVar[str] = ""

    architecture: Architecture = "arm64"
    python_version: PythonVersion = "3.13"
    """The default is the newest Python whose interpreter the build machines carry, so the bundle
    ships bytecode (infra/bundling.py; docs/performance.md, "cold start as shipped")."""
    log_retention_days: int = 30
    log_level: LogLevel = "INFO"

    def __post_init__(self) -> None:
        check_choice("architecture", self.architecture, ARCHITECTURES)
        check_choice("python_version", self.python_version, PYTHON_VERSIONS)
        check(
            self.log_retention_days in LOG_RETENTION_DAYS and not isinstance(self.log_retention_days, bool),
            "log_retention_days",
            f"must be one of CloudWatch's values {', '.join(map(str, LOG_RETENTION_DAYS))}, "
            f"got {self.log_retention_days!r}",
        )
        check_choice("log_level", self.log_level, LOG_LEVELS)

    @property
    def pinned_runtime(self) -> bool:
        """True when the config pins an older Python than the newest supported runtime."""
        return self.python_version != PYTHON_VERSIONS[-1]
