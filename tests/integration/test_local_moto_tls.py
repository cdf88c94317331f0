"""The local AWS API (moto over HTTPS) serves every client even while one client has connected
but not finished its TLS handshake, as a function worker frozen (SIGSTOP) or starved right after
its TCP connect has: moto's own server did that handshake in its single accept loop, so such a
client stalled every other one (localcloud/moto_main.py)."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud.moto_process import MotoServer, start_moto_server
from localcloud.tls import client_context


@pytest.fixture()
def moto(tmp_path: Path) -> Iterator[MotoServer]:
    server = start_moto_server(tls_dir=tmp_path / "tls", log_path=tmp_path / "moto.log")
    yield server
    server.stop()


def moto_api_status(server: MotoServer) -> int:
    context = client_context(server.cafile)
    with urllib.request.urlopen(f"{server.endpoint}/moto-api/", timeout=5, context=context) as response:
        return int(response.status)


@pytest.mark.slow
def test_a_client_stalled_before_its_handshake_does_not_stall_the_others(moto: MotoServer) -> None:
    with socket.create_connection(("127.0.0.1", moto.port)):  # connected, never sends a ClientHello
        assert moto_api_status(moto) == 200  # before the fix: "The handshake operation timed out"
        assert moto_api_status(moto) == 200
    assert moto_api_status(moto) == 200
