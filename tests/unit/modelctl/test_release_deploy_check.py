"""`modelctl deploy-check`: a deploy that would move the alias's traffic is refused before it runs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from release.alias import Routing
from release.deploy_check import check_deploy
from release.errors import RefusedError
from release.store import AliasRecord, ReleaseRecord
from tests.unit.modelctl.world import World, run_cli

DEPLOYED: dict[str, Any] = {
    "Resources": {
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 1024}},
        "InitialVersion": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
        "Alias": {
            "Type": "AWS::Lambda::Alias",
            "Properties": {
                "FunctionName": {"Ref": "Fn"},
                "FunctionVersion": {"Fn::GetAtt": ["InitialVersion", "Version"]},
                "Name": "live",
            },
        },
    }
}
VERSION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn:1"


def with_alias(**props: Any) -> dict[str, Any]:
    template = copy.deepcopy(DEPLOYED)
    template["Resources"]["Alias"]["Properties"].update(props)
    return template


def check(synthesized: dict[str, Any], routing: Routing, record: AliasRecord | None = None) -> str:
    return check_deploy(
        synthesized=synthesized,
        deployed=DEPLOYED,
        physical_id=lambda logical_id: VERSION_ARN if logical_id == "InitialVersion" else None,
        routing=routing,
        record=record,
    ).message


def test_a_deploy_that_leaves_the_alias_alone_passes_whatever_is_live() -> None:
    changed_function = copy.deepcopy(DEPLOYED)
    changed_function["Resources"]["Fn"]["Properties"]["MemorySize"] = 2048
    assert "leaves the alias alone" in check(changed_function, Routing("7", "8", 10))


def test_the_first_deploy_passes() -> None:
    verdict = check_deploy(
        synthesized=DEPLOYED, deployed=None, physical_id=lambda _: None, routing=None, record=None
    )
    assert "creates the alias" in verdict.message


def test_an_alias_update_that_would_pin_an_older_version_is_refused() -> None:
    synthesized = with_alias(ProvisionedConcurrencyConfig={"ProvisionedConcurrentExecutions": 2})
    with pytest.raises(
        RefusedError, match=r"point it at v1, but v7 is live: deploy with `-c serving.live_version=7`"
    ):
        check(synthesized, Routing("7"))


def test_an_alias_update_that_would_drop_a_canary_is_refused() -> None:
    synthesized = with_alias(
        FunctionVersion="7", ProvisionedConcurrencyConfig={"ProvisionedConcurrentExecutions": 2}
    )
    with pytest.raises(RefusedError, match=r"drop the 10% sent to v8"):
        check(synthesized, Routing("7", "8", 10))


def test_an_alias_update_during_a_release_is_refused() -> None:
    release = ReleaseRecord("r", "shift", "8", "7", [], "t", "me")
    with pytest.raises(RefusedError, match="while a shift of v8 is in progress"):
        check(with_alias(FunctionVersion="7", Description="x"), Routing("7"), AliasRecord(release, None))


def test_an_alias_update_that_keeps_the_live_primary_passes() -> None:
    synthesized = with_alias(
        FunctionVersion="7", ProvisionedConcurrencyConfig={"ProvisionedConcurrentExecutions": 2}
    )
    message = check(synthesized, Routing("7"))
    assert "keeps v7 live" in message and "ProvisionedConcurrencyConfig" in message


def test_replacing_the_alias_resource_is_refused() -> None:
    synthesized = copy.deepcopy(DEPLOYED)
    synthesized["Resources"]["Alias2"] = synthesized["Resources"].pop("Alias")
    with pytest.raises(RefusedError, match="replaces the alias resource"):
        check(synthesized, Routing("1"))


class DeployedStack:
    """CloudFormation as after a deploy of DEPLOYED (moto cannot create AWS::Lambda::Alias); the
    stack's outputs come from the world's stack in moto."""

    def __init__(self, real: Any, template: dict[str, Any] | None) -> None:
        self.real = real
        self.template = template

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def get_template(self, **kwargs: Any) -> Any:
        if self.template is None:
            raise ClientError(
                {"Error": {"Code": "ValidationError", "Message": "Stack with id x does not exist"}},
                "GetTemplate",
            )
        return {"TemplateBody": json.dumps(self.template)}

    def describe_stack_resource(self, **kwargs: Any) -> Any:
        return {"StackResourceDetail": {"PhysicalResourceId": VERSION_ARN}}


def test_deploy_check_command_refuses_with_the_remedy(world: World, tmp_path: Path) -> None:
    world.set_routing("2")
    template = tmp_path / "serving.template.json"
    template.write_text(
        json.dumps(with_alias(ProvisionedConcurrencyConfig={"ProvisionedConcurrentExecutions": 1}))
    )
    factory = world.factory()
    factory.clients.__dict__["cloudformation"] = DeployedStack(factory.clients.cloudformation, DEPLOYED)
    code, output, _ = run_cli(factory, "deploy-check", "--template", str(template))
    assert code == 1
    assert "serving.live_version=2" in output


def test_deploy_check_command_passes_a_deploy_that_leaves_the_alias_alone(
    world: World, tmp_path: Path
) -> None:
    template = tmp_path / "serving.template.json"
    template.write_text(json.dumps(DEPLOYED))
    factory = world.factory()
    factory.clients.__dict__["cloudformation"] = DeployedStack(factory.clients.cloudformation, DEPLOYED)
    code, output, _ = run_cli(factory, "deploy-check", "--template", str(template))
    assert code == 0 and "ok: the deploy leaves the alias alone" in output


def test_deploy_check_needs_a_synthesized_template(world: World, tmp_path: Path) -> None:
    code, output, _ = run_cli(world.factory(), "deploy-check", "--template", str(tmp_path / "none.json"))
    assert code == 1 and "run `make synth`" in output
