"""Release plans: which weights the new version gets, in which order, and how long each bakes.

A step at 100% makes the new version the primary (no extra weight left). Every other step sends
`percent` of the traffic to the new version and bakes (gates checked) before the next one.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from release.alias import Routing, check_canary_weight
from release.clock import format_duration
from release.errors import RefusedError

if TYPE_CHECKING:
    from release.quality.release_gate import QualityGateSpec

Kind = Literal["canary", "shift", "bluegreen"]
FULL = 100.0


@dataclass(frozen=True)
class Step:
    percent: float
    bake_s: float

    @property
    def is_full(self) -> bool:
        return self.percent >= FULL


@dataclass(frozen=True)
class Plan:
    kind: Kind
    candidate: str
    base: str
    steps: tuple[Step, ...]
    quality: QualityGateSpec | None = None
    """The quality gate checked after every step below 100% (release/gates.py `check_quality`)."""

    def routing_at(self, step: Step) -> Routing:
        if step.is_full:
            return Routing(self.candidate)
        return Routing(self.base, self.candidate, step.percent)

    @property
    def ends_with_promotion(self) -> bool:
        return bool(self.steps) and self.steps[-1].is_full

    @property
    def total_bake_s(self) -> float:
        return sum(step.bake_s for step in self.steps)

    def describe(self) -> list[str]:
        lines = [f"{self.kind} of v{self.candidate} (primary now v{self.base}):"]
        for index, step in enumerate(self.steps, start=1):
            routing = self.routing_at(step).describe()
            bake = f", bake {format_duration(step.bake_s)} watching the gates" if step.bake_s else ""
            quality = " and the quality gate" if self.quality is not None and not step.is_full else ""
            lines.append(f"  {index}. {routing}{bake}{quality}")
        if self.quality is not None:
            lines.append(f"  {self.quality.describe()}")
        if not self.ends_with_promotion:
            lines.append(f"  then v{self.candidate} keeps its share until `modelctl promote` or `rollback`")
        return lines


def with_quality(plan: Plan, spec: QualityGateSpec | None) -> Plan:
    """The plan with a quality gate after each step below 100%; a plan with no such step (blue/green)
    has two versions serving at no point, so nothing to compare: refused."""
    if spec is None:
        return plan
    if not any(not step.is_full for step in plan.steps):
        raise RefusedError(
            f"a quality gate compares two versions serving side by side: a {plan.kind} has no step below "
            "100% (use canary or shift)"
        )
    return replace(plan, quality=spec)


def canary_plan(candidate: str, base: str, percent: float, bake_s: float) -> Plan:
    check_canary_weight(percent)
    _check_bake(bake_s, allow_zero=True)
    return Plan("canary", candidate, base, (Step(percent, bake_s),))


def shift_plan(candidate: str, base: str, percents: Sequence[float], bake_s: float) -> Plan:
    """`--steps 10,25,50,100 --bake 5m`: bake after every step but the last (100%)."""
    _check_bake(bake_s, allow_zero=False)
    if not percents:
        raise RefusedError("--steps is empty: give increasing percentages such as 10,25,50,100")
    steps = list(percents)
    if steps[-1] != FULL:
        steps.append(FULL)
    for earlier, later in itertools.pairwise(steps):
        if later <= earlier:
            raise RefusedError(f"--steps must increase: {later:g} after {earlier:g}")
    for percent in steps[:-1]:
        check_canary_weight(percent)
    return Plan(
        "shift",
        candidate,
        base,
        tuple(Step(p, 0.0 if p >= FULL else bake_s) for p in steps),
    )


def linear_plan(candidate: str, base: str, increment: float, every_s: float) -> Plan:
    """`--linear 10 --every 1m`: 10, 20, ... 90, then 100."""
    if not 0.0 < increment < FULL:
        raise RefusedError(f"--linear {increment:g} is outside (0, 100)")
    count = int((FULL - 1e-9) // increment)
    percents = [round(increment * i, 2) for i in range(1, count + 1) if increment * i < FULL]
    return shift_plan(candidate, base, percents, every_s)


def bluegreen_plan(candidate: str, base: str, bake_s: float) -> Plan:
    _check_bake(bake_s, allow_zero=True)
    return Plan("bluegreen", candidate, base, (Step(FULL, bake_s),))


def parse_percents(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise RefusedError(
            f"--steps {text!r}: give comma-separated percentages such as 10,25,50,100"
        ) from exc
    for value in values:
        if not 0.0 < value <= FULL:
            raise RefusedError(f"--steps: {value:g} is outside (0, 100]")
    return values


def remaining_steps(plan: Plan, current_percent: float) -> Plan:
    """Resume: skip the steps the candidate already had (its weight is at or above them)."""
    left = tuple(step for step in plan.steps if step.percent > current_percent)
    return replace(plan, steps=left)


def _check_bake(bake_s: float, *, allow_zero: bool) -> None:
    if bake_s < 0 or (bake_s == 0 and not allow_zero):
        raise RefusedError(f"bake time {bake_s:g}s must be positive: gates need time to see traffic")
