"""`modelctl report accuracy`: live accuracy, a quality metric and feature drift per time window and
model version, from logged predictions joined with feedback (docs/monitoring.md)."""

from modelctl.report.commands import report_app

__all__ = ["report_app"]
