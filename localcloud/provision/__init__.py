"""Provision the synthesized stacks into moto: the same resources, names and settings as on AWS.

Each CloudFormation type we deploy has a small handler, in the module of its AWS service
(`s3`, `iam`, `logs`, `cloudwatch`, `sqs`, `lambda_`, `dynamodb`, `sns`, `stepfunctions`, `events`,
`apigateway`), that creates the resource through boto3 (so against moto it is moto's own API doing
the work) or, for what moto cannot run (API Gateway's proxy integration, BucketDeployment's custom
resource), records what the local runtime needs. Every handler first looks for what exists, so
provisioning twice changes nothing. `provisioner.Provisioner` walks the templates and calls them.

This module holds what the handlers and the rest of the local cloud share: the records of what
was provisioned and the naming rule.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localcloud.provision.provisioner import Provisioner

ACCOUNT = "123456789012"


@dataclass
class ProvisionedResource:
    logical_id: str
    type: str
    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    local: dict[str, Any] = field(default_factory=dict)  # what the local runtime needs (routes, code dir)
    changed: bool = False
    note: str = ""


@dataclass
class ProvisionedStack:
    name: str
    resources: dict[str, ProvisionedResource]
    outputs: dict[str, Any]
    exports: dict[str, Any]

    def of_type(self, resource_type: str) -> list[ProvisionedResource]:
        return [r for r in self.resources.values() if r.type == resource_type]


@dataclass
class Deployment:
    stacks: list[ProvisionedStack]

    @property
    def changes(self) -> int:
        return sum(r.changed for s in self.stacks for r in s.resources.values())

    def of_type(self, resource_type: str) -> list[ProvisionedResource]:
        return [r for s in self.stacks for r in s.of_type(resource_type)]

    def output(self, key: str, *, stack: str | None = None) -> Any:
        """The value of the stack output named `key` (in the stacks whose name contains `stack`,
        when given). A key no stack has exactly may name a single output by a fragment of its name
        (any case). A name or fragment that matches outputs of different values is refused, so a new
        output never silently answers for an old one."""
        stacks = [s for s in self.stacks if stack is None or stack.lower() in s.name.lower()]
        matches = [(key, s.outputs[key]) for s in stacks if key in s.outputs]
        if not matches:
            fragment = key.lower()
            matches = [
                (name, value) for s in stacks for name, value in s.outputs.items() if fragment in name.lower()
            ]
        values = {json.dumps(value, sort_keys=True) for _, value in matches}
        if len(values) == 1:
            return matches[0][1]
        where = f" in stacks named *{stack}*" if stack is not None else ""
        if not matches:
            raise KeyError(f"no stack output matches {key!r}{where}")
        names = ", ".join(sorted({name for name, _ in matches}))
        raise KeyError(
            f"{len(matches)} stack outputs with different values match {key!r}{where} ({names}):"
            " name the stack"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "stacks": [
                {
                    "name": s.name,
                    "outputs": s.outputs,
                    "resources": {
                        r.logical_id: {
                            "type": r.type,
                            "physical_id": r.physical_id,
                            "attributes": r.attributes,
                            "local": r.local,
                            "note": r.note,
                        }
                        for r in s.resources.values()
                    },
                }
                for s in self.stacks
            ]
        }


class ProvisionError(RuntimeError):
    pass


def physical_name(stack: str, logical_id: str, *, max_length: int = 64, lower: bool = False) -> str:
    """CloudFormation-style generated name, but deterministic so re-provisioning finds it again."""
    suffix = hashlib.sha1(f"{stack}/{logical_id}".encode()).hexdigest()[:12].upper()
    head = f"{stack}-{logical_id}"[: max_length - len(suffix) - 1]
    name = f"{head}-{suffix}"
    return name.lower() if lower else name


# A resource handler: (provisioner, logical id, resolved properties, template resource) -> record.
Handler = Callable[["Provisioner", str, dict[str, Any], dict[str, Any]], ProvisionedResource]


def recorded(p: Provisioner, logical_id: str, resource: dict[str, Any], **fields: Any) -> ProvisionedResource:
    """A resource nothing is created for, recorded under its generated name; `fields` are the
    record's others (attributes, local, note)."""
    return ProvisionedResource(
        logical_id, resource["Type"], physical_name(p.stack_name, logical_id), **fields
    )
