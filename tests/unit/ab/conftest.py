"""The log bucket in moto that the monitoring tests use (tests/unit/monitoring/conftest.py)."""

from tests.unit.monitoring.conftest import s3

__all__ = ["s3"]
