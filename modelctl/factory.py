"""Builds the collaborators of every command (chalice's CLIFactory pattern): the commands ask this
factory for clients, names and domain objects, and tests hand the CLI one factory (as Typer's
context object) with a session, a fake clock, a prompt or a console of their own.

Stack outputs are read through one resolver (`outputs`): the local cloud's deployment record when
AWS_ENDPOINT_URL is loopback, CloudFormation otherwise (release/target.py). Heavy imports (boto3,
Rich, the shadow and precompute code) happen in the methods that need them, so that the plain
`modelctl rollback` starts with only what it uses.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from release.aws import AwsClients
from release.clock import Clock, SystemClock
from release.context import Prompt, ReleaseContext, Reporter
from release.lock import ALIAS_SCOPE, DEFAULT_LEASE_S
from release.target import RELEASE_OTHERWISE, Otherwise, OutputsSource, Target, TargetFlags, resolve_target
from release.target import outputs_source as _outputs_source

if TYPE_CHECKING:
    import boto3
    from rich.console import Console

    from modelctl.precompute.resources import PrecomputeResources
    from modelctl.reports.shadow.records import RecordReader
    from modelctl.retrain.target import RetrainTarget
    from release.compare import MetricsReader
    from release.pretraffic import Invoker
    from release.publish import ModelStoreUploader, VersionPublisher
    from release.shadow.control import ShadowControl
    from release.shadow.resources import ShadowTarget


def _shadow_retries() -> Any:
    """The shadow commands' client configuration: at most three attempts, so a status or a report
    gives up quickly on an unreachable bucket or queue."""
    from botocore.config import Config

    return Config(retries={"mode": "standard", "total_max_attempts": 3})


@dataclass
class Factory:
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    session: boto3.session.Session | None = None
    clock: Clock = field(default_factory=SystemClock)
    now: Callable[[], datetime] | None = None
    """The shadow and report commands' time (default: `clock.now`)."""
    invoker: Invoker | None = None
    metrics: MetricsReader | None = None
    lease_s: float = DEFAULT_LEASE_S
    light_clients: bool = False
    """botocore clients without boto3 (`AwsClients(light=True)`): the plain rollback's start-up."""
    console: Console | None = None
    """Where the shadow and report commands print (default: a plain Rich console, made when needed)."""

    @cached_property
    def clients(self) -> AwsClients:
        return AwsClients(self.session, light=self.light_clients)

    @cached_property
    def shadow_clients(self) -> AwsClients:
        return AwsClients(self.session, config=_shadow_retries())

    def time(self) -> datetime:
        return self.now() if self.now is not None else self.clock.now()

    def terminal(self) -> Console:
        if self.console is None:
            from rich.console import Console

            self.console = Console()
        return self.console

    # -- names ------------------------------------------------------------------------------------

    def outputs(self, otherwise: Otherwise = RELEASE_OTHERWISE) -> OutputsSource:
        """Where every command reads its stacks' outputs; `otherwise` words the error messages
        with what else that command's operator can do."""
        clients = self.clients
        return _outputs_source(self.env, lambda: clients.cloudformation, lambda: clients.region, otherwise)

    def target(self, flags: TargetFlags) -> Target:
        return resolve_target(flags, self.env, self.outputs)

    @cached_property
    def shadow_target(self) -> ShadowTarget:
        from release.shadow.resources import SHADOW_OTHERWISE, resolve_target

        return resolve_target(self.env, self.outputs(SHADOW_OTHERWISE))

    def precompute_resources(self, stack: str | None) -> PrecomputeResources:
        from modelctl.precompute.resources import resolve_resources

        return resolve_resources(stack, self.env, self.outputs)

    def retrain_target(self, state_machine: str | None) -> RetrainTarget:
        from modelctl.retrain.target import resolve_retrain_target

        return resolve_retrain_target(state_machine, self.env, self.outputs)

    # -- release ----------------------------------------------------------------------------------

    def context(
        self,
        flags: TargetFlags,
        *,
        reporter: Reporter,
        prompt: Prompt,
        poll_s: float = 15.0,
        scope: str = ALIAS_SCOPE,
    ) -> ReleaseContext:
        return ReleaseContext(
            target=self.target(flags),
            clients=self.clients,
            clock=self.clock,
            reporter=reporter,
            prompt=prompt,
            poll_s=poll_s,
            lock_scope=scope,
            lease_s=self.lease_s,
            invoker_override=self.invoker,
            metrics_override=self.metrics,
        )

    def uploader(self, target: Target) -> ModelStoreUploader:
        from release.publish import ModelStoreUploader

        return ModelStoreUploader(self.clients.s3, target.model_bucket)

    def publisher(self, target: Target, **options: Any) -> VersionPublisher:
        from release.publish import VersionPublisher

        return VersionPublisher(self.clients.lambda_, target.function_name, self.clock, **options)

    # -- shadow -----------------------------------------------------------------------------------

    def shadow_control(self) -> ShadowControl:
        from release.shadow.control import ShadowControl

        clients = self.shadow_clients
        return ShadowControl(
            self.shadow_target,
            s3=clients.s3,
            sqs=clients.client("sqs"),
            lambda_=clients.lambda_,
            cloudwatch=clients.cloudwatch,
            clock=self.time,
        )

    def shadow_reader(self, max_workers: int) -> RecordReader:
        from modelctl.reports.shadow.records import RecordReader

        return RecordReader(self.shadow_clients.s3, self.shadow_target.log_bucket, max_workers=max_workers)
