"""Sticky routing through the local cloud: gateway -> alias (random by weight) -> the version that
landed re-invokes the key's version through the local Lambda API, as on AWS (docs/routing.md)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from common.model.metadata import ModelMetadata
from inference.sticky import FORWARDED_HEADER, AliasSplit
from localcloud.cloud import LocalCloud
from tests.e2e.conftest import Api, http

KEYS = [f"user-{i}" for i in range(8)]
PER_KEY = 15
CANARY_WEIGHT = 0.5


@pytest.fixture()
def canary(local_cloud: LocalCloud) -> Iterator[tuple[str, AliasSplit]]:
    """A second version (same code and model, its own environment) at 50% on the alias."""
    assert local_cloud.clients is not None
    lam = local_cloud.clients.lambda_
    function, alias = local_cloud.serving_function()
    original = dict(lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"])
    lam.update_function_configuration(
        FunctionName=function, Environment={"Variables": {**original, "STICKY_E2E": "canary"}}
    )
    version = str(lam.publish_version(FunctionName=function, Description="sticky e2e")["Version"])
    lam.update_function_configuration(FunctionName=function, Environment={"Variables": original})
    answer: Any = lam.update_alias(
        FunctionName=function,
        Name=alias,
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {version: CANARY_WEIGHT}},
    )
    yield version, AliasSplit.from_alias(answer)
    lam.update_alias(
        FunctionName=function, Name=alias, FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {}}
    )


def test_each_key_is_answered_by_its_version_while_unkeyed_requests_are_weighted(
    local_cloud: LocalCloud, trained_model: tuple[Path, ModelMetadata], canary: tuple[str, AliasSplit]
) -> None:
    version, split = canary
    api = Api(local_cloud)
    row = list(trained_model[1].sample_rows[0])

    def send(key: str | None) -> tuple[str | None, str, bool]:
        headers = {"Content-Type": "application/json", "x-api-key": api.key}
        if key is not None:
            headers["X-Routing-Key"] = key
        response = http(f"{api.url}/predict", body={"instances": [row]}, headers=headers)
        assert response.status == 200, response.body
        return key, response.headers["X-Function-Version"], FORWARDED_HEADER in response.headers

    keyed = [key for key in KEYS for _ in range(PER_KEY)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(send, keyed + [None] * 60))
    by_key: dict[str | None, set[str]] = defaultdict(set)
    for key, served, _ in answers:
        if key is not None:
            by_key[key].add(served)
    assert {key: served for key, served in by_key.items()} == {key: {split.version_for(key)} for key in KEYS}
    assert {split.version_for(key) for key in KEYS} == {"1", version}  # both versions hold some keys
    assert any(forwarded for key, _, forwarded in answers if key is not None)  # the alias drew the other
    unkeyed = Counter(served for key, served, forwarded in answers if key is None and not forwarded)
    assert set(unkeyed) == {"1", version} and sum(unkeyed.values()) == 60
