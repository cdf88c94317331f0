"""Builds the collaborators of a command (chalice's CLIFactory pattern): the CLI asks this
factory for them, and tests hand the CLI a factory with a fake clock, a prompt and a session."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from release.aws import AwsClients
from release.clock import Clock, SystemClock
from release.context import Prompt, ReleaseContext, Reporter
from release.lock import ALIAS_SCOPE, DEFAULT_LEASE_S
from release.target import Target, TargetFlags, outputs_source, resolve_target

if TYPE_CHECKING:  # imported where used: `modelctl rollback` publishes nothing (nor imports boto3)
    import boto3

    from release.compare import MetricsReader
    from release.pretraffic import Invoker
    from release.publish import ModelStoreUploader, VersionPublisher


@dataclass
class ReleaseFactory:
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    session: boto3.session.Session | None = None
    clock: Clock = field(default_factory=SystemClock)
    invoker: Invoker | None = None
    metrics: MetricsReader | None = None
    lease_s: float = DEFAULT_LEASE_S
    light_clients: bool = False
    """botocore clients without boto3 (`AwsClients(light=True)`): the plain rollback's start-up."""

    @cached_property
    def clients(self) -> AwsClients:
        return AwsClients(self.session, light=self.light_clients)

    def target(self, flags: TargetFlags) -> Target:
        clients = self.clients
        return resolve_target(
            flags,
            self.env,
            lambda: outputs_source(self.env, lambda: clients.cloudformation, lambda: clients.region),
        )

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
