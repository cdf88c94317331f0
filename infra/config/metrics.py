"""Where the functions' metrics go: the service name and the CloudWatch namespace."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from infra.config.checks import check

_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9._/#:-]{1,255}$")


@dataclass(frozen=True, kw_only=True)
class MetricsConfig:
    """The Powertools service name and metrics namespace (alarms and the monitor read them too)."""

    PREFIX: ClassVar[str] = ""

    service_name: str = "inference"
    metrics_namespace: str = "ModelServing"

    def __post_init__(self) -> None:
        check(
            _NAMESPACE_RE.fullmatch(self.service_name) is not None,
            "service_name",
            f"must be 1-255 letters, digits or ._/#:-, got {self.service_name!r}",
        )
        check(
            _NAMESPACE_RE.fullmatch(self.metrics_namespace) is not None
            and not self.metrics_namespace.startswith("AWS/"),
            "metrics_namespace",
            "must be 1-255 letters, digits or ._/#:- and not start with 'AWS/', "
            f"got {self.metrics_namespace!r}",
        )
