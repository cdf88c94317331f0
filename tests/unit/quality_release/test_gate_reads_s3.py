"""`modelctl canary --quality-gate accuracy` against moto end to end: the gate reads the prediction
log and the feedback from the log bucket (MODELCTL_LOG_BUCKET), labels arriving while it waits."""

from __future__ import annotations

import json
from datetime import timedelta

from common.observe.feedback import Feedback
from tests.monitoring_support import logged_record, put_feedback, put_records
from tests.unit.modelctl.world import World, run_cli

LOG_BUCKET = "quality-logs"


def arrive(world: World, accuracy: dict[str, float], rows: int = 300) -> None:
    """`rows` logged predictions per version, all labelled, `accuracy[v]` of them right."""
    now = world.clock.now()
    for version, share in accuracy.items():
        records, labels = [], []
        for index in range(rows):
            request_id = f"v{version}-{now.timestamp():.0f}-{index}"
            truth = index % 2
            predicted = truth if index < round(rows * share) else 1 - truth
            moment = now - timedelta(seconds=1 + index % 10)
            records.append(
                logged_record(
                    request_id, moment, [[0.5]], [predicted], function_version=version, model_version="m"
                )
            )
            labels.append(Feedback(request_id, 0, truth))
        put_records(world.s3, LOG_BUCKET, records)
        put_feedback(world.s3, LOG_BUCKET, labels, now)


def test_a_worse_canary_is_rolled_back_from_the_log_and_feedback_in_s3(world: World) -> None:
    world.s3.create_bucket(Bucket=LOG_BUCKET)
    sleeps = {"n": 0}

    def labels_arrive(_: float) -> None:
        sleeps["n"] += 1
        if sleeps["n"] in (3, 4):  # labels come in only after a few waits
            arrive(world, {"1": 0.95, "2": 0.75})

    world.clock.on_sleep.append(labels_arrive)
    factory = world.factory(env={**world.env, "MODELCTL_LOG_BUCKET": LOG_BUCKET})
    code, output, _ = run_cli(
        factory, "canary", "2", "--in-process", "--weight", "30", "--bake", "20s", "--poll", "10",
        "--quality-gate", "accuracy", "--quality-max-wait", "10m", "--skip-pre-traffic-check",
    )  # fmt: skip
    assert code == 2, output
    assert "quality gate (accuracy)" in output and "worse beyond the margin" in output
    assert world.alias_routing() == ("1", {})
    [entry] = [e for e in world.history_items() if "quality gate" in e["action"]]
    figures = json.loads(entry["detail"])
    assert figures["verdict"] == "rollback" and figures["labelled"]["new"] == figures["n_new"] >= 300
