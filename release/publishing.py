"""Publishing a validated artifact under the release lock, with its history entry: what `modelctl
publish` does after its checks, shared with the retraining workflow's release step."""

from __future__ import annotations

from dataclasses import dataclass

from release.clock import iso
from release.context import ReleaseContext
from release.publish import (
    ModelStoreUploader,
    ObjectUpload,
    PublishedVersion,
    ValidatedArtifact,
    VersionPublisher,
)
from release.store import HistoryEntry


@dataclass(frozen=True)
class PublishOutcome:
    uploaded: list[ObjectUpload]
    published: PublishedVersion


def publish_artifact(
    ctx: ReleaseContext,
    uploader: ModelStoreUploader,
    publisher: VersionPublisher,
    artifact: ValidatedArtifact,
    *,
    reason: str,
) -> PublishOutcome:
    """Upload (immutably) and publish a version pinning the artifact, holding the publish lock."""
    model_uri = uploader.model_uri(artifact.version)
    with ctx.lock.held(ctx.who, f"publish {artifact.version}"):
        uploaded = uploader.upload(artifact)
        published = publisher.publish(model_uri, f"model {artifact.version}")
    ctx.store.append(
        HistoryEntry(
            at=iso(ctx.clock.now()),
            who=ctx.who,
            action="publish",
            outcome="published" if published.created else "already published",
            reason=reason,
            version=published.version,
            model_version=artifact.version,
            detail=", ".join(f"{u.key}: {u.action}" for u in uploaded),
        )
    )
    return PublishOutcome(uploaded, published)
