"""The local API Gateway: routes from the synthesized template, proxy events to the alias.

Whichever front serving.api_type chose (docs/api.md): a REST API, an HTTP API (its `$default`
stage, payload format 1.0, at the gateway's root) or the inference function's URL (every path,
payload 2.0 events). IAM and JWT authorization are checked for presence only (an `Authorization`
header of the right scheme): the local gateway verifies no signature and no token.

It behaves like a deployed REST API stage: `/<stage>/<path>`, an API key checked where the method
requires one, `403 Missing Authentication Token` for a path with no resource, the Lambda proxy
response turned back into HTTP, and 502/504 when the function fails or times out. An integration
whose function qualifier is a path variable (`...:function:name:{version}/invocations`, filled by
its `integration.request.path.*` mapping) invokes the version the request's path names, outside
the alias weights (the Open Inference Protocol's pinned routes, docs/api.md); a version that does
not exist gets API Gateway's 500.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from localcloud.background import BackgroundHttpServer
from localcloud.events import rest_proxy_event
from localcloud.http_handler import KeepAliveHandler
from localcloud.provision import Deployment, ProvisionedResource
from localcloud.router import RoutedInvocation

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's own payload limit
_INTEGRATION_ARN = re.compile(r"functions/(arn:aws:lambda:[^/]+)/invocations")


@dataclass(frozen=True)
class Route:
    path: str  # resource path, e.g. /predict or /items/{id}
    method: str  # GET, POST, ..., or ANY
    function: str
    qualifier: str
    api_key_required: bool
    pattern: re.Pattern[str]
    qualifier_parameter: str | None = None
    """The path parameter whose value is the function qualifier, when the integration maps one."""
    authorization: str = "NONE"
    """AWS_IAM or JWT: the scheme the `Authorization` header must carry (presence only)."""

    def matches(self, method: str, path: str) -> bool:
        return self.method in (method, "ANY") and bool(self.pattern.fullmatch(path))

    def path_parameters(self, path: str) -> dict[str, str] | None:
        """`{id}` segments of the resource path, URL-decoded, as API Gateway passes them."""
        names = [s[1:-1].rstrip("+") for s in self.path.strip("/").split("/") if s.startswith("{")]
        match = self.pattern.fullmatch(path)
        if not names or match is None:
            return None
        return {name: unquote(value) for name, value in zip(names, match.groups(), strict=True)}

    def qualifier_for(self, path: str) -> str:
        """The qualifier to invoke: the integration's, or the path parameter its URI names."""
        if self.qualifier_parameter is None:
            return self.qualifier
        return (self.path_parameters(path) or {}).get(self.qualifier_parameter, "")


@dataclass(frozen=True)
class ApiDefinition:
    stage: str
    routes: list[Route]
    api_keys: frozenset[str]
    kind: str = "rest"
    """rest, http or function_url (serving.api_type)."""

    def resource_exists(self, path: str) -> bool:
        return any(route.pattern.fullmatch(path) for route in self.routes)

    def route(self, method: str, path: str) -> Route | None:
        return next((r for r in self.routes if r.matches(method, path)), None)


def _compile(path: str) -> re.Pattern[str]:
    pattern = ""
    for segment in path.strip("/").split("/"):
        if not segment:
            continue
        if segment.endswith("+}"):
            pattern += "/(.+)"
        elif segment.startswith("{"):
            pattern += "/([^/]+)"
        else:
            pattern += "/" + re.escape(segment)
    return re.compile(pattern or "/")


