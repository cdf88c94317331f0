"""Release the registered model as configured, through the code `modelctl` runs:

- `registered`: nothing more; a human releases it (`modelctl publish` / `shadow start` / `canary`);
- `shadow`: publish a function version pinning it (`modelctl publish`), then mirror live traffic
  to that version (`modelctl shadow start <version>`);
- `canary`: publish, then `modelctl canary <version> --weight W --bake B` (pre-traffic check, gates
  on the new version, release lock, history). The canary stays at W% for an operator (or a later
  step) to promote or roll back; the bake must fit in the function's timeout.
- `shift`: publish, then start the release controller with a shift plan (steps and bakes from the
  configuration), as `modelctl shift` does, and hand the release off to it: the run ends when the
  release has started; the controller bakes, gates, promotes or rolls back on its own, and the
  release is followed like any other (`modelctl status`, `history`, `abort`).

Release lock conflicts become ReleaseBusyError, which the state machine retries with backoff.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.model.artifact_source import parse_s3_uri
from release.aws import AwsClients
from release.clock import SystemClock
from release.context import ReleaseContext
from release.errors import LockHeldError, ReleaseError
from release.gates import GateState
from release.lock import PUBLISH_SCOPE
from release.plan import canary_plan, shift_plan
from release.pretraffic import Invoker
from release.publish import ModelStoreUploader, VersionPublisher, check_compatible, validate_artifact
from release.publishing import publish_artifact
from release.runner import ReleaseOptions, Releaser
from release.shadow.control import ShadowControl
from release.shadow.resources import ShadowTarget
from release.target import Target
from retrain.errors import ReleaseBusyError, StepError
from retrain.runstore import RunStore
from retrain.settings import RetrainSettings


class LogReporter:
    """The Reporter a release talks to: lines in the function's log (CloudWatch Logs)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)
        print(message, flush=True)

    def warn(self, message: str) -> None:
        self.info(f"warning: {message}")

    def bake(
        self,
        *,
        step: int,
        steps: int,
        routing: Any,
        elapsed_s: float,
        bake_s: float,
        gates: Sequence[GateState],
    ) -> None:
        self.info(f"baking step {step}/{steps} {routing.describe()}: {elapsed_s:.0f}/{bake_s:.0f} s")

    def bake_done(self) -> None:
        pass


class NoPrompt:
    """Nobody answers inside a workflow: every question gets 'no' (e.g. no take-over of a lock)."""

    def confirm(self, question: str) -> bool:
        return False


