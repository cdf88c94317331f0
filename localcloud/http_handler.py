"""The base of the local cloud's HTTP handlers (the gateway, the Lambda API front, each worker's
Runtime API): HTTP/1.1 connections kept alive, Nagle's algorithm off so that headers and body
go out at once (no delayed-ACK stall), no access log, and one way to send a whole answer."""

from __future__ import annotations

from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler


class KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_whole(self, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        """The status line, `headers`, a Content-Length and `body`."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
