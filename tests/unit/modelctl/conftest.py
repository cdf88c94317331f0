"""moto around every test, and a deployment of the serving function to release against."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from common.model.metadata import ModelMetadata
from tests.unit.modelctl.world import FakeClock, World, build_world, sample_metadata


@pytest.fixture()
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture()
def metadata(trained_model: tuple[Path, ModelMetadata]) -> dict[str, Any]:
    return sample_metadata(trained_model[0])


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def world(aws: None, metadata: dict[str, Any], clock: FakeClock) -> World:
    return build_world(metadata, clock)
