"""The local Lambda API: `Invoke` runs functions on our runtime; every other call goes to moto.

moto stores functions, versions and aliases but can only invoke them through Docker. Clients
reach this front through `AWS_ENDPOINT_URL_LAMBDA` (boto3's per-service endpoint), so
`lambda.invoke(...)` (a pre-traffic check, `aws lambda invoke`, a Step Functions Lambda task)
runs the chosen version's warm worker, exactly as the gateway's requests do. moto's own Step
Functions interpreter calls AWS services at `http://localhost:$MOTO_PORT`; the local cloud sets
MOTO_PORT to this front, so state machine tasks reach our functions too, and every other service
call is passed through to moto unchanged. After a call that may write (any method but GET and
HEAD) has been answered by moto, and before its answer goes back, `on_write` runs: the router
drops its cached alias routing, so the next request follows an UpdateAlias or a rollback.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from localcloud.background import BackgroundHttpServer
from localcloud.http_handler import KeepAliveHandler
from localcloud.router import RoutedInvocation

_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
}

Invoker = Callable[[str, str, bytes], RoutedInvocation]
# GET <path>?<query> answered by the local cloud itself (not an AWS API): query -> JSON document.
LocalRoute = Callable[[dict[str, list[str]]], dict[str, Any]]


def split_function_name(raw: str, qualifier: str | None) -> tuple[str, str]:
    """`name`, `name:alias`, or an ARN (with or without qualifier) -> (name, qualifier)."""
    name = unquote(raw)
    if name.startswith("arn:"):
        parts = name.split(":")
        name = parts[6]
        if len(parts) > 7:
            qualifier = qualifier or parts[7]
    elif ":" in name:
        name, _, embedded = name.partition(":")
        qualifier = qualifier or embedded
    return name, qualifier or "$LATEST"


class LambdaFront:
    def __init__(
        self,
        invoke: Invoker,
        *,
        moto_host: str,
        moto_port: int,
        cafile: str,
        port: int = 0,
        host: str = "127.0.0.1",
        on_write: Callable[[], None] | None = None,
        local_routes: dict[str, LocalRoute] | None = None,
    ) -> None:
        self.invoke = invoke
        self.on_write = on_write
        self.local_routes = dict(local_routes or {})
        self.moto = (moto_host, moto_port)
        self.context = ssl.create_default_context(cafile=cafile)
        handler = type("LambdaFrontHandler", (_Handler,), {"front": self})
        self._http = BackgroundHttpServer(handler, host=host, port=port, name="lambda-front")
        self._async: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._http.start()

    def stop(self) -> None:
        self._http.stop()
        for thread in self._async:
            thread.join(timeout=30)

    def handle_invoke(
        self, raw_name: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        qualifier = parse_qs(query).get("Qualifier", [None])[0]
        function, qualifier = split_function_name(raw_name, qualifier)
        invocation_type = headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type == "DryRun":
            return 204, {}, b""
        if invocation_type == "Event":
            thread = threading.Thread(
                target=self.invoke, args=(function, qualifier, body or b"{}"), daemon=True
            )
            thread.start()
            self._async = [t for t in self._async if t.is_alive()] + [thread]
            return 202, {}, b""
        routed = self.invoke(function, qualifier, body or b"{}")
        result = routed.result
        response_headers = {
            "X-Amz-Executed-Version": result.executed_version,
            "Content-Type": "application/json",
        }
        if result.function_error:
            response_headers["X-Amz-Function-Error"] = result.function_error
        return 200, response_headers, result.payload

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPSConnection(*self.moto, context=self.context, timeout=120)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            forwarded["Host"] = f"{self.moto[0]}:{self.moto[1]}"
            connection.request(method, path, body=body or None, headers=forwarded)
            response = connection.getresponse()
            data = response.read()
            if method not in ("GET", "HEAD") and self.on_write is not None:
                self.on_write()
            return (
                response.status,
                [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP],
                data,
            )
        finally:
            connection.close()


class _Handler(KeepAliveHandler):
    front: LambdaFront

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        parts = urlsplit(self.path)
        match = _INVOKE.match(parts.path)
        try:
            local = self.front.local_routes.get(parts.path)
            if local is not None and self.command == "GET":
                document = json.dumps(local(parse_qs(parts.query))).encode()
                self.send_whole(200, [("Content-Type", "application/json")], document)
            elif match and self.command == "POST":
                status, out, data = self.front.handle_invoke(match.group("name"), parts.query, headers, body)
                self.send_whole(status, list(out.items()), data)
            else:
                status, pairs, data = self.front.forward(
                    self.command, self.path, dict(self.headers.items()), body
                )
                self.send_whole(status, pairs, data)
        except Exception as exc:  # answer as AWS would, never drop the connection
            payload = json.dumps({"Type": "Service", "message": f"local Lambda API: {exc!r}"}).encode()
            self.send_whole(
                500, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ServiceException")], payload
            )

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve  # noqa: N815
