"""The local gateway answers a method it has no handler for as it answers an unknown route: JSON."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from localcloud.gateway import ApiDefinition, LocalGateway, Route, _compile, _Handler
from localcloud.router import RoutedInvocation


def never_invoked(function: str, qualifier: str, event: bytes) -> RoutedInvocation:
    raise AssertionError("no route should reach a function")


class FakeConnection:
    """What a request handler needs of its socket: the request to read, the reply written."""

    def __init__(self, request: bytes) -> None:
        self._request = request
        self.sent = b""

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BytesIO:
        return io.BytesIO(self._request)

    def sendall(self, data: bytes) -> None:
        self.sent += bytes(data)

    def settimeout(self, value: float | None) -> None:
        pass

    def setsockopt(self, *args: Any) -> None:
        pass


def exchange(raw: bytes) -> list[tuple[int, dict[str, str], Any]]:
    """Serve the raw request bytes (one or more requests) and parse every reply."""
    route = Route(
        path="/predict",
        method="POST",
        function="f",
        qualifier="live",
        api_key_required=False,
        pattern=_compile("/predict"),
    )
    gateway = object.__new__(LocalGateway)  # its request handling without its listening socket
    gateway.api = ApiDefinition(stage="prod", routes=[route], api_keys=frozenset())
    gateway.invoke = never_invoked
    handler = type("GatewayRequestHandler", (_Handler,), {"gateway": gateway})
    connection = FakeConnection(raw)
    handler(connection, ("127.0.0.1", 1), None)
    replies = []
    rest = connection.sent
    while rest:
        head, _, rest = rest.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in header_lines)
        length = int(headers["Content-Length"])
        body, rest = rest[:length], rest[length:]
        replies.append((int(status_line.split()[1]), headers, json.loads(body)))
    return replies


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "BREW"])
def test_an_unknown_method_gets_the_json_answer_of_an_unknown_route(method: str) -> None:
    [(unknown_route, route_headers, route_body)] = exchange(b"GET /prod/nowhere HTTP/1.1\r\n\r\n")
    raw = f"{method} /prod/predict HTTP/1.1\r\nContent-Length: 2\r\n\r\n{{}}".encode()
    [(status, headers, body)] = exchange(raw)
    assert status == unknown_route == 403
    assert headers["Content-Type"] == route_headers["Content-Type"] == "application/json"
    assert body == route_body == {"message": "Missing Authentication Token"}


def test_the_connection_still_serves_after_an_unknown_method() -> None:
    replies = exchange(b"TRACE /prod/predict HTTP/1.1\r\n\r\nGET /prod/nowhere HTTP/1.1\r\n\r\n")
    assert [status for status, _, _ in replies] == [403, 403]


def test_a_request_http_server_refuses_is_answered_in_json() -> None:
    huge_header = b"X-Big: " + b"a" * 70_000
    [(status, headers, body)] = exchange(b"GET /prod/predict HTTP/1.1\r\n" + huge_header + b"\r\n\r\n")
    assert status == 431
    assert headers["Content-Type"] == "application/json"
    assert isinstance(body["message"], str)
