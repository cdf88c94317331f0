"""The serving deployment in moto that the release tests use (tests/unit/modelctl/world.py)."""

from tests.unit.modelctl.conftest import aws, clock, metadata, world

__all__ = ["aws", "clock", "metadata", "world"]
