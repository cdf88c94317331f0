"""boto3 clients for one session, and AWS errors turned into one readable line.

boto3 honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>, AWS_CA_BUNDLE), so the same
clients reach AWS, moto in tests, or the local cloud: nothing here knows which.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from modelctl.release.errors import AwsCallError

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

RETRIES = Config(retries={"max_attempts": 5, "mode": "standard"})


class AwsClients:
    """Lazily created clients sharing one session (region and credentials from the environment)."""

    def __init__(self, session: boto3.session.Session | None = None, *, config: Config = RETRIES) -> None:
        self._session = session
        self._config = config

    @cached_property
    def session(self) -> boto3.session.Session:
        return self._session or boto3.session.Session()

    def client(self, service: str) -> Any:
        with aws_errors(f"creating the {service} client"):
            return self.session.client(service, config=self._config)  # type: ignore[call-overload]

    @property
    def region(self) -> str:
        return self.session.region_name or "(no region)"

    @cached_property
    def lambda_(self) -> LambdaClient:
        return self.client("lambda")  # type: ignore[no-any-return]

    @cached_property
    def s3(self) -> S3Client:
        return self.client("s3")  # type: ignore[no-any-return]

    @cached_property
    def cloudwatch(self) -> CloudWatchClient:
        return self.client("cloudwatch")  # type: ignore[no-any-return]

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        return self.client("dynamodb")  # type: ignore[no-any-return]

    @cached_property
    def sts(self) -> STSClient:
        return self.client("sts")  # type: ignore[no-any-return]

    @cached_property
    def cloudformation(self) -> Any:  # no stubs installed for CloudFormation
        return self.client("cloudformation")


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or str(exc)


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Any AWS failure inside becomes AwsCallError('<action>: <Code>: <message>')."""
    try:
        yield
    except ClientError as exc:
        raise AwsCallError(f"{action}: {error_code(exc)}: {error_message(exc)}") from exc
    except NoCredentialsError as exc:
        raise AwsCallError(
            f"{action}: no AWS credentials found (set AWS_PROFILE, or run `aws sso login`)"
        ) from exc
    except NoRegionError as exc:
        raise AwsCallError(f"{action}: no AWS region configured (set AWS_REGION)") from exc
    except BotoCoreError as exc:
        raise AwsCallError(f"{action}: {exc}") from exc


def caller_identity(sts: STSClient) -> str:
    """The caller's ARN, recorded as 'who' in the history."""
    with aws_errors("finding who you are (sts get-caller-identity)"):
        return str(sts.get_caller_identity()["Arn"])
