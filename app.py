#!/usr/bin/env python3
"""CDK entry point: the only place that reads context and environment for the stacks."""

from __future__ import annotations

import os
from pathlib import Path

import aws_cdk as cdk

from infra import nag
from infra.config import CONTEXT_KEY, OVERRIDE_PREFIX, ServingConfig
from infra.stacks import (
    ModelStoreStack,
    PrecomputeStack,
    ReleaseControllerStack,
    RetrainingStack,
    ServingStack,
    ShadowStack,
)

REPO_ROOT = Path(__file__).resolve().parent


def build_app(app: cdk.App | None = None) -> cdk.App:
    app = app or cdk.App()
    overrides = {
        key.removeprefix(OVERRIDE_PREFIX): value
        for key, value in app.node.get_all_context().items()
        if key.startswith(OVERRIDE_PREFIX)
    }
    config = ServingConfig.from_context(
        app.node.try_get_context(CONTEXT_KEY), overrides=overrides, base_dir=REPO_ROOT
    )
    # No account or region is written anywhere: the CLI's credentials/profile decide.
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    store = ModelStoreStack(app, f"{config.project}-ModelStore", config=config, env=env)
    shadow = ShadowStack(app, f"{config.project}-Shadow", config=config, model_store=store, env=env)
    precompute = (
        PrecomputeStack(app, f"{config.project}-Precompute", config=config, model_store=store, env=env)
        if config.precompute.enabled
        else None
    )
    serving = ServingStack(
        app,
        f"{config.project}-Serving",
        config=config,
        model_store=store,
        shadow=shadow,
        precompute=precompute,
        env=env,
    )
    release = ReleaseControllerStack(
        app, f"{config.project}-Release", config=config, model_store=store, serving=serving, env=env,
        shadow=shadow,
    )  # fmt: skip
    RetrainingStack(
        app,
        f"{config.project}-Retraining",
        config=config,
        model_store=store,
        shadow=shadow,
        serving=serving,
        release=release,
        env=env,
    )
    nag.add_checks(app)
    return app


if __name__ == "__main__":
    build_app().synth()