def api_from_deployment(deployment: Deployment) -> ApiDefinition:
    """Rebuild the API's routes from the provisioned template resources."""
    if deployment.of_type("AWS::ApiGatewayV2::Route"):
        return _http_api(deployment)
    if not deployment.of_type("AWS::ApiGateway::Method") and deployment.of_type("AWS::Lambda::Url"):
        return _function_url(deployment)
    resources = {r.physical_id: r for r in deployment.of_type("AWS::ApiGateway::Resource")}
    roots = {r.attributes["RootResourceId"] for r in deployment.of_type("AWS::ApiGateway::RestApi")}

    def path_of(resource_id: str) -> str:
        if resource_id in roots:
            return ""
        resource: ProvisionedResource = resources[resource_id]
        return f"{path_of(resource.local['ParentId'])}/{resource.local['PathPart']}"

    routes = []
    for method in deployment.of_type("AWS::ApiGateway::Method"):
        integration = method.local.get("Integration", {})
        match = _INTEGRATION_ARN.search(str(integration.get("Uri", "")))
        if integration.get("Type") != "AWS_PROXY" or match is None:
            continue
        arn_parts = match.group(1).split(":")
        function = arn_parts[6]
        qualifier = arn_parts[7] if len(arn_parts) > 7 else "$LATEST"
        path = path_of(method.local["ResourceId"]) or "/"
        parameter = None
        if qualifier.startswith("{") and qualifier.endswith("}"):
            mappings = integration.get("RequestParameters", {})
            source = mappings.get(f"integration.request.path.{qualifier[1:-1]}")
            parameter = str(source).removeprefix("method.request.path.")
        routes.append(
            Route(
                path=path,
                method=str(method.local["HttpMethod"]).upper(),
                function=function,
                qualifier=qualifier,
                api_key_required=bool(method.local.get("ApiKeyRequired", False)),
                pattern=_compile(path),
                qualifier_parameter=parameter,
            )
        )
    stages = deployment.of_type("AWS::ApiGateway::Stage")
    stage = str(stages[0].local.get("StageName", "prod")) if stages else "prod"
    keys = frozenset(str(k.local["value"]) for k in deployment.of_type("AWS::ApiGateway::ApiKey"))
    return ApiDefinition(stage=stage, routes=routes, api_keys=keys)


_AUTHORIZATION = {"AWS_IAM": "AWS4-HMAC-SHA256 ", "JWT": "Bearer "}


