"""Release errors: each one is a single line for the operator (printed by `modelctl.cli.main`)."""

from __future__ import annotations

from modelctl.errors import ModelctlError


class RefusedError(ModelctlError):
    """The request is not safe or not possible as asked; nothing was changed."""


class AwsCallError(ModelctlError):
    """An AWS call failed; the message names the call and AWS's error code."""


class ConcurrentUpdateError(ModelctlError):
    """Someone else changed the alias (or $LATEST) between our read and our write."""


class LockHeldError(ModelctlError):
    """Another release command holds the release lock."""


class LockLostError(ModelctlError):
    """Our lease on the release lock expired or was taken over (e.g. by `modelctl abort`)."""


class PreTrafficError(ModelctlError):
    """The new version failed its direct invocation before any traffic moved."""


class ArtifactError(ModelctlError):
    """The model artifact cannot be published."""


class GateFiredError(ModelctlError):
    """A gate fired during a bake: the release was rolled back."""

    exit_code = 2


class ReleaseAbortedError(ModelctlError):
    """The release was aborted (by `modelctl abort` elsewhere) while this command ran."""

    exit_code = 3


class OperatorInterruptError(ModelctlError):
    """The operator pressed Ctrl-C during a release."""

    exit_code = 130
