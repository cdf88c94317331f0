"""The execution's input and state: plain JSON, so that Step Functions carries it between steps.

Input (what `modelctl canary|shift|bluegreen` or the retraining workflow starts the controller with):

    {"release_id": "...", "who": "...", "plan": {"kind", "candidate", "base", "steps": [{"percent",
     "bake_s"}], "quality": null | {"metric", "margin", ...}}, "options": {"reason", "pre_traffic",
     "gate_overrides": {...}, "check_every_s", "approve_at", "approval_timeout_s"}}

The steps add `release`: how far the release got (index, the lease it holds, the gates, the bake).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from release.alias import Routing
from release.errors import RefusedError
from release.plan import Kind, Plan, Step
from release.store import ReleaseRecord

if TYPE_CHECKING:
    from release.quality.release_gate import QualityGateSpec

EXECUTION_NAME_PREFIX = "release-"
DEFAULT_APPROVAL_TIMEOUT_S = 3600.0
MIN_APPROVAL_TIMEOUT_S = 1.0
MAX_APPROVAL_TIMEOUT_S = 23 * 3600.0  # inside the execution's 24-hour timeout


def plan_to_json(plan: Plan) -> dict[str, Any]:
    return {
        "kind": plan.kind,
        "candidate": plan.candidate,
        "base": plan.base,
        "steps": [{"percent": s.percent, "bake_s": s.bake_s} for s in plan.steps],
        "quality": plan.quality.to_json() if plan.quality is not None else None,
    }


def plan_from_json(data: dict[str, Any]) -> Plan:
    return Plan(
        kind=cast(Kind, str(data["kind"])),
        candidate=str(data["candidate"]),
        base=str(data["base"]),
        steps=tuple(Step(float(s["percent"]), float(s["bake_s"])) for s in data["steps"]),
        quality=_quality_from_json(data.get("quality")),
    )


def _quality_from_json(data: dict[str, Any] | None) -> QualityGateSpec | None:
    if not data:
        return None
    from release.quality.release_gate import QualityGateSpec

    return QualityGateSpec.from_json(data)


@dataclass(frozen=True)
class ControllerOptions:
    reason: str = ""
    pre_traffic: bool = True
    gate_overrides: dict[str, float | int | None] = field(default_factory=dict)
    check_every_s: float | None = None
    """Seconds between gate checks during a bake (default: the gates' period)."""
    approve_at: float | None = None
    """Wait for `modelctl approve` before a step goes past this percentage (None: never wait)."""
    approval_timeout_s: float = DEFAULT_APPROVAL_TIMEOUT_S
    """How long a release waits for a decision before it rolls back."""

    def __post_init__(self) -> None:
        if self.approve_at is not None and not 0 <= self.approve_at < 100:
            raise RefusedError(f"--approve-at {self.approve_at:g}: a percentage in [0, 100)")
        if not MIN_APPROVAL_TIMEOUT_S <= self.approval_timeout_s <= MAX_APPROVAL_TIMEOUT_S:
            raise RefusedError(
                f"--approval-timeout {self.approval_timeout_s:g}s: between {MIN_APPROVAL_TIMEOUT_S:g} s and "
                f"{MAX_APPROVAL_TIMEOUT_S / 3600:g} h (the execution's own timeout)"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "pre_traffic": self.pre_traffic,
            "gate_overrides": {k: v for k, v in self.gate_overrides.items() if v is not None},
            "check_every_s": self.check_every_s,
            "approve_at": self.approve_at,
            "approval_timeout_s": self.approval_timeout_s,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ControllerOptions:
        every, approve_at = data.get("check_every_s"), data.get("approve_at")
        return cls(
            reason=str(data.get("reason") or ""),
            pre_traffic=bool(data.get("pre_traffic", True)),
            gate_overrides=dict(data.get("gate_overrides") or {}),
            check_every_s=float(every) if every is not None else None,
            approve_at=float(approve_at) if approve_at is not None else None,
            approval_timeout_s=float(data.get("approval_timeout_s") or DEFAULT_APPROVAL_TIMEOUT_S),
        )


def execution_input(release_id: str, who: str, plan: Plan, options: ControllerOptions) -> dict[str, Any]:
    return {"release_id": release_id, "who": who, "plan": plan_to_json(plan), "options": options.to_json()}


def execution_name(release_id: str) -> str:
    """One execution per release: its name is the release id, so a second start of it fails."""
    return f"{EXECUTION_NAME_PREFIX}{release_id}"


def release_id_of(execution_name_or_arn: str) -> str:
    name = execution_name_or_arn.rsplit(":", 1)[-1]
    return name.removeprefix(EXECUTION_NAME_PREFIX)


def continues(record: ReleaseRecord | None, plan: Plan, routing: Routing) -> bool:
    """True if `plan` takes over the idle release `record` of the same version (a canary left at
    its weight, a paused or interrupted release): same candidate and base, the alias still in it."""
    return (
        record is not None
        and record.candidate == plan.candidate
        and record.base == plan.base == routing.primary
        and routing.extra in (None, plan.candidate)
    )
