"""AWS clients for one session, and AWS errors turned into one readable line.

botocore honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>, AWS_CA_BUNDLE), so the same
clients reach AWS, moto in tests, or the local cloud: nothing here knows which. Without a boto3
session given, the clients come from botocore directly (modelctl/release/aws_session.py: no
boto3 import, a loader that reads only the named service's files), which is what `modelctl
rollback` starts with.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from modelctl.release.errors import AwsCallError

if TYPE_CHECKING:
    import boto3
    import botocore.session
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

RETRIES = Config(retries={"max_attempts": 5, "mode": "standard"})


class AwsClients:
    """Lazily created clients sharing one session (region and credentials from the environment):
    the boto3 session given (tests, the retraining steps), else a botocore session of its own."""

    def __init__(self, session: boto3.session.Session | None = None, *, config: Config = RETRIES) -> None:
        self._session = session
        self._config = config

    @cached_property
    def botocore_session(self) -> botocore.session.Session:
        """The session of the clients when no boto3 session was given."""
        from modelctl.release.aws_session import cli_session

        return cli_session()

    def client(self, service: str) -> Any:
        with aws_errors(f"creating the {service} client"):
            if self._session is not None:
                return self._session.client(service, config=self._config)  # type: ignore[call-overload]
            return self.botocore_session.create_client(service, config=self._config)

    @property
    def region(self) -> str:
        if self._session is not None:
            return self._session.region_name or "(no region)"
        region = self.botocore_session.get_config_variable("region")
        return str(region) if region else "(no region)"

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
