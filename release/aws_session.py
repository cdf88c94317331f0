"""The botocore session modelctl's own clients come from: botocore's, with a data loader that skips
two costs a short-lived command pays on every run, and no boto3.

botocore's `Loader.load_service_model` checks that the service asked for exists by listing the
directories of every service it ships (once for the service models and once for the endpoint
rule sets), and its JSON files are parsed with an `OrderedDict` hook, slower than plain dicts
(which keep their order too): together a large share of a `modelctl rollback` that must move
traffic within a second (figures in docs/releases.md).

`ServiceDataLoader` answers the same question for one name by looking at that service's own
directories (`list_api_versions`, which botocore's listing amounts to for a plain name), and
parses with orjson (or the standard library without the hook). A name it cannot decide that way
(not a plain lower-case service name, or not found) goes to botocore's own code, so an unknown
service raises botocore's `UnknownServiceError`, with its list of names, as botocore's loader does. The
loaded data is the same, key order included (tests/unit/modelctl/test_aws_session.py compares
it with botocore's loader).

boto3 is not needed for clients (its `Session.client` is botocore's `create_client` with the
same arguments); not importing it saves its import (s3transfer included).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, Loader, instance_cache

_PLAIN_SERVICE_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


def _stdlib_loads(payload: bytes) -> Any:
    return json.loads(payload.decode("utf-8"))


def _json_parser() -> Callable[[bytes], Any]:
    try:
        import orjson
    except ImportError:  # optional: the standard library without botocore's OrderedDict hook
        return _stdlib_loads

    def loads(payload: bytes) -> Any:
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:  # what orjson refuses (e.g. NaN), the standard library decides
            return _stdlib_loads(payload)

    return loads


class PlainJSONFileLoader(JSONFileLoader):
    """botocore's JSON file loader, parsing into plain dicts (ordered like the file)."""

    def __init__(self) -> None:
        self._loads = _json_parser()

    def _load_file(self, full_path: str, open_method: Callable[..., Any]) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as handle:
            payload = handle.read()
        return self._loads(payload)


class ServiceDataLoader(Loader):
    """botocore's Loader, finding one named service's data without listing every service."""

    FILE_LOADER_CLASS = PlainJSONFileLoader

    @instance_cache
    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        if _PLAIN_SERVICE_NAME.fullmatch(service_name) is None or not self._has(service_name, type_name):
            # botocore's own path: the same data, or UnknownServiceError naming the known services
            return super().load_service_model(service_name, type_name, api_version=api_version)
        if api_version is None:
            api_version = self.determine_latest_version(service_name, type_name)
        model = self.load_data(os.path.join(service_name, api_version, type_name))
        extras = self._find_extras(service_name, type_name, api_version)  # type: ignore[attr-defined]
        self._extras_processor.process(model, extras)  # type: ignore[attr-defined]
        return model

    def _has(self, service_name: str, type_name: str) -> bool:
        """Whether `list_available_services(type_name)` would name `service_name`: a directory of
        that name on the search path with an API version holding a `type_name` file."""
        try:
            return bool(self.list_api_versions(service_name, type_name))
        except DataNotFoundError:
            return False


def create_service_data_loader(search_path_string: str | None = None) -> ServiceDataLoader:
    """botocore.loaders.create_loader, making a ServiceDataLoader (AWS_DATA_PATH honoured alike)."""
    if search_path_string is None:
        return ServiceDataLoader()
    paths = [os.path.expanduser(os.path.expandvars(path)) for path in search_path_string.split(os.pathsep)]
    return ServiceDataLoader(extra_search_paths=paths)


def cli_session() -> botocore.session.Session:
    """A botocore session (region, credentials, AWS_ENDPOINT_URL as usual) with that loader."""
    session = botocore.session.get_session()
    session.lazy_register_component(
        "data_loader", lambda: create_service_data_loader(session.get_config_variable("data_path"))
    )
    return session
