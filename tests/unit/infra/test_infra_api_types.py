"""The inference API for each serving.api_type: the Open Inference routes and their pinned
integration on the REST API, the HTTP API's routes, auth, throttling and access logs, the function
URL, and one route table shared with the function (functions/inference/api.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra.config import ConfigError, ServingConfig
from infra.constructs.api_routes import INFERENCE_ROUTES
from tests.unit.infra.infra_support import REPO_ROOT, SynthesizedApp


def _rest_paths(template: Template) -> set[tuple[str, str]]:
    resources = template.to_json()["Resources"]
    parts = {
        logical: (props["Properties"]["ParentId"], props["Properties"]["PathPart"])
        for logical, props in resources.items()
        if props["Type"] == "AWS::ApiGateway::Resource"
    }

    def path(reference: Any) -> str:
        if isinstance(reference, dict) and "Ref" in reference and reference["Ref"] in parts:
            parent, part = parts[reference["Ref"]]
            return f"{path(parent)}/{part}"
        return ""

    return {
        (path(props["Properties"]["ResourceId"]), props["Properties"]["HttpMethod"])
        for props in resources.values()
        if props["Type"] == "AWS::ApiGateway::Method" and props["Properties"]["HttpMethod"] != "OPTIONS"
    }


def test_the_route_table_is_the_functions() -> None:
    from inference.api import ROUTES

    assert sorted(ROUTES) == sorted(INFERENCE_ROUTES)


def test_the_rest_api_declares_every_inference_route(template: Template) -> None:
    assert set(INFERENCE_ROUTES) <= _rest_paths(template)


def test_pinned_routes_invoke_the_version_their_path_names(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "RequestParameters": {"method.request.path.name": True, "method.request.path.version": True},
            "Integration": {
                "Type": "AWS_PROXY",
                "Credentials": Match.any_value(),
                "RequestParameters": {"integration.request.path.version": "method.request.path.version"},
                "Uri": {"Fn::Join": ["", Match.array_with([":{version}/invocations"])]},
            },
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "lambda:InvokeFunction",
                                "Resource": Match.array_with([{"Fn::Join": ["", [Match.any_value(), ":*"]]}]),
                            }
                        )
                    ]
                )
            }
        },
    )


def test_the_http_api_has_every_route_iam_throttling_and_access_logs(http_app: SynthesizedApp) -> None:
    template = http_app.serving_template
    routes = template.find_resources("AWS::ApiGatewayV2::Route")
    keys = {props["Properties"]["RouteKey"] for props in routes.values()}
    assert {f"{method} {path}" for path, method in INFERENCE_ROUTES} | {"POST /feedback"} <= keys
    assert {props["Properties"]["AuthorizationType"] for props in routes.values()} == {"AWS_IAM"}
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Integration", {"IntegrationType": "AWS_PROXY", "PayloadFormatVersion": "1.0"}
    )
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "$default",
            "AutoDeploy": True,
            "DefaultRouteSettings": {"ThrottlingRateLimit": Match.any_value(), "ThrottlingBurstLimit": 100},
            "AccessLogSettings": {
                "DestinationArn": Match.any_value(),
                "Format": Match.string_like_regexp("routeKey"),
            },
        },
    )
    template.resource_count_is("AWS::ApiGateway::RestApi", 0)
    template.resource_count_is("AWS::ApiGateway::ApiKey", 0)


def test_jwt_authorization_on_the_http_api(jwt_http_app: SynthesizedApp) -> None:
    template = jwt_http_app.serving_template
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Authorizer",
        {
            "AuthorizerType": "JWT",
            "JwtConfiguration": {"Audience": ["client-one"], "Issuer": Match.any_value()},
        },
    )
    routes = template.find_resources("AWS::ApiGatewayV2::Route")
    assert {props["Properties"]["AuthorizationType"] for props in routes.values()} == {"JWT"}


def test_the_function_url_is_on_the_live_alias_with_iam(function_url_app: SynthesizedApp) -> None:
    template = function_url_app.serving_template
    template.has_resource_properties("AWS::Lambda::Url", {"AuthType": "AWS_IAM", "Qualifier": "live"})
    template.resource_count_is("AWS::ApiGateway::RestApi", 0)
    outputs = template.to_json()["Outputs"]
    assert "FunctionUrl" in str(outputs["ApiUrl"]["Value"])


@pytest.mark.parametrize(
    ("api_type", "api_auth"), [("http", "api_key"), ("function_url", "jwt"), ("rest", "jwt")]
)
def test_an_auth_the_api_type_does_not_offer_is_refused(api_type: str, api_auth: str, tmp_path: Path) -> None:
    artifacts = REPO_ROOT / "model_artifacts"
    with pytest.raises(ConfigError, match=f"api_type={api_type} offers"):
        ServingConfig.from_context(
            {"api_type": api_type, "api_auth": api_auth, "model_artifacts_dir": str(artifacts)},
            base_dir=REPO_ROOT,
        )
