"""Errors a step raises. Their class names are what Step Functions sees as the error name, so the
state machine's Retry rules name them (infra/constructs/retraining.py)."""

from __future__ import annotations


class StepError(RuntimeError):
    """The step cannot go on with this input; retrying would not help."""


class TransientStepError(RuntimeError):
    """Worth another try: a throttled or unavailable AWS call, a release lock held by someone else."""


class ReleaseBusyError(TransientStepError):
    """Another release holds the release lock; the workflow waits and retries with backoff."""
