"""Keeping up with load in the local cloud: 300 requests from 8 concurrent clients with the shadow
sampling every request, and every one of them reaches the shadow's records (issue #16, part 4).

The path: inference worker (its record line) -> log subscription -> recorder -> shadow queue (moto)
-> event source -> shadow function -> S3 records. Nothing on it may drop a request under load.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from common.model.metadata import ModelMetadata
from localcloud.cloud import LocalCloud
from tests.e2e.conftest import Api
from tests.e2e.test_shadow_local import modelctl, records_since, wait_for

REQUESTS = 300
CLIENTS = 8


@pytest.fixture(scope="module")
def load_candidate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.train import train_model

    root = tmp_path_factory.mktemp("load_candidate")
    return train_model(load_builtin(), build_pipeline("random_forest"), output_root=root).artifact_dir


def dead_letters(cloud: LocalCloud) -> dict[str, int]:
    """Messages waiting in every dead-letter queue of the deployment, by queue name."""
    assert cloud.clients is not None and cloud.deployment is not None
    sqs = cloud.clients.sqs
    depths = {}
    for queue in cloud.deployment.of_type("AWS::SQS::Queue"):
        if "DeadLetter" not in queue.logical_id:
            continue
        url = sqs.get_queue_url(QueueName=queue.physical_id.rsplit("/", 1)[-1])["QueueUrl"]
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        depths[queue.logical_id] = sum(int(value) for value in attributes.values())
    return depths


def test_every_request_from_concurrent_clients_reaches_the_shadow(
    local_cloud: LocalCloud, api: Api, load_candidate: Path, trained_model: tuple[Path, ModelMetadata]
) -> None:
    _, live = trained_model
    rows = [
        [value * (1 + i / 500) for value in live.sample_rows[i % len(live.sample_rows)]]
        for i in range(REQUESTS)
    ]
    started = modelctl(
        local_cloud,
        "start",
        load_candidate.name,
        "--sample",
        "100",
        "--artifacts-dir",
        str(load_candidate.parent),
    )
    assert started.exit_code == 0, started.output
    probe_start = datetime.now(tz=UTC)

    def mirrored() -> bool:
        assert api.predict([rows[0]]).status == 200
        local_cloud.wait_logs_delivered(10)
        return bool(records_since(local_cloud, probe_start))

    wait_for(mirrored, "no request reached the shadow after `modelctl shadow start`", timeout_s=90)

    window_start = datetime.now(tz=UTC)
    with ThreadPoolExecutor(CLIENTS) as clients:
        responses = list(clients.map(lambda row: api.predict([row]), rows))
    assert [r.status for r in responses] == [200] * REQUESTS
    served = {r.headers["X-Request-Id"] for r in responses}
    assert len(served) == REQUESTS

    assert local_cloud.wait_logs_delivered(120), "the log subscription did not deliver every line"

    def shadowed() -> set[Any]:
        return {r.get("request_id") for r in records_since(local_cloud, window_start)}

    try:
        wait_for(
            lambda: len(shadowed() & served) >= REQUESTS, "waiting for the shadow records", timeout_s=120
        )
    except AssertionError:
        found = len(shadowed() & served)
        report = local_cloud.subscriptions.report() if local_cloud.subscriptions else {}
        raise AssertionError(
            f"{REQUESTS - found} of {REQUESTS} requests missing from the shadow records; dead letters: "
            f"{dead_letters(local_cloud)}; log subscriptions: {report}"
        ) from None
    assert modelctl(local_cloud, "stop").exit_code == 0
