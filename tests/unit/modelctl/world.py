"""A serving deployment in moto for the release tests: function, versions pinning models, alias
`live`, release table, model bucket, alias alarms and a CloudFormation stack with the outputs."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
from rich.console import Console
from typer.testing import CliRunner, Result

from modelctl.cli import app
from modelctl.factory import Factory
from release.errors import ReleaseError
from release.lock import ReleaseLock
from release.pretraffic import InvokeResult
from release.shadow.resources import ShadowTarget

REGION = "us-east-1"
_SESSION: list[boto3.session.Session] = []


def shared_session() -> boto3.session.Session:
    """One session for every factory: botocore caches service models per session (a fresh one
    costs about a second of JSON loading), and moto intercepts its clients like any other."""
    if not _SESSION:
        _SESSION.append(boto3.session.Session(region_name=REGION))
    return _SESSION[0]


NAMESPACE = "ModelServing"
SERVICE = "inference"


class FakeClock:
    """Time that moves only when slept; hooks run on every sleep (traffic, alarms, Ctrl-C)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        self._mono = 1000.0
        self.slept: list[float] = []
        self.on_sleep: list[Callable[[float], None]] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        self.slept.append(seconds)
        for hook in list(self.on_sleep):
            hook(seconds)

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._now += timedelta(seconds=seconds)


