"""Release errors: each one is a single line for the operator (the CLI prints it and exits with
`exit_code`; the retraining steps turn it into a step failure)."""

from __future__ import annotations


class ReleaseError(Exception):
    """The root of the release domain's errors: a failure the operator can act on."""

    exit_code = 1


class RefusedError(ReleaseError):
    """The request is not safe or not possible as asked; nothing was changed."""


class AwsCallError(ReleaseError):
    """An AWS call failed; the message names the call and AWS's error code."""


class ConcurrentUpdateError(ReleaseError):
    """Someone else changed the alias (or $LATEST) between our read and our write."""


class LockHeldError(ReleaseError):
    """Another release command holds the release lock."""


class LockLostError(ReleaseError):
    """Our lease on the release lock expired or was taken over (e.g. by `modelctl abort`)."""


class PreTrafficError(ReleaseError):
    """The new version failed its direct invocation before any traffic moved."""


class ArtifactError(ReleaseError):
    """The model artifact cannot be published."""


class GateFiredError(ReleaseError):
    """A gate fired during a bake: the release was rolled back."""

    exit_code = 2


class ReleaseAbortedError(ReleaseError):
    """The release was aborted (by `modelctl abort` elsewhere) while this command ran."""

    exit_code = 3


class OperatorInterruptError(ReleaseError):
    """The operator pressed Ctrl-C during a release."""

    exit_code = 130


class ShadowError(ReleaseError):
    """A shadow deployment cannot be started, stopped or read; the message says why and what to do."""
