"""A local-cloud HTTP front on loopback: it serves while started and nothing listens once stopped."""

from __future__ import annotations

import http.client
import socket
from http.server import BaseHTTPRequestHandler

import pytest

from localcloud.background import BackgroundHttpServer


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_serves_on_a_free_port_then_closes_it() -> None:
    server = BackgroundHttpServer(_Hello, host="127.0.0.1", port=0, name="test-front")
    server.start()
    port = server.port
    assert port > 0
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/")
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, b"hello")
    connection.close()

    server.stop()

    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
