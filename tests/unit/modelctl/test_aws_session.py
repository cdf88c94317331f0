"""modelctl's botocore session (release/aws_session.py): its loader gives what botocore's
gives, key order included, refuses what botocore refuses with botocore's error, and the clients it
makes are boto3's."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader, create_loader

from release.aws import RETRIES, AwsClients
from release.aws_session import PlainJSONFileLoader, ServiceDataLoader, create_service_data_loader
from release.errors import AwsCallError

SERVICES = ("sts", "dynamodb", "lambda", "cloudwatch", "cloudformation", "s3", "sqs", "iam")
TYPES = ("service-2", "endpoint-rule-set-1", "paginators-1", "waiters-2")
NOT_SERVICES = ("lambdaa", "Lambda", "LAMBDA", "../lambda", "lambda/2015-03-31", "", "-", "sts ")


def same(ours: Any, botocores: Any) -> None:
    """Equal, and equal as JSON text: the same keys in the same order."""
    assert ours == botocores
    assert json.dumps(ours) == json.dumps(botocores)


def outcome(load: Any) -> tuple[str, Any]:
    try:
        return "ok", load()
    except Exception as exc:  # the error, for comparison: its type and message
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("type_name", TYPES)
def test_a_named_services_data_is_botocores(service: str, type_name: str) -> None:
    ours = outcome(lambda: ServiceDataLoader().load_service_model(service, type_name))
    botocores = outcome(lambda: Loader().load_service_model(service, type_name))
    assert ours[0] == botocores[0]
    same(ours[1], botocores[1])


@pytest.mark.parametrize("name", ["endpoints", "partitions", "sdk-default-configuration", "_retry"])
def test_shared_data_files_are_botocores(name: str) -> None:
    same(ServiceDataLoader().load_data(name), Loader().load_data(name))


def test_an_older_api_version_asked_for_is_botocores() -> None:
    for loader in (ServiceDataLoader(), Loader()):
        assert loader.list_api_versions("lambda", "service-2") == ["2014-11-11", "2015-03-31"]
    same(
        ServiceDataLoader().load_service_model("lambda", "service-2", api_version="2014-11-11"),
        Loader().load_service_model("lambda", "service-2", api_version="2014-11-11"),
    )


@pytest.mark.parametrize("name", NOT_SERVICES)
def test_what_is_not_a_service_gets_botocores_error(name: str) -> None:
    with pytest.raises(UnknownServiceError) as ours:
        ServiceDataLoader().load_service_model(name, "service-2")
    with pytest.raises(UnknownServiceError) as botocores:
        Loader().load_service_model(name, "service-2")
    assert str(ours.value) == str(botocores.value)


def test_a_service_without_that_kind_of_file_gets_botocores_error() -> None:
    """sts has no waiters: botocore's listing for waiters-2 does not name it."""
    with pytest.raises(UnknownServiceError) as ours:
        ServiceDataLoader().load_service_model("sts", "waiters-2")
    with pytest.raises(UnknownServiceError) as botocores:
        Loader().load_service_model("sts", "waiters-2")
    assert str(ours.value) == str(botocores.value)


def test_the_named_service_is_loaded_without_listing_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    loader = ServiceDataLoader()
    monkeypatch.setattr(loader, "list_available_services", lambda type_name: pytest.fail("listed"))
    assert loader.load_service_model("lambda", "service-2")["metadata"]["endpointPrefix"] == "lambda"


def test_models_on_aws_data_path_come_first_as_with_botocore(tmp_path: Path) -> None:
    """AWS_DATA_PATH: a model of our own for a real service (a newer API version) and for a
    service botocore does not ship are found, as botocore finds them."""
    real = Loader().load_service_model("sts", "service-2")
    newer = dict(real, metadata=dict(real["metadata"], apiVersion="2099-01-01"))
    (tmp_path / "sts" / "2099-01-01").mkdir(parents=True)
    (tmp_path / "sts" / "2099-01-01" / "service-2.json").write_text(json.dumps(newer))
    (tmp_path / "madeup" / "2020-01-01").mkdir(parents=True)
    (tmp_path / "madeup" / "2020-01-01" / "service-2.json").write_text(json.dumps({"x": [1, 2.5]}))
    ours, botocores = create_service_data_loader(str(tmp_path)), create_loader(str(tmp_path))
    for service in ("sts", "madeup"):
        same(
            ours.load_service_model(service, "service-2"), botocores.load_service_model(service, "service-2")
        )
    assert ours.load_service_model("sts", "service-2")["metadata"]["apiVersion"] == "2099-01-01"


