"""What a release command is asked (options) and what it answers (outcome): plain data, in a module
of their own so that `modelctl rollback` can use them without importing the release runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from release.alias import Routing

if TYPE_CHECKING:
    from release.compare import CompareSettings


@dataclass(frozen=True)
class ReleaseOptions:
    reason: str = ""
    dry_run: bool = False
    pre_traffic: bool = True
    gate_overrides: dict[str, float | int | None] = field(default_factory=dict)
    compare: CompareSettings | None = None


@dataclass(frozen=True)
class Outcome:
    message: str
    routing: Routing
    changed: bool = True
