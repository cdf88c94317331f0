"""API Gateway (REST and HTTP APIs): recorded for the local gateway, which serves the routes itself."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from localcloud.provision import Handler, ProvisionedResource

if TYPE_CHECKING:
    from localcloud.provision.provisioner import Provisioner


def _api_gateway(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    resource_type = resource["Type"]
    physical_id = hashlib.sha1(f"{p.stack_name}/{logical_id}".encode()).hexdigest()[:10]
    attributes: dict[str, Any] = {}
    local: dict[str, Any] = dict(props)
    if resource_type == "AWS::ApiGateway::RestApi":
        attributes["RootResourceId"] = f"{physical_id}-root"
    elif resource_type == "AWS::ApiGatewayV2::Api":  # the local gateway's own URL stands for it
        attributes["ApiEndpoint"] = "http://127.0.0.1"
        attributes["ApiId"] = physical_id
    elif resource_type == "AWS::ApiGateway::ApiKey":
        local["value"] = (
            props.get("Value") or hashlib.sha256(f"local-key/{physical_id}".encode()).hexdigest()[:40]
        )
    return ProvisionedResource(logical_id, resource_type, physical_id, attributes=attributes, local=local)


HANDLERS: dict[str, Handler] = {
    "AWS::ApiGateway::*": _api_gateway,
    "AWS::ApiGatewayV2::*": _api_gateway,
}
