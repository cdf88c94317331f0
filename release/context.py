"""The collaborators one release command works with. Each is built on first use, so a command
creates only the AWS clients it needs (a rollback never loads S3's or CloudWatch's models)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from release.alias import AliasManager, Routing, VersionCatalog
from release.aws import AwsClients, caller_identity
from release.clock import Clock
from release.lock import DEFAULT_LEASE_S, ReleaseLock
from release.store import ReleaseStore
from release.target import Target

if TYPE_CHECKING:  # imported where used: `modelctl rollback` needs neither gates nor invoker
    from mypy_boto3_s3 import S3Client

    from release.compare import MetricsReader
    from release.gates import Gates, GateSettings, GateState, RowsSource
    from release.pretraffic import Invoker


class Reporter(Protocol):
    """What a release tells the operator while it runs (the CLI shows it with Rich)."""

    def info(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...

    def bake(
        self,
        *,
        step: int,
        steps: int,
        routing: Routing,
        elapsed_s: float,
        bake_s: float,
        gates: Sequence[GateState],
    ) -> None: ...

    def bake_done(self) -> None: ...


class Prompt(Protocol):
    def confirm(self, question: str) -> bool: ...


@dataclass
class ReleaseContext:
    target: Target
    clients: AwsClients
    clock: Clock
    reporter: Reporter
    prompt: Prompt
    poll_s: float = 15.0
    lock_scope: str = "alias"
    lease_s: float = DEFAULT_LEASE_S
    invoker_override: Invoker | None = None
    metrics_override: MetricsReader | None = None
    identity: Callable[[], str] | None = None
    quality_rows_override: RowsSource | None = None
    """Joined rows for the quality gate (tests); else the log bucket (release/quality_step.py)."""

    @cached_property
    def alias(self) -> AliasManager:
        return AliasManager(self.clients.lambda_, self.target.function_name, self.target.alias_name)

    @cached_property
    def catalog(self) -> VersionCatalog:
        return VersionCatalog(self.clients.lambda_, self.target.function_name)

    @cached_property
    def store(self) -> ReleaseStore:
        return ReleaseStore(
            self.clients.dynamodb,
            self.target.release_table,
            self.target.function_name,
            self.target.alias_name,
        )

    @cached_property
    def lock(self) -> ReleaseLock:
        return ReleaseLock(
            self.clients.dynamodb,
            self.target.release_table,
            function=self.target.function_name,
            alias=self.target.alias_name,
            scope=self.lock_scope,
            clock=self.clock,
            lease_s=self.lease_s,
        )

    @cached_property
    def gates(self) -> Gates:
        from release.gates import Gates

        return Gates(self.clients.cloudwatch, self.target.function_name, self.target.alias_name)

    @cached_property
    def invoker(self) -> Invoker:
        from release.pretraffic import LambdaInvoker

        return self.invoker_override or LambdaInvoker(self.clients.lambda_)

    @cached_property
    def s3(self) -> S3Client:
        return self.clients.s3

    @cached_property
    def metrics(self) -> MetricsReader:
        from release.compare import CloudWatchMetricsReader

        return self.metrics_override or CloudWatchMetricsReader(
            self.clients.cloudwatch, self.target.function_name, self.target.alias_name
        )

    def clients_made_ahead(self) -> AbstractContextManager[None]:
        """Inside: the clients of the lock, the identity and the alias are being made in another
        thread, in that order (the order a command taking the lock uses them), so that each
        one's creation overlaps the calls made before it is needed (AwsClients.made_ahead)."""
        return self.clients.made_ahead("dynamodb", *(["sts"] if self.identity is None else []), "lambda")

    @cached_property
    def who(self) -> str:
        """The caller's AWS identity, recorded in the history and the lock."""
        return self.identity() if self.identity else caller_identity(self.clients.sts)

    def fleet_gate_settings(self) -> GateSettings:
        """Gate thresholds mirroring the stack's alias alarms."""
        from release.gates import settings_from_fleet_alarms

        return settings_from_fleet_alarms(self.clients.cloudwatch, self.target.fleet_alarms)
