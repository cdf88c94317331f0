"""`modelctl precompute`: score a data set or a grid into the predictions table (docs/precompute.md)."""

from modelctl.precompute.command import precompute

__all__ = ["precompute"]
