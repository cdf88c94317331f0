"""AWS clients for one session, and AWS errors turned into one readable line.

botocore honours AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>, AWS_CA_BUNDLE), so the same
clients reach AWS, moto in tests, or the local cloud: nothing here knows which. The clients are
boto3's (with its S3 transfer methods, `upload_file`, `download_file`, `copy`, that the
precompute and retraining steps use), except for `light=True`: then they come from botocore
directly (release/aws_session.py: no boto3 import, a loader that reads only the named
service's files), which is what `modelctl rollback` starts with; its calls need nothing boto3
adds to a client.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from release.errors import AwsCallError, ReleaseError

if TYPE_CHECKING:
    import boto3
    import botocore.session
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

RETRIES = Config(retries={"max_attempts": 5, "mode": "standard"})
_ATTRIBUTE = {"lambda": "lambda_"}  # the property of a service's client, where not its name


class AwsClients:
    """Lazily created clients sharing one session (region and credentials from the environment):
    the boto3 session given (tests), else a boto3 session of its own, or with `light=True` (and
    no session given) a botocore session of its own."""

    def __init__(
        self, session: boto3.session.Session | None = None, *, config: Config = RETRIES, light: bool = False
    ) -> None:
        self._session = session
        self._light = light and session is None
        self._config = config
        self._ahead: dict[str, Future[Any]] = {}
        self._maker: threading.Thread | None = None

    @contextmanager
    def made_ahead(self, *services: str) -> Iterator[None]:
        """Inside: these clients are being created, one after another, in a thread of their own,
        so that their creation (CPU work: service models, endpoint rules) overlaps
        the calls this thread makes meanwhile with clients it already has. Until that thread is
        done, the session is used by it alone: `client()` and `region` wait for it (a session is
        not thread-safe, its clients are). A creation's error is raised where that client is
        first used, as without this. On the way out, the thread is waited for."""
        self._make_ahead(services)
        try:
            yield
        finally:
            if self._maker is not None:
                self._maker.join()
                self._maker = None

    def _make_ahead(self, services: tuple[str, ...]) -> None:
        if self._maker is not None:
            return
        wanted = [name for name in services if _ATTRIBUTE.get(name, name) not in self.__dict__]
        if self._light:
            self.botocore_session  # noqa: B018 (made here, in this thread, before the other starts)
        else:
            self.boto3_session  # noqa: B018 (likewise)
        futures: dict[str, Future[Any]] = {name: Future() for name in wanted}
        self._ahead.update(futures)

        def make() -> None:
            for name, future in futures.items():
                try:
                    future.set_result(self._create(name))
                except BaseException as exc:  # for whoever uses the client; this thread goes on
                    future.set_exception(exc)

        self._maker = threading.Thread(target=make, name="aws-clients", daemon=True)
        self._maker.start()

    def _made(self, service: str) -> Any:
        """The client made ahead for `service`, or a new one."""
        future = self._ahead.pop(service, None)
        return future.result() if future is not None else self.client(service)

    @cached_property
    def boto3_session(self) -> boto3.session.Session:
        """The session of the clients unless `light`: the one given, else a new one."""
        if self._session is None:
            import boto3

            self._session = boto3.session.Session()
        return self._session

    @cached_property
    def botocore_session(self) -> botocore.session.Session:
        """The session of the clients when `light` (and no boto3 session was given)."""
        from release.aws_session import cli_session

        return cli_session()

    def client(self, service: str) -> Any:
        """A new client of `service` (the properties below keep one each)."""
        if self._maker is not None:
            self._maker.join()
        return self._create(service)

    def _create(self, service: str) -> Any:
        with aws_errors(f"creating the {service} client"):
            if self._light:
                return self.botocore_session.create_client(service, config=self._config)
            return self.boto3_session.client(service, config=self._config)  # type: ignore[call-overload]

    @property
    def region(self) -> str:
        if self._maker is not None:
            self._maker.join()
        if not self._light:
            return self.boto3_session.region_name or "(no region)"
        region = self.botocore_session.get_config_variable("region")
        return str(region) if region else "(no region)"

    @cached_property
    def lambda_(self) -> LambdaClient:
        return self._made("lambda")  # type: ignore[no-any-return]

    @cached_property
    def s3(self) -> S3Client:
        return self._made("s3")  # type: ignore[no-any-return]

    @cached_property
    def cloudwatch(self) -> CloudWatchClient:
        return self._made("cloudwatch")  # type: ignore[no-any-return]

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        return self._made("dynamodb")  # type: ignore[no-any-return]

    @cached_property
    def sts(self) -> STSClient:
        return self._made("sts")  # type: ignore[no-any-return]

    @cached_property
    def cloudformation(self) -> Any:  # no stubs installed for CloudFormation
        return self._made("cloudformation")


def error_code(exc: BaseException) -> str:
    """AWS's error code of a ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or str(exc)


@contextmanager
def aws_errors(action: str, error: type[ReleaseError] = AwsCallError) -> Iterator[None]:
    """The one translator of AWS failures: any inside becomes `error('<action>: <Code>: <message>')`,
    one line for the operator (AwsCallError unless the caller names its own, e.g. ShadowError)."""
    try:
        yield
    except ClientError as exc:
        raise error(f"{action}: {error_code(exc)}: {error_message(exc)}") from exc
    except NoCredentialsError as exc:
        raise error(f"{action}: no AWS credentials found (set AWS_PROFILE, or run `aws sso login`)") from exc
    except NoRegionError as exc:
        raise error(f"{action}: no AWS region configured (set AWS_REGION)") from exc
    except BotoCoreError as exc:
        raise error(f"{action}: {exc}") from exc


def caller_identity(sts: STSClient) -> str:
    """The caller's ARN, recorded as 'who' in the history."""
    with aws_errors("finding who you are (sts get-caller-identity)"):
        return str(sts.get_caller_identity()["Arn"])