def test_json_that_orjson_refuses_is_read_by_the_standard_library(tmp_path: Path) -> None:
    path = tmp_path / "odd.json"
    path.write_text('{"b": NaN, "a": [1, 2]}')
    data = PlainJSONFileLoader().load_file(str(tmp_path / "odd"))
    assert list(data) == ["b", "a"] and data["b"] != data["b"] and data["a"] == [1, 2]


@pytest.mark.parametrize("service", ["sts", "dynamodb", "lambda", "cloudwatch"])
def test_its_clients_are_boto3s(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://127.0.0.1:4566")
    monkeypatch.setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem")
    ours = AwsClients(light=True).client(service)
    theirs = boto3.session.Session().client(service, config=RETRIES)  # type: ignore[call-overload]
    readers: tuple[Callable[[Any], Any], ...] = (
        lambda c: c.meta.endpoint_url,
        lambda c: c.meta.region_name,
        lambda c: c.meta.config.retries,
        lambda c: c.meta.config.signature_version,
        lambda c: c.meta.service_model.api_version,
        lambda c: c.meta.service_model.operation_names,
        lambda c: c._endpoint.http_session._verify,
        lambda c: c.meta.partition,
    )
    for read in readers:
        assert read(ours) == read(theirs)
    assert ours.meta.service_model._service_description == theirs.meta.service_model._service_description


def test_region_is_the_sessions() -> None:
    assert AwsClients(light=True).region == boto3.session.Session().region_name == "us-east-1"
    assert AwsClients().region == "us-east-1"


def test_clients_are_boto3s_own_unless_light() -> None:
    """boto3 adds the S3 transfer methods (precompute uploads and copies with them, the
    retraining steps download): only the plain rollback's light clients go without."""
    s3 = AwsClients().s3
    assert all(hasattr(s3, name) for name in ("upload_file", "download_file", "copy"))
    assert not hasattr(AwsClients(light=True).s3, "upload_file")
    session = boto3.session.Session()
    assert AwsClients(session).boto3_session is session


def test_clients_made_ahead_are_made_in_another_thread_and_kept() -> None:
    clients = AwsClients(light=True)
    makers: dict[str, str] = {}
    create = clients._create

    def recorded(service: str) -> Any:
        makers[service] = threading.current_thread().name
        return create(service)

    clients._create = recorded  # type: ignore[method-assign]
    with clients.made_ahead("dynamodb", "sts", "lambda"):
        dynamodb, sts, lambda_ = clients.dynamodb, clients.sts, clients.lambda_
    assert [c.meta.service_model.service_name for c in (dynamodb, sts, lambda_)] == [
        "dynamodb",
        "sts",
        "lambda",
    ]
    assert clients.dynamodb is dynamodb and clients.lambda_ is lambda_
    assert makers == {"dynamodb": "aws-clients", "sts": "aws-clients", "lambda": "aws-clients"}


def test_a_client_that_could_not_be_made_ahead_fails_where_it_is_used_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(AwsCallError) as before:
        AwsClients(light=True).dynamodb  # noqa: B018
    ahead = AwsClients(light=True)
    with ahead.made_ahead("dynamodb", "lambda"), pytest.raises(AwsCallError) as made_ahead:
        ahead.dynamodb  # noqa: B018
    assert (
        str(made_ahead.value)
        == str(before.value)
        == "creating the dynamodb client: no AWS region configured (set AWS_REGION)"
    )


def test_another_client_waits_until_those_made_ahead_exist() -> None:
    """A session is not thread-safe: while clients are being made ahead, nothing else uses it. The
    client made ahead here waits (at most 0.5 s) for another creation to start: if one started,
    the two would overlap."""
    clients = AwsClients(light=True)
    events: list[str] = []
    other_started = threading.Event()
    create = clients._create

    def recorded(service: str) -> Any:
        events.append(f"start {service}")
        if service == "s3":
            other_started.set()
        else:
            other_started.wait(timeout=0.5)
        client = create(service)
        events.append(f"end {service}")
        return client

    clients._create = recorded  # type: ignore[method-assign]
    with clients.made_ahead("dynamodb"):
        clients.client("s3")
    assert events == ["start dynamodb", "end dynamodb", "start s3", "end s3"]