class Notes:
    """A release reporter that keeps the lines it is told and ignores the bake's progress."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)

    def warn(self, message: str) -> None:
        self.lines.append(f"warning: {message}")

    def bake(self, **_: Any) -> None:
        pass

    def bake_done(self) -> None:
        pass


class No:
    """A prompt that declines every question."""

    def confirm(self, question: str) -> bool:
        return False


@dataclass
class FakeInvoker:
    """Answers like the inference handler: the version invoked and the model its MODEL_URI pins."""

    lambda_client: Any
    function: str
    failing: dict[str, str] = field(default_factory=dict)  # version -> error type
    calls: list[tuple[str, str]] = field(default_factory=list)

    def invoke(self, function: str, version: str, event: dict[str, Any]) -> InvokeResult:
        self.calls.append((version, f"{event['httpMethod']} {event['path']}"))
        if version in self.failing:
            payload = {"errorType": self.failing[version], "errorMessage": "boom"}
            return InvokeResult(json.dumps(payload).encode(), "Unhandled", version)
        config = self.lambda_client.get_function_configuration(FunctionName=function, Qualifier=version)
        model = config["Environment"]["Variables"]["MODEL_URI"].rstrip("/").rsplit("/", 1)[-1]
        if event["path"] == "/health":
            body: dict[str, Any] = {"status": "ok", "function_version": version, "model_version": model}
        else:
            rows = json.loads(event["body"])["instances"]
            body = {
                "predictions": [0] * len(rows),
                "probabilities": [[1.0, 0.0]] * len(rows),
                "model_version": model,
            }
        response = {"statusCode": 200, "headers": {"X-Function-Version": version}, "body": json.dumps(body)}
        return InvokeResult(json.dumps(response).encode(), None, version)


def lambda_role(iam: Any, name: str) -> str:
    """The ARN of a new role `name` that Lambda may assume."""
    trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    }
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    return arn


def handler_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


@dataclass
class World:
    function: str
    alias: str
    bucket: str
    table: str
    stack: str
    role: str
    errors_alarm: str
    p99_alarm: str
    clock: FakeClock
    invoker: FakeInvoker
    env: dict[str, str]
    model_versions: dict[str, str]  # lambda version -> model version
    session: boto3.session.Session = field(default_factory=shared_session)

    @cached_property
    def lambda_(self) -> Any:
        return self.session.client("lambda")

    @cached_property
    def cloudwatch(self) -> Any:
        return self.session.client("cloudwatch")

    @cached_property
    def dynamodb(self) -> Any:
        return self.session.client("dynamodb")

    @cached_property
    def s3(self) -> Any:
        return self.session.client("s3")

    def release_lock(self, *, scope: str = "alias") -> ReleaseLock:
        """The release table's lock on this world's alias, as another modelctl process holds it."""
        return ReleaseLock(
            self.dynamodb, self.table, function=self.function, alias=self.alias, scope=scope, clock=self.clock
        )

    def factory(self, **overrides: Any) -> Factory:
        options: dict[str, Any] = {
            "env": dict(self.env),
            "clock": self.clock,
            "invoker": self.invoker,
            "session": self.session,
        }
        options.update(overrides)
        return Factory(**options)

    def alias_routing(self) -> tuple[str, dict[str, float]]:
        alias = self.lambda_.get_alias(FunctionName=self.function, Name=self.alias)
        return alias["FunctionVersion"], dict(
            (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        )

    def set_routing(self, primary: str, extra: dict[str, float] | None = None) -> None:
        self.lambda_.update_alias(
            FunctionName=self.function,
            Name=self.alias,
            FunctionVersion=primary,
            RoutingConfig={"AdditionalVersionWeights": extra or {}},
        )

    def gate_alarm(self, version: str, kind: str) -> str:
        return f"modelctl-{self.function}-{self.alias}-v{version}-{kind}"

    def alarm_names(self, prefix: str = "modelctl-") -> list[str]:
        return [
            a["AlarmName"] for a in self.cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
        ]

    def set_alarm(self, name: str, state: str, reason: str = "test") -> None:
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)

    def history_items(self) -> list[dict[str, Any]]:
        from release.store import from_item

        items = self.dynamodb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"HISTORY#{self.function}#{self.alias}"}},
        )["Items"]
        return [from_item(item) for item in items]

    def actions(self) -> list[tuple[str, str]]:
        return [(item["action"], item["outcome"]) for item in self.history_items()]

    def state_item(self) -> dict[str, Any]:
        from release.store import from_item

        key = {"pk": {"S": f"ALIAS#{self.function}#{self.alias}"}, "sk": {"S": "STATE"}}
        return from_item(self.dynamodb.get_item(TableName=self.table, Key=key).get("Item", {}))

    def publish_model_version(self, model_version: str, metadata: dict[str, Any] | None = None) -> str:
        """Upload metadata for `model_version` and publish a function version pinning it."""
        data = dict(metadata or {})
        data["version"] = model_version
        self.s3.put_object(
            Bucket=self.bucket, Key=f"models/{model_version}/metadata.json", Body=json.dumps(data)
        )
        config = self.lambda_.get_function_configuration(FunctionName=self.function)
        variables = dict(config["Environment"]["Variables"])
        variables["MODEL_URI"] = f"s3://{self.bucket}/models/{model_version}/"
        self.lambda_.update_function_configuration(
            FunctionName=self.function, Environment={"Variables": variables}
        )
        version = str(self.lambda_.publish_version(FunctionName=self.function)["Version"])
        self.model_versions[version] = model_version
        return version


def build_world(
    metadata: dict[str, Any],
    clock: FakeClock | None = None,
    *,
    suffix: str = "",
    session: boto3.session.Session | None = None,
) -> World:
    """Three versions (v1 live, v2 and v3 candidates) of a function behind `live`."""
    session = session or shared_session()
    name = f"inference-{suffix}" if suffix else "inference"
    iam = session.client("iam")
    role = iam.create_role(RoleName=f"role-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    bucket = f"models-{name}"
    s3 = session.client("s3")
    s3.create_bucket(Bucket=bucket)
    lam = session.client("lambda")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": handler_zip()},
        Environment={
            "Variables": {
                "MODEL_URI": f"s3://{bucket}/models/m-one/",
                "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
                "POWERTOOLS_SERVICE_NAME": SERVICE,
                "MAX_ROWS": "1000",
            }
        },
    )
    table = f"releases-{name}"
    dynamodb = session.client("dynamodb")
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    cloudwatch = session.client("cloudwatch")
    alias_dims = [{"Name": "FunctionName", "Value": name}, {"Name": "Resource", "Value": f"{name}:live"}]
    errors_alarm, p99_alarm = f"{name}-errors", f"{name}-p99"
    common: dict[str, Any] = {
        "Namespace": "AWS/Lambda",
        "Dimensions": alias_dims,
        "Period": 60,
        "EvaluationPeriods": 3,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    }
    cloudwatch.put_metric_alarm(
        AlarmName=errors_alarm, MetricName="Errors", Statistic="Sum", Threshold=5, **common
    )
    cloudwatch.put_metric_alarm(
        AlarmName=p99_alarm, MetricName="Duration", ExtendedStatistic="p99", Threshold=1000, **common
    )
    stack = f"{name}-Serving"
    outputs = {
        "FunctionName": name,
        "AliasName": "live",
        "ModelBucketName": bucket,
        "ReleaseTableName": table,
        "ErrorsAlarmName": errors_alarm,
        "P99DurationAlarmName": p99_alarm,
    }
    template = {
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    session.client("cloudformation").create_stack(StackName=stack, TemplateBody=json.dumps(template))
    clock = clock or FakeClock()
    world = World(
        function=name,
        alias="live",
        bucket=bucket,
        table=table,
        stack=stack,
        role=role,
        errors_alarm=errors_alarm,
        p99_alarm=p99_alarm,
        clock=clock,
        invoker=FakeInvoker(lam, name),
        env={"MODELCTL_STACK": stack, "AWS_DEFAULT_REGION": REGION},
        model_versions={},
        session=session,
    )
    for model in ("m-one", "m-two", "m-three"):
        world.publish_model_version(model, metadata)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return world


def run_cli(factory: Factory, *args: str, input: str | None = None) -> tuple[int, str, Result]:
    """Run modelctl as `main()` does: a ReleaseError is one line and its exit code."""
    result = CliRunner().invoke(app, list(args), obj=factory, input=input, catch_exceptions=True)
    output = result.output
    code = result.exit_code
    if isinstance(result.exception, ReleaseError):
        code = result.exception.exit_code
        output += f"error: {result.exception}\n"
    elif result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return code, output, result


def sample_metadata(trained: Path) -> dict[str, Any]:
    return dict(json.loads((trained / "metadata.json").read_text()))


def report_factory(
    session: boto3.session.Session,
    *,
    log_bucket: str,
    model_bucket: str,
    now: Callable[[], datetime] | None = None,
    env: dict[str, str] | None = None,
) -> Factory:
    """The CLI's factory for the report and shadow commands, its stacks' outputs given (function
    `inference` on `live`, the two buckets) rather than looked up, printing 200 columns wide."""
    factory = Factory(env=env or {}, session=session, now=now, console=Console(width=200))
    factory.__dict__["shadow_target"] = ShadowTarget(
        function_name="inference",
        alias_name="live",
        model_bucket=model_bucket,
        log_bucket=log_bucket,
        config_uri=f"s3://{log_bucket}/control/shadow.json",
        queue_url="",
        dead_letter_queue_url="",
        shadow_function_name="shadow",
        dead_letter_alarm_name="dlq",
        serving_stack="ModelServing-Serving",
        shadow_stack="ModelServing-Shadow",
    )
    return factory
