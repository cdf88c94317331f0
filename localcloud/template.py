"""Reading synthesized CloudFormation templates: intrinsic functions and dependency order.

The local cloud provisions from `cdk.out`, the same templates `cdk deploy` sends to CloudFormation,
so the names and settings of local resources cannot drift from infra/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

NO_VALUE = object()


class TemplateError(RuntimeError):
    pass


@dataclass(frozen=True)
class StackTemplate:
    name: str
    path: Path
    body: dict[str, Any]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.body.get("Resources", {}))

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return dict(self.body.get("Outputs", {}))


def load_assembly(cdk_out: Path) -> list[StackTemplate]:
    """The stacks of a cloud assembly, in the order CDK would deploy them (dependencies first)."""
    manifest_path = cdk_out / "manifest.json"
    if not manifest_path.is_file():
        raise TemplateError(f"{manifest_path} does not exist: run `make synth` first")
    manifest = json.loads(manifest_path.read_text())
    stacks: dict[str, StackTemplate] = {}
    dependencies: dict[str, set[str]] = {}
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        template_file = artifact["properties"]["templateFile"]
        stack_name = (
            artifact.get("properties", {}).get("stackName") or artifact.get("displayName") or artifact_id
        )
        path = cdk_out / template_file
        stacks[artifact_id] = StackTemplate(stack_name, path, json.loads(path.read_text()))
        dependencies[artifact_id] = {d for d in artifact.get("dependencies", []) if not d.endswith(".assets")}
    order = TopologicalSorter({k: {d for d in v if d in stacks} for k, v in dependencies.items()})
    return [stacks[artifact_id] for artifact_id in order.static_order()]


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key == "Ref" and isinstance(inner, str):
                yield inner
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".", 1)[0]
                yield target
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                for name in re.findall(r"\$\{([^}!]+)\}", text):
                    yield name.split(".", 1)[0]
        for inner in value.values():
            yield from _references(inner)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def deployment_order(template: StackTemplate) -> list[str]:
    resources = template.resources
    graph: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        needs = {ref for ref in _references(resource.get("Properties", {})) if ref in resources}
        depends_on = resource.get("DependsOn", [])
        needs |= set([depends_on] if isinstance(depends_on, str) else depends_on)
        graph[logical_id] = needs - {logical_id}
    return list(TopologicalSorter(graph).static_order())


@dataclass
class Resolver:
    """Evaluates intrinsic functions against what has been provisioned so far."""

    region: str
    account: str
    stack_name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    physical_ids: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    exports: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)

    def pseudo(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack_name}/local"
            ),
            "AWS::NoValue": NO_VALUE,
            "AWS::NotificationARNs": [],
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical_ids:
            return self.physical_ids[name]
        raise TemplateError(f"Ref to {name!r}, which is not provisioned (yet)")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        try:
            return self.attributes[logical_id][attribute]
        except KeyError as exc:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} is not known locally") from exc

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, inner),) = value.items()
            handler = self._functions().get(key)
            if handler is not None:
                return handler(inner)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": lambda name: self.pseudo(name),
            "Fn::GetAtt": self._fn_get_att,
            "Fn::Join": lambda args: str(args[0]).join(str(v) for v in self.resolve(args[1])),
            "Fn::Sub": self._fn_sub,
            "Fn::Select": lambda args: self.resolve(args[1])[int(self.resolve(args[0]))],
            "Fn::Split": lambda args: str(self.resolve(args[1])).split(args[0]),
            "Fn::ImportValue": self._fn_import,
            "Fn::If": self._fn_if,
            "Fn::Equals": lambda args: self.resolve(args[0]) == self.resolve(args[1]),
            "Fn::Not": lambda args: not self.resolve(args[0]),
            "Fn::And": lambda args: all(self.resolve(a) for a in args),
            "Fn::Or": lambda args: any(self.resolve(a) for a in args),
            "Condition": lambda name: self.conditions.get(name, False),
            "Fn::Base64": lambda inner: (
                __import__("base64").b64encode(str(self.resolve(inner)).encode()).decode()
            ),
            "Fn::GetAZs": lambda _: [f"{self.region}{zone}" for zone in "abc"],
        }

    def _fn_get_att(self, inner: Any) -> Any:
        logical_id, attribute = inner if isinstance(inner, list) else str(inner).split(".", 1)
        return self.get_att(logical_id, self.resolve(attribute))

    def _fn_sub(self, inner: Any) -> str:
        text, variables = (inner[0], self.resolve(inner[1])) if isinstance(inner, list) else (inner, {})

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self.pseudo(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _fn_import(self, inner: Any) -> Any:
        name = self.resolve(inner)
        if name not in self.exports:
            raise TemplateError(f"Fn::ImportValue {name!r}: no stack exports it")
        return self.exports[name]

    def _fn_if(self, args: list[Any]) -> Any:
        condition, when_true, when_false = args
        return self.resolve(when_true if self.conditions.get(condition, False) else when_false)

    def evaluate_conditions(self, template: StackTemplate) -> None:
        for name, expression in template.body.get("Conditions", {}).items():
            self.conditions[name] = bool(self.resolve(expression))
