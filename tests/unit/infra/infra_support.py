"""Helpers for the CDK tests: synthesize the app as `cdk synth` does, with overrides."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

import app as cdk_app
from infra import nag
from infra.config import ConfigError, ServingConfig
from infra.config.runtime import RuntimeConfig
from infra.constructs.release_controller import HANDLER, ReleaseController
from infra.stacks import ModelStoreStack, ServingStack

REPO_ROOT = Path(__file__).resolve().parents[3]
CDK_JSON = REPO_ROOT / "cdk.json"
SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}
StackT = TypeVar("StackT", bound=cdk.Stack)
PRIVATE_ENCRYPTED_BUCKET: dict[str, Any] = {
    "BucketEncryption": {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    },
    "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    },
}
"""The properties of every bucket here: SSE-S3 and public access blocked (buckets.private_bucket)."""


def cdk_json_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]
    return context


@dataclass(frozen=True)
class SynthesizedApp:
    app: cdk.App
    config: ServingConfig
    model_store: ModelStoreStack
    serving: ServingStack
    store_template: Template
    serving_template: Template

    def stack(self, kind: type[StackT]) -> StackT:
        """The app's one stack of that class (the shadow, precompute or retraining stack...)."""
        return next(child for child in self.app.node.children if isinstance(child, kind))

    def templates(self) -> dict[str, Mapping[str, Any]]:
        return {
            self.model_store.stack_name: self.store_template.to_json(),
            self.serving.stack_name: self.serving_template.to_json(),
        }


def synthesize(artifacts_dir: Path, outdir: Path, **serving: Any) -> SynthesizedApp:
    """The app exactly as `cdk synth` builds it, with `serving.<key>` overrides and no bundling."""
    context = cdk_json_context()
    context.update(SKIP_BUNDLING)
    context["serving.model_artifacts_dir"] = str(artifacts_dir)
    context.update({f"serving.{key}": value for key, value in serving.items()})
    app = cdk_app.build_app(cdk.App(context=context, outdir=str(outdir)))
    stacks = [child for child in app.node.children if isinstance(child, cdk.Stack)]
    store = next(stack for stack in stacks if isinstance(stack, ModelStoreStack))
    serving_stack = next(stack for stack in stacks if isinstance(stack, ServingStack))
    return SynthesizedApp(
        app=app,
        config=serving_stack.config,
        model_store=store,
        serving=serving_stack,
        store_template=Template.from_stack(store),
        serving_template=Template.from_stack(serving_stack),
    )


def state_machine_definition(template: Template) -> dict[str, Any]:
    """The definition of the template's one state machine, each reference in it read as `${ref}`."""
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    body = machine["Properties"]["DefinitionString"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    document: dict[str, Any] = json.loads("".join(p if isinstance(p, str) else "${ref}" for p in parts))
    return document


def release_controller_stack(**props: Any) -> cdk.Stack:
    """The release controller alone in a stack (account and region set), code from an ECR image,
    synthesized with cdk-nag; `props` are the construct's others (the alarms, the log bucket)."""
    app = cdk.App()
    stack = cdk.Stack(app, "Controller", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    repository = ecr.Repository.from_repository_name(stack, "Repo", "retraining")
    ReleaseController(
        stack,
        "ReleaseController",
        runtime=RuntimeConfig(),
        code=lambda_.DockerImageCode.from_ecr(repository, cmd=[HANDLER]),
        model_bucket=s3.Bucket.from_bucket_name(stack, "Models", "models-bucket"),
        function_name="serving-fn",
        alias_name="live",
        release_table_name="release-table",
        **props,
    )
    nag.add_checks(app)
    app.synth()
    return stack


def config_error(artifacts_dir: Path, **context: Any) -> str:
    """The message of the ConfigError that the `serving.<key>` values in `context` raise."""
    with pytest.raises(ConfigError) as excinfo:
        ServingConfig.from_context({"model_artifacts_dir": str(artifacts_dir), **context}, base_dir=REPO_ROOT)
    return str(excinfo.value)
