"""The production model: what the live alias's primary version pins (its MODEL_URI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from release.alias import AliasManager, VersionCatalog
from release.errors import ReleaseError
from retrain.errors import StepError


@dataclass(frozen=True)
class ProductionModel:
    function_version: str
    model_uri: str
    model_version: str

    def to_dict(self) -> dict[str, str]:
        return {
            "function_version": self.function_version,
            "model_uri": self.model_uri,
            "model_version": self.model_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProductionModel:
        return cls(str(data["function_version"]), str(data["model_uri"]), str(data["model_version"]))


def find_production(lambda_client: Any, function: str, alias: str) -> ProductionModel:
    """The same reading `modelctl status` does: alias -> primary version -> MODEL_URI."""
    try:
        primary = AliasManager(lambda_client, function, alias).read().routing.primary
        info = VersionCatalog(lambda_client, function).describe(primary)
    except ReleaseError as exc:
        raise StepError(f"finding the production model of {function}:{alias}: {exc}") from exc
    if not info.model_uri:
        raise StepError(f"{function} version {primary} (primary of {alias}) has no MODEL_URI")
    return ProductionModel(primary, info.model_uri, info.model_version)
