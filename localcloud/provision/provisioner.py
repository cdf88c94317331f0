"""Walk the synthesized templates in deployment order; provision each resource with its service's handler."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud.aws import AwsClients
from localcloud.provision import (
    ACCOUNT,
    Deployment,
    Handler,
    ProvisionedResource,
    ProvisionedStack,
    apigateway,
    cloudwatch,
    dynamodb,
    events,
    iam,
    lambda_,
    logs,
    recorded,
    s3,
    sns,
    sqs,
    stepfunctions,
)
from localcloud.template import Resolver, StackTemplate, deployment_order, load_assembly


class Provisioner:
    """Provisions the cloud assembly in `cdk_out` through `clients`; `code_builder` turns one of our
    function folders into its bundle directory. The record of the result goes to `state_dir`."""

    def __init__(
        self,
        clients: AwsClients,
        *,
        cdk_out: Path,
        state_dir: Path,
        code_builder: Callable[[str], Path],
    ) -> None:
        self.clients = clients
        self.cdk_out = cdk_out
        self.state_dir = state_dir
        self.code_builder = code_builder
        self.region = clients.region
        self.stack: StackTemplate | None = None
        self.resolver: Resolver | None = None

    @property
    def stack_name(self) -> str:
        assert self.stack is not None
        return self.stack.name

    def provision(self) -> Deployment:
        exports: dict[str, Any] = {}
        stacks = []
        for template in load_assembly(self.cdk_out):
            stacks.append(self._provision_stack(template, exports))
            exports.update(stacks[-1].exports)
        deployment = Deployment(stacks)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "deployment.json").write_text(
            json.dumps(deployment.to_json(), indent=2, default=str)
        )
        return deployment

    def _provision_stack(self, template: StackTemplate, exports: dict[str, Any]) -> ProvisionedStack:
        self.stack = template
        resolver = Resolver(
            region=self.region, account=ACCOUNT, stack_name=template.name, exports=dict(exports)
        )
        for name, parameter in template.body.get("Parameters", {}).items():
            resolver.parameters[name] = parameter.get("Default")
        resolver.evaluate_conditions(template)
        self.resolver = resolver
        provisioned: dict[str, ProvisionedResource] = {}
        for logical_id in deployment_order(template):
            resource = template.resources[logical_id]
            condition = resource.get("Condition")
            if condition and not resolver.conditions.get(condition, False):
                continue
            resource_type = resource["Type"]
            handler = HANDLERS.get(resource_type) or HANDLERS.get(resource_type.rsplit("::", 1)[0] + "::*")
            if handler is None:
                handler = HANDLERS["Custom::*"] if resource_type.startswith("Custom::") else _unsupported
            properties = resolver.resolve(resource.get("Properties", {}))
            result = handler(self, logical_id, properties, resource)
            result.type = resource_type
            provisioned[logical_id] = result
            resolver.physical_ids[logical_id] = result.physical_id
            resolver.attributes[logical_id] = result.attributes
        outputs: dict[str, Any] = {}
        new_exports: dict[str, Any] = {}
        for key, output in template.outputs.items():
            value = resolver.resolve(output["Value"])
            outputs[key] = value
            if "Export" in output:
                new_exports[resolver.resolve(output["Export"]["Name"])] = value
        return ProvisionedStack(template.name, provisioned, outputs, new_exports)

    def asset_dir(self, resource: dict[str, Any]) -> Path | None:
        asset_path = resource.get("Metadata", {}).get("aws:asset:path")
        return self.cdk_out / asset_path if asset_path else None


def _unsupported(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    return recorded(p, logical_id, resource, note="not provisioned locally")


def _cdk_metadata(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    return ProvisionedResource(logical_id, resource["Type"], logical_id, note="CDK metadata")


def _custom(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    return recorded(p, logical_id, resource, note="custom resource not run locally")


# Every handler by CloudFormation type; "<prefix>::*" covers every type under that prefix.
HANDLERS: dict[str, Handler] = {
    "AWS::CDK::Metadata": _cdk_metadata,
    **s3.HANDLERS,
    **iam.HANDLERS,
    **logs.HANDLERS,
    **cloudwatch.HANDLERS,
    **sqs.HANDLERS,
    **lambda_.HANDLERS,
    **dynamodb.HANDLERS,
    **sns.HANDLERS,
    **stepfunctions.HANDLERS,
    **events.HANDLERS,
    **apigateway.HANDLERS,
    "Custom::*": _custom,
}
