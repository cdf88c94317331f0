"""A function runtime running ./log_functions, with log subscriptions wired to its log sink as the
local cloud wires them, and no moto."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.functions import FunctionSpec, InvocationResult
from localcloud.functions.runtime import FunctionRuntime
from localcloud.provision import ACCOUNT, Deployment, ProvisionedResource, ProvisionedStack
from localcloud.subscriptions.delivery import LogSubscriptions

FIXTURE = Path(__file__).parent / "log_functions"
REGION = "us-east-1"
LOG_GROUP = "/app/prediction-log"
RECORD_PATTERN = '{ $.message = "prediction served" }'
BASE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def deployment(*, pattern: str = RECORD_PATTERN, retries: int | None = None) -> Deployment:
    """Functions `logger`, `ticker` and `deferred` log to LOG_GROUP (LoggingConfig), whose filter
    sends record lines to `collect`."""
    resources = [
        ProvisionedResource("Group", "AWS::Logs::LogGroup", LOG_GROUP),
        *(
            ProvisionedResource(name.title(), "AWS::Lambda::Function", name, local={"log_group": LOG_GROUP})
            for name in ("logger", "ticker", "deferred")
        ),
        ProvisionedResource("Collect", "AWS::Lambda::Function", "collect", local={}),
        ProvisionedResource(
            "Records",
            "AWS::Logs::SubscriptionFilter",
            "records",
            local={"LogGroupName": LOG_GROUP, "FilterPattern": pattern, "DestinationArn": arn("collect")},
        ),
    ]
    if retries is not None:
        config = {"FunctionName": "collect", "Qualifier": "$LATEST", "MaximumRetryAttempts": retries}
        resources.append(
            ProvisionedResource("Retry", "AWS::Lambda::EventInvokeConfig", "retry", local=config)
        )
    stack = ProvisionedStack("Test", {r.logical_id: r for r in resources}, {}, {})
    return Deployment([stack])


@dataclass
class LogFunctions:
    runtime: FunctionRuntime
    subscriptions: LogSubscriptions
    code_dir: Path
    out: Path
    lines: list[tuple[str, str]] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)

    def spec(self, name: str, handler: str | None = None) -> FunctionSpec:
        return FunctionSpec(
            function_name=name,
            version="1",
            handler=handler or f"app.{name}",
            code_dir=self.code_dir,
            environment={**self.environment, "OUT": str(self.out)},
            timeout_s=10.0,
            memory_mb=128,
            function_arn=arn(name),
        )

    def invoke(self, name: str, event: bytes = b"{}", handler: str | None = None) -> InvocationResult:
        return self.runtime.invoke(self.spec(name, handler), event)

    def delivered(self) -> list[dict[str, Any]]:
        if not self.out.is_file():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines()]

    def delivered_messages(self) -> list[dict[str, Any]]:
        return [json.loads(e["message"]) for batch in self.delivered() for e in batch["logEvents"]]

    def wait_delivered(self, timeout_s: float = 20.0) -> None:
        assert self.runtime.wait_logs_drained(timeout_s), "worker output not read in time"
        assert self.subscriptions.wait_delivered(timeout_s), f"not delivered: {self.subscriptions.report()}"


MakeLogFunctions = Callable[..., LogFunctions]
