"""`modelctl status`: the alias, what each version serves, the release in progress, alarm states."""

from __future__ import annotations

from typing import Any

from release.context import ReleaseContext


def collect_status(ctx: ReleaseContext) -> dict[str, Any]:
    state = ctx.alias.read()
    routing = state.routing
    record = ctx.store.state()
    versions = []
    for version, percent in [(routing.primary, routing.primary_percent)] + (
        [(routing.extra, routing.extra_percent)] if routing.extra else []
    ):
        info = ctx.catalog.describe(version)
        versions.append(
            {
                "version": version,
                "role": "primary" if version == routing.primary else "extra",
                "percent": percent,
                "model_version": info.model_version,
                "model_uri": info.model_uri,
                "description": info.description,
            }
        )
    lease = ctx.lock.holder()
    release = record.release
    gate_names = release.gate_alarms if release else []
    gates = [
        {"name": g.name, "kind": g.kind, "state": g.state, "reason": g.reason}
        for g in ctx.gates.states(gate_names)
    ]
    fleet: list[dict[str, str]] = []
    if ctx.target.fleet_alarms:
        for alarm in ctx.gates.cloudwatch.describe_alarms(AlarmNames=list(ctx.target.fleet_alarms)).get(
            "MetricAlarms", []
        ):
            fleet.append({"name": alarm["AlarmName"], "state": alarm["StateValue"]})
    return {
        "function": ctx.target.function_name,
        "alias": ctx.target.alias_name,
        "alias_arn": state.arn,
        "revision_id": state.revision_id,
        "routing": routing.describe(),
        "versions": versions,
        "release": None
        if release is None
        else {
            "id": release.release_id,
            "kind": release.kind,
            "candidate": release.candidate,
            "base": release.base,
            "status": release.status,
            "step": release.step_index,
            "steps": len(release.steps),
            "percent": release.percent,
            "started_at": release.started_at,
            "started_by": release.started_by,
            "reason": release.reason,
            "abort_requested_by": record.abort_requested_by,
        },
        "rollback_target": _rollback_target(
            routing.primary, routing.extra, release.base if release else None, record.previous_primary
        ),
        "lock": None
        if lease is None
        else {
            "operation": lease.operation,
            "who": lease.who,
            "since": lease.acquired_at,
            "expires_at": lease.expires_at,
        },
        "gates": gates,
        "fleet_alarms": fleet,
        "target_sources": dict(ctx.target.sources),
    }


def _rollback_target(primary: str, extra: str | None, base: str | None, previous: str | None) -> str | None:
    if extra is not None:
        return primary
    if base is not None and base != primary:
        return base
    if previous and previous != primary:
        return previous
    return None
