"""`modelctl shadow`: start/stop/status of a shadow deployment, and the live-vs-shadow report."""

from modelctl.shadow.commands import ShadowFactory, shadow_app

__all__ = ["ShadowFactory", "shadow_app"]
