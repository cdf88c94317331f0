"""The execution's input and state: plain JSON, so that Step Functions carries it between steps.

Input (what `modelctl canary|shift|bluegreen` or the retraining workflow starts the controller with):

    {"release_id": "...", "who": "...", "plan": {"kind", "candidate", "base", "steps": [{"percent",
     "bake_s"}], "quality": null | {"metric", "margin", ...}}, "options": {"reason", "pre_traffic",
     "gate_overrides": {...}, "check_every_s"}}

The steps add `release`: how far the release got (index, the lease it holds, the gates, the bake).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from release.plan import Kind, Plan, Step

if TYPE_CHECKING:
    from release.quality.release_gate import QualityGateSpec

EXECUTION_NAME_PREFIX = "release-"


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

    def to_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "pre_traffic": self.pre_traffic,
            "gate_overrides": {k: v for k, v in self.gate_overrides.items() if v is not None},
            "check_every_s": self.check_every_s,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ControllerOptions:
        every = data.get("check_every_s")
        return cls(
            reason=str(data.get("reason") or ""),
            pre_traffic=bool(data.get("pre_traffic", True)),
            gate_overrides=dict(data.get("gate_overrides") or {}),
            check_every_s=float(every) if every is not None else None,
        )


def execution_input(release_id: str, who: str, plan: Plan, options: ControllerOptions) -> dict[str, Any]:
    return {"release_id": release_id, "who": who, "plan": plan_to_json(plan), "options": options.to_json()}


def execution_name(release_id: str) -> str:
    """One execution per release: its name is the release id, so a second start of it fails."""
    return f"{EXECUTION_NAME_PREFIX}{release_id}"


def release_id_of(execution_name_or_arn: str) -> str:
    name = execution_name_or_arn.rsplit(":", 1)[-1]
    return name.removeprefix(EXECUTION_NAME_PREFIX)
