"""The local gateway for each serving.api_type, from provisioned template resources: a REST route
whose integration takes the function qualifier from the path, an HTTP API's routes (auth by scheme
presence, payload 1.0), and a function URL (every path, payload 2.0)."""

from __future__ import annotations

import json
from typing import Any

from localcloud.functions import InvocationResult
from localcloud.gateway import LocalGateway, api_from_deployment
from localcloud.provision import Deployment, ProvisionedResource, ProvisionedStack
from localcloud.router import RoutedInvocation

ARN = "arn:aws:lambda:us-east-1:123456789012:function:Infer"
URI = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{ARN}:{{version}}/invocations"


def deployment(*resources: ProvisionedResource) -> Deployment:
    stack = ProvisionedStack("S", {r.logical_id: r for r in resources}, {}, {})
    return Deployment([stack])


def resource(kind: str, physical_id: str, **local: Any) -> ProvisionedResource:
    return ProvisionedResource(physical_id, kind, physical_id, local=local)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, function: str, qualifier: str, event: bytes) -> RoutedInvocation:
        self.calls.append((function, qualifier, json.loads(event)))
        if qualifier == "99":
            raise LookupError("no version 99")
        answer = {"statusCode": 200, "body": "{}", "headers": {"X-Function-Version": qualifier}}
        result = InvocationResult(
            request_id="r",
            executed_version=qualifier,
            status="ok",
            payload=json.dumps(answer).encode(),
            duration_ms=1.0,
        )
        return RoutedInvocation(qualifier=qualifier, result=result)


def gateway(deployed: Deployment, recorder: Recorder) -> LocalGateway:
    made = object.__new__(LocalGateway)  # its request handling without its listening socket
    made.api = api_from_deployment(deployed)
    made.invoke = recorder
    return made


def test_a_path_qualified_integration_invokes_the_version_the_path_names() -> None:
    rest = deployment(
        ProvisionedResource("Api", "AWS::ApiGateway::RestApi", "api", attributes={"RootResourceId": "root"}),
        resource("AWS::ApiGateway::Resource", "v", ParentId="root", PathPart="{version}"),
        resource(
            "AWS::ApiGateway::Method",
            "m",
            ResourceId="v",
            HttpMethod="POST",
            Integration={
                "Type": "AWS_PROXY",
                "Uri": URI,
                "RequestParameters": {"integration.request.path.version": "method.request.path.version"},
            },
        ),
        resource("AWS::ApiGateway::Stage", "st", StageName="prod"),
    )
    recorder = Recorder()
    status, headers, _ = gateway(rest, recorder).handle("POST", "/prod/7", {}, b"{}")
    assert status == 200 and headers["X-Function-Version"] == "7"
    assert recorder.calls[0][:2] == ("Infer", "7")
    assert gateway(rest, recorder).handle("POST", "/prod/99", {}, b"{}")[0] == 500


def test_an_http_api_checks_the_authorization_scheme_and_sends_payload_1() -> None:
    http = deployment(
        resource(
            "AWS::ApiGatewayV2::Integration", "i", IntegrationType="AWS_PROXY", IntegrationUri=f"{ARN}:live"
        ),
        resource(
            "AWS::ApiGatewayV2::Route",
            "r",
            RouteKey="POST /predict",
            Target="integrations/i",
            AuthorizationType="JWT",
        ),
    )
    recorder = Recorder()
    api = gateway(http, recorder)
    assert api.handle("POST", "/predict", {}, b"{}")[0] == 401
    assert api.handle("GET", "/nothing", {}, b"")[0] == 404
    status, _, _ = api.handle("POST", "/predict", {"Authorization": "Bearer t"}, b"{}")
    assert status == 200
    function, qualifier, event = recorder.calls[0]
    assert (function, qualifier, event["httpMethod"], event["path"]) == ("Infer", "live", "POST", "/predict")


def test_a_function_url_takes_every_path_with_payload_2() -> None:
    url = deployment(
        resource("AWS::Lambda::Url", "u", TargetFunctionArn=ARN, Qualifier="live", AuthType="AWS_IAM")
    )
    recorder = Recorder()
    api = gateway(url, recorder)
    assert api.handle("POST", "/v2/models/inference/infer", {}, b"{}")[0] == 403
    signed = {"Authorization": "AWS4-HMAC-SHA256 Credential=x", "Content-Type": "application/json"}
    assert api.handle("POST", "/v2/models/inference/infer?x=1", signed, b'{"a": 1}')[0] == 200
    _, qualifier, event = recorder.calls[0]
    assert qualifier == "live" and event["version"] == "2.0"
    assert event["rawPath"] == "/v2/models/inference/infer" and event["rawQueryString"] == "x=1"
    assert event["body"] == '{"a": 1}' and event["requestContext"]["http"]["method"] == "POST"
