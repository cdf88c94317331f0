"""The unit tier never opens a socket."""

from __future__ import annotations

from collections.abc import Iterator

import aws_xray_sdk.core  # noqa: F401  (opens its UDP emitter socket at import: do it before blocking)
import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    disable_socket()
    yield
    enable_socket()
