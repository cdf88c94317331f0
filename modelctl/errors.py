"""The CLI's error hierarchy: anything that is the user's to fix becomes one readable line."""

from __future__ import annotations


class ModelctlError(Exception):
    """A failure the operator can act on; printed without a stack trace, exit code 1."""

    exit_code = 1