def _function_and_qualifier(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[6], parts[7] if len(parts) > 7 else "$LATEST"


def _http_api(deployment: Deployment) -> ApiDefinition:
    """An HTTP API's routes ("METHOD /path" -> its Lambda integration) on its `$default` stage."""
    integrations = {r.physical_id: r.local for r in deployment.of_type("AWS::ApiGatewayV2::Integration")}
    routes = []
    for route in deployment.of_type("AWS::ApiGatewayV2::Route"):
        method, _, path = str(route.local["RouteKey"]).partition(" ")
        integration = integrations.get(str(route.local.get("Target", "")).removeprefix("integrations/"))
        if integration is None or integration.get("IntegrationType") != "AWS_PROXY":
            continue
        function, qualifier = _function_and_qualifier(str(integration["IntegrationUri"]))
        routes.append(
            Route(
                path=path,
                method=method.upper(),
                function=function,
                qualifier=qualifier,
                api_key_required=False,
                pattern=_compile(path),
                authorization=str(route.local.get("AuthorizationType", "NONE")),
            )
        )
    return ApiDefinition(stage="", routes=routes, api_keys=frozenset(), kind="http")


def _function_url(deployment: Deployment) -> ApiDefinition:
    """The inference function's URL (the one on an alias): every path, any method."""
    urls = sorted(deployment.of_type("AWS::Lambda::Url"), key=lambda r: "Qualifier" not in r.local)
    url = urls[0].local
    function = _function_and_qualifier(str(url["TargetFunctionArn"]))[0]
    route = Route(
        path="/{proxy+}",
        method="ANY",
        function=function,
        qualifier=str(url.get("Qualifier", "$LATEST")),
        api_key_required=False,
        pattern=re.compile("/.*"),
        authorization=str(url.get("AuthType", "NONE")),
    )
    return ApiDefinition(stage="", routes=[route], api_keys=frozenset(), kind="function_url")


def url_event(
    method: str, path: str, *, body: bytes, headers: dict[str, str], query: str, request_id: str
) -> dict[str, Any]:
    """A function URL's event (payload format 2.0)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type", "")
    text = content_type.startswith(("application/json", "text/")) or not body
    try:
        decoded = body.decode() if text else None
    except UnicodeDecodeError:
        decoded = None
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": decoded if decoded is not None else base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": decoded is None and bool(body),
    }


Invoker = Callable[[str, str, bytes], RoutedInvocation]


class LocalGateway:
    def __init__(
        self, api: ApiDefinition, invoke: Invoker, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.api = api
        self.invoke = invoke
        handler = type("GatewayRequestHandler", (_Handler,), {"gateway": self})
        self._http = BackgroundHttpServer(handler, host=host, port=port, name="local-gateway")

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        stage = f"/{self.api.stage}" if self.api.stage else ""
        return f"http://127.0.0.1:{self.port}{stage}"

    def start(self) -> None:
        self._http.start()

    def stop(self) -> None:
        self._http.stop()

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        path, _, query = raw_path.partition("?")
        prefix = f"/{self.api.stage}" if self.api.stage else ""
        if prefix and not (path == prefix or path.startswith(prefix + "/")):
            return _json(403, {"message": "Missing Authentication Token"})
        resource_path = path[len(prefix) :] or "/"
        route = self.api.route(method, resource_path)
        if route is None:
            if self.api.kind == "http":
                return _json(404, {"message": "Not Found"})
            return _json(403, {"message": "Missing Authentication Token"})
        if route.api_key_required:
            key = next((v for k, v in headers.items() if k.lower() == "x-api-key"), None)
            if key not in self.api.api_keys:
                return _json(403, {"message": "Forbidden"})
        scheme = _AUTHORIZATION.get(route.authorization)
        if scheme is not None:
            given = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
            if not given.startswith(scheme):
                status = 401 if route.authorization == "JWT" else 403
                return _json(status, {"message": "Unauthorized" if status == 401 else "Forbidden"})
        request_id = str(uuid.uuid4())
        if self.api.kind == "function_url":
            event = url_event(
                method, resource_path, body=body, headers=headers, query=query, request_id=request_id
            )
        else:
            event = rest_proxy_event(
                method,
                resource_path,
                body=body,
                headers=headers,
                query=query,
                stage=self.api.stage or "$default",
                request_id=request_id,
            )
            event["resource"] = route.path
            event["pathParameters"] = route.path_parameters(resource_path)
        try:
            qualifier = route.qualifier_for(resource_path)
            routed = self.invoke(route.function, qualifier, json.dumps(event).encode())
        except Exception as exc:  # Lambda refused the invoke (e.g. no such version): API Gateway's 500
            if route.qualifier_parameter is None:
                raise
            return _json(500, {"message": "Internal server error", "localCloud": repr(exc)})
        result = routed.result
        base_headers = {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": result.executed_version}
        if result.status == "timeout":
            return _json(504, {"message": "Endpoint request timed out"}, base_headers)
        if result.status != "ok":
            detail = _error_message(result.payload)
            return _json(
                502,
                {"message": "Internal server error", "localCloud": f"{result.status}: {detail}"},
                base_headers,
            )
        try:
            response: dict[str, Any] = json.loads(result.payload)
            status = int(response.get("statusCode", 200))
        except (ValueError, TypeError, AttributeError):
            return _json(
                502,
                {"message": "Internal server error", "localCloud": "malformed Lambda proxy response"},
                base_headers,
            )
        out_headers = {**base_headers, **{k: str(v) for k, v in (response.get("headers") or {}).items()}}
        for key, values in (response.get("multiValueHeaders") or {}).items():
            out_headers[key] = ", ".join(str(v) for v in values)
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else str(payload).encode()
        return status, out_headers, data


def _error_message(payload: bytes) -> str:
    try:
        error = json.loads(payload)
        return f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
    except (ValueError, AttributeError):
        return payload.decode(errors="replace")[:200]


def _json(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return status, {**(headers or {}), "Content-Type": "application/json"}, json.dumps(body).encode()


class _Handler(KeepAliveHandler):
    gateway: LocalGateway

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._reply(413, {"Content-Type": "application/json"}, b'{"message":"Request Too Long"}')
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        headers = {key: value for key, value in self.headers.items()}
        try:
            status, out_headers, data = self.gateway.handle(self.command, self.path, headers, body)
        except Exception as exc:  # the gateway itself must answer, whatever went wrong behind it
            status, out_headers, data = _json(
                502, {"message": "Internal server error", "localCloud": repr(exc)}
            )
        self._reply(status, out_headers, data)

    def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
        framing = ("content-length", "connection", "transfer-encoding")  # this server's own
        self.send_whole(status, ((k, v) for k, v in headers.items() if k.lower() not in framing), data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors, in JSON as the gateway's other answers. A method it has no
        `do_X` for (TRACE, PROPFIND, ...) gets what API Gateway answers for a method with no route."""
        if code == HTTPStatus.NOT_IMPLEMENTED and self.command:
            self._serve()
            return
        self.close_connection = True
        status, headers, data = _json(code, {"message": message or HTTPStatus(code).phrase})
        self._reply(status, headers, data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve  # noqa: N815
