"""Who owns the alias, as the templates say: CDK creates it and never changes it again; releases
(modelctl) own its routing. And the release table the CLI records history and locks in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from common.model.metadata import ModelMetadata
from infra.config import ConfigError, ServingConfig
from tests.unit.infra.infra_support import SynthesizedApp, synthesize

ALIAS = "AWS::Lambda::Alias"


@pytest.fixture(scope="module")
def artifacts(trained_model: tuple[Path, ModelMetadata], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two artifacts: the trained one and a copy under another model version."""
    source, metadata = trained_model
    root = tmp_path_factory.mktemp("release_artifacts")
    shutil.copytree(source, root / metadata.version)
    shutil.copytree(source, root / "m-000000000002")
    meta = root / "m-000000000002" / "metadata.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "version": "m-000000000002"}))
    return root


@pytest.fixture(scope="module")
def first(
    artifacts: Path, trained_model: tuple[Path, ModelMetadata], tmp_path_factory: pytest.TempPathFactory
) -> SynthesizedApp:
    return synthesize(artifacts, tmp_path_factory.mktemp("cdk.out"), model_version=trained_model[1].version)


@pytest.fixture(scope="module")
def redeployed(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """The next deploy: another model, more memory, a new log level (a new function configuration)."""
    return synthesize(
        artifacts,
        tmp_path_factory.mktemp("cdk.out"),
        model_version="m-000000000002",
        memory_mb="2048",
        log_level="DEBUG",
    )


def resources(template: Template, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))


def test_a_redeploy_with_a_new_model_and_configuration_does_not_touch_the_alias(
    first: SynthesizedApp, redeployed: SynthesizedApp
) -> None:
    """CloudFormation updates a resource only when its template changes: the alias's does not."""
    assert resources(first.serving_template, ALIAS) == resources(redeployed.serving_template, ALIAS)


def test_a_redeploy_publishes_no_version_and_so_cannot_pin_one(
    first: SynthesizedApp, redeployed: SynthesizedApp
) -> None:
    versions = resources(first.serving_template, "AWS::Lambda::Version")
    assert len(versions) == 1
    assert versions == resources(redeployed.serving_template, "AWS::Lambda::Version")


def test_the_function_itself_does_change(first: SynthesizedApp, redeployed: SynthesizedApp) -> None:
    """$LATEST follows the deploy (modelctl publish freezes it into versions)."""
    assert resources(first.serving_template, "AWS::Lambda::Function") != resources(
        redeployed.serving_template, "AWS::Lambda::Function"
    )


def test_the_alias_names_the_version_published_when_the_stack_was_created(first: SynthesizedApp) -> None:
    (version_id,) = resources(first.serving_template, "AWS::Lambda::Version")
    first.serving_template.has_resource_properties(
        ALIAS,
        {"FunctionVersion": {"Fn::GetAtt": [version_id, "Version"]}, "RoutingConfig": Match.absent()},
    )
    first.serving_template.has_resource(
        "AWS::Lambda::Version", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )


def test_live_version_pins_the_alias_in_the_template(artifacts: Path, tmp_path: Path) -> None:
    synthesized = synthesize(artifacts, tmp_path, live_version="7", model_version="m-000000000002")
    synthesized.serving_template.has_resource_properties(ALIAS, {"FunctionVersion": "7"})


@pytest.mark.parametrize("value", ["0", "v7", "$LATEST", "1.5"])
def test_live_version_must_be_a_version_number(artifacts: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"serving\.live_version must be empty or a published version"):
        ServingConfig.from_context(
            {"live_version": value},
            base_dir=artifacts,
            overrides={"model_artifacts_dir": str(artifacts), "model_version": "m-000000000002"},
        )


def test_the_release_table_is_durable_and_pay_per_request(first: SynthesizedApp) -> None:
    template = first.serving_template
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    "BillingMode": "PAY_PER_REQUEST",
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
                    "DeletionProtectionEnabled": True,
                }
            ),
        },
    )
    (table_id,) = resources(template, "AWS::DynamoDB::Table")
    assert table_id.startswith("ReleaseStateTable")  # the logical id of stateful data must never change
    assert template.to_json()["Outputs"]["ReleaseTableName"]["Value"] == {"Ref": table_id}
