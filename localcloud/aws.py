"""boto3 clients for one endpoint: moto on loopback locally, AWS itself when no endpoint is set."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient


@dataclass
class AwsClients:
    region: str = "us-east-1"
    endpoint_url: str | None = None
    config: Config = field(default_factory=lambda: Config(retries={"max_attempts": 3, "mode": "standard"}))

    def client(self, service: str) -> Any:
        session = boto3.session.Session(region_name=self.region)
        return session.client(service, endpoint_url=self.endpoint_url, config=self.config)  # type: ignore[call-overload]

    @cached_property
    def lambda_(self) -> LambdaClient:
        return self.client("lambda")  # type: ignore[no-any-return]

    def route_lambda_through(self, endpoint_url: str) -> None:
        """From now on `lambda_` calls `endpoint_url` (the local Lambda API front), not moto."""
        session = boto3.session.Session(region_name=self.region)
        self.__dict__["lambda_"] = session.client("lambda", endpoint_url=endpoint_url, config=self.config)

    @cached_property
    def s3(self) -> S3Client:
        return self.client("s3")  # type: ignore[no-any-return]

    @cached_property
    def sqs(self) -> SQSClient:
        return self.client("sqs")  # type: ignore[no-any-return]

    @cached_property
    def iam(self) -> IAMClient:
        return self.client("iam")  # type: ignore[no-any-return]

    @cached_property
    def logs(self) -> CloudWatchLogsClient:
        return self.client("logs")  # type: ignore[no-any-return]

    @cached_property
    def cloudwatch(self) -> CloudWatchClient:
        return self.client("cloudwatch")  # type: ignore[no-any-return]
