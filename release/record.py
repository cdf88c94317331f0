"""The history entry of a change to the alias: who, when, from what to what, why, and the model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from release.alias import Routing, VersionInfo
from release.clock import iso
from release.store import HistoryEntry, ReleaseRecord

if TYPE_CHECKING:
    from release.context import ReleaseContext


def record_change(
    ctx: ReleaseContext,
    action: str,
    outcome: str,
    reason: str,
    before: Routing,
    after: Routing,
    release: ReleaseRecord | None,
    candidate: VersionInfo | None,
    *,
    version: str = "",
    detail: str = "",
) -> None:
    """Append the entry of one change (the candidate, or else `version`, names the model)."""
    model_version = ""
    if candidate is not None:
        version, model_version = candidate.version, candidate.model_version
    elif version:
        model_version = ctx.catalog.describe(version).model_version
    ctx.store.append(
        HistoryEntry(
            at=iso(ctx.clock.now()),
            who=ctx.who,
            action=action,
            outcome=outcome,
            reason=reason,
            before=before,
            after=after,
            version=version,
            model_version=model_version,
            release_id=release.release_id if release else "",
            detail=detail,
        )
    )
