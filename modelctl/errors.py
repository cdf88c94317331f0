"""The CLI's own errors. The CLI prints any `ReleaseError` (the release domain's root, which this
derives from) as one readable line and exits with its `exit_code`."""

from __future__ import annotations

from release.errors import ReleaseError


class ModelctlError(ReleaseError):
    """A failure of a CLI-only command (train, retrain) the operator can act on; exit code 1."""