@dataclass(frozen=True)
class Release:
    settings: RetrainSettings
    clients: AwsClients
    who: str
    fleet_alarms: tuple[str, ...] = ()
    invoker: Invoker | None = None  # the pre-traffic check's Lambda invoker (tests inject one)

    def context(self, scope: str = "alias") -> ReleaseContext:
        settings = self.settings
        if not settings.release_table:
            raise StepError("MODELCTL_RELEASE_TABLE is not set: releases need the release table")
        target = Target(
            function_name=settings.function_name,
            alias_name=settings.alias_name,
            stack_name="",
            release_table=settings.release_table,
            model_bucket=settings.model_bucket,
            fleet_alarms=self.fleet_alarms,
        )
        return ReleaseContext(
            target=target,
            clients=self.clients,
            clock=SystemClock(),
            reporter=LogReporter(),
            prompt=NoPrompt(),
            lock_scope=scope,
            identity=lambda: self.who,
            invoker_override=self.invoker,
        )

    def publish(self, model_uri: str, reason: str) -> str:
        """`modelctl publish` of a registered model: checks, lock, version, history; the version."""
        ctx = self.context(PUBLISH_SCOPE)
        bucket, prefix = parse_s3_uri(model_uri)
        with tempfile.TemporaryDirectory(prefix="release-") as folder:
            directory = RunStore(ctx.s3, bucket).get_artifact(prefix, Path(folder) / "model")
            artifact = validate_artifact(directory)
            live = ctx.catalog.describe(ctx.alias.read().routing.primary)
            if live.model_uri:
                from release.models import read_published_metadata

                check_compatible(artifact.metadata, read_published_metadata(ctx.s3, live.model_uri))
            uploader = ModelStoreUploader(ctx.s3, bucket)
            publisher = VersionPublisher(ctx.clients.lambda_, ctx.target.function_name, ctx.clock)
            outcome = publish_artifact(ctx, uploader, publisher, artifact, reason=reason)
        return outcome.published.version

    def shadow(self, version: str) -> dict[str, Any]:
        settings = self.settings
        if not settings.shadow_config_uri:
            raise StepError("RETRAIN_SHADOW_CONFIG_URI is not set: the shadow stack is not connected")
        target = ShadowTarget(
            function_name=settings.function_name,
            alias_name=settings.alias_name,
            model_bucket=settings.model_bucket,
            log_bucket=settings.feedback_bucket,
            config_uri=settings.shadow_config_uri,
            queue_url="",
            dead_letter_queue_url="",
            shadow_function_name="",
            dead_letter_alarm_name="",
            serving_stack="",
            shadow_stack="",
        )
        clients = self.clients
        control = ShadowControl(
            target, s3=clients.s3, sqs=None, lambda_=clients.lambda_, cloudwatch=clients.cloudwatch
        )
        result = control.start(version, sample_percent=settings.shadow_sample_percent)
        return {
            "candidate_model_version": result.config.candidate_model_version,
            "sample_percent": result.config.sample_percent,
            "live_model_version": result.live_model_version,
            "warnings": result.warnings,
        }

    def canary(self, version: str, reason: str) -> dict[str, Any]:
        settings = self.settings
        ctx = self.context()
        outcome = Releaser(ctx).release(
            version,
            lambda base: canary_plan(version, base, settings.canary_weight, settings.canary_bake_seconds),
            ReleaseOptions(reason=reason),
        )
        return {"message": outcome.message, "routing": outcome.routing.describe()}

    def shift(self, version: str, reason: str, sfn: Any) -> dict[str, Any]:
        """Start the release controller with a shift to `version`; its release id and execution."""
        from release.controller import client
        from release.controller.execution import ControllerOptions

        settings = self.settings
        steps, bake_s = list(settings.shift_steps), settings.shift_bake_seconds
        started = client.start(
            self.context(),
            sfn,
            settings.release_controller,
            lambda base: shift_plan(version, base, steps, bake_s),
            ControllerOptions(reason=reason),
        )
        return {
            "release_id": started.release_id,
            "execution_arn": started.execution_arn,
            "steps": steps,
            "bake_seconds": bake_s,
        }


def release(
    *,
    settings: RetrainSettings,
    releaser: Release,
    registered: dict[str, Any],
    store: RunStore,
    prepared: dict[str, Any],
    execution: str,
) -> dict[str, Any]:
    mode = settings.release_mode
    model_version = str(registered["model_version"])
    reason = f"retraining {execution.rsplit(':', 1)[-1]}"
    result: dict[str, Any] = {"mode": mode, "model_version": model_version}
    try:
        if mode == "registered":
            result["summary"] = (
                f"model {model_version} registered; release it with `modelctl publish` / "
                "`modelctl shadow start`"
            )
        else:
            version = releaser.publish(str(registered["model_uri"]), reason)
            result["function_version"] = version
            if mode == "shadow":
                result["shadow"] = releaser.shadow(version)
                result["summary"] = (
                    f"model {model_version} published as version {version} and shadowing "
                    f"{result['shadow']['sample_percent']:g}% of live traffic"
                )
            elif mode == "shift":
                result["shift"] = releaser.shift(version, reason, releaser.clients.client("stepfunctions"))
                steps = ",".join(f"{p:g}" for p in result["shift"]["steps"])
                result["summary"] = (
                    f"model {model_version} published as version {version}; the release controller shifts "
                    f"the traffic through {steps}% with {result['shift']['bake_seconds']:g} s bakes "
                    f"(release {result['shift']['release_id']}: `modelctl status` follows it)"
                )
            else:
                result["canary"] = releaser.canary(version, reason)
                result["summary"] = (
                    f"model {model_version} published as version {version}: {result['canary']['message']}"
                )
    except LockHeldError as exc:
        raise ReleaseBusyError(str(exc)) from exc
    except ReleaseError as exc:
        raise StepError(f"releasing {model_version} ({mode}): {exc}") from exc
    # The run succeeded: the next one reads feedback from here on.
    from datetime import datetime

    store.advance_watermark(
        datetime.fromisoformat(str(prepared["until"])), execution=execution, model_version=model_version
    )
    return result
