"""The retraining tests' deployment in moto (tests/unit/modelctl/world.py with a live model that
really serves, and a feedback bucket) and the workflow's steps run as its states run them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.model.metadata import ModelMetadata
from common.observe.label_join import labelled_predictions
from release.aws import AwsClients
from retrain.evaluate import evaluate
from retrain.gate import decide
from retrain.prepare import prepare
from retrain.production import find_production
from retrain.register import register
from retrain.release import Release, release
from retrain.runstore import RunStore
from retrain.settings import RetrainSettings
from retrain.train import train
from tests.unit.modelctl.world import FakeInvoker, World, build_world, sample_metadata


@dataclass
class Deployment:
    world: World
    settings: RetrainSettings
    live_model: str
    live_version: str
    execution: str  # the workflow execution's ARN; its last part is the run id
    registered_at: str  # `now` of the register step

    @property
    def s3(self) -> Any:
        return self.world.s3

    @property
    def run_id(self) -> str:
        return self.execution.rsplit(":", 1)[1]

    def keys(self, prefix: str) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.world.bucket, Prefix=prefix)
        return [o["Key"] for o in listed.get("Contents", [])]


def deploy(
    artifact: Path,
    metadata: ModelMetadata,
    *,
    feedback_bucket: str,
    execution: str,
    registered_at: str,
    **settings: Any,
) -> Deployment:
    """Inside mock_aws: the world serving `artifact` on `live`, an empty feedback bucket, and the
    workflow's settings (`settings` overriding the defaults)."""
    world = build_world(sample_metadata(artifact))
    for name in ("model.onnx", "metadata.json"):  # the live model, really servable
        world.s3.put_object(
            Bucket=world.bucket, Key=f"models/{metadata.version}/{name}", Body=(artifact / name).read_bytes()
        )
    live_version = world.publish_model_version(metadata.version, sample_metadata(artifact))
    world.s3.put_object(
        Bucket=world.bucket,
        Key=f"models/{metadata.version}/metadata.json",
        Body=(artifact / "metadata.json").read_bytes(),
    )
    world.set_routing(live_version)
    world.s3.create_bucket(Bucket=feedback_bucket)
    retrain_settings = RetrainSettings(
        model_bucket=world.bucket,
        feedback_bucket=feedback_bucket,
        function_name=world.function,
        alias_name=world.alias,
        release_table=world.table,
        shadow_config_uri=f"s3://{feedback_bucket}/control/shadow.json",
        feedback_lookback_days=1,  # fewer hourly prefixes to list
        **settings,
    )
    return Deployment(world, retrain_settings, metadata.version, live_version, execution, registered_at)


def run_until_gate(d: Deployment, settings: RetrainSettings) -> dict[str, Any]:
    """prepare -> train -> evaluate -> gate: the state the register step receives."""
    production = find_production(d.world.lambda_, settings.function_name, settings.alias_name)
    key = f"models/{production.model_version}/metadata.json"
    metadata = json.loads(d.s3.get_object(Bucket=d.world.bucket, Key=key)["Body"].read())
    state: dict[str, Any] = {}
    state["prepared"] = prepare(
        s3=d.s3,
        settings=settings,
        feedback_source=labelled_predictions,
        production=production,
        production_features=metadata["feature_names"],
        production_task=metadata["task"],
        run_id=d.run_id,
        until=datetime.now(UTC),
    )
    state["candidate"] = train(s3=d.s3, settings=settings, prepared=state["prepared"])
    state["evaluation"] = evaluate(
        s3=d.s3, settings=settings, prepared=state["prepared"], candidate=state["candidate"]
    )
    state["gate"] = decide(settings, state["evaluation"], state["prepared"])
    return state


def do_register(d: Deployment, state: dict[str, Any]) -> dict[str, Any]:
    return register(
        s3=d.s3,
        settings=d.settings,
        prepared=state["prepared"],
        candidate=state["candidate"],
        evaluation=state["evaluation"],
        gate=state["gate"],
        execution=d.execution,
        now=d.registered_at,
    )


def do_release(
    d: Deployment,
    settings: RetrainSettings,
    state: dict[str, Any],
    registered: dict[str, Any],
    *,
    who: str,
    store: RunStore | None = None,
    invoker: FakeInvoker | None = None,
) -> dict[str, Any]:
    """The release step of the run in `state`, as `who`, with the world's clients."""
    return release(
        settings=settings,
        releaser=Release(settings, AwsClients(d.world.session), who=who, invoker=invoker),
        registered=registered,
        store=store or RunStore(d.s3, d.world.bucket),
        prepared=state["prepared"],
        execution=d.execution,
    )
