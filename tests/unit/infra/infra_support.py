"""Helpers for the CDK tests: synthesize the app as `cdk synth` does, with overrides."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

import app as cdk_app
from infra.config import ServingConfig
from infra.stacks import ModelStoreStack, ServingStack

REPO_ROOT = Path(__file__).resolve().parents[3]
CDK_JSON = REPO_ROOT / "cdk.json"
SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}


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
