"""A two-version live stream for the A/B report's tests: logged predictions of function versions "3"
(primary, model m-a) and "4" (new, model m-b) in S3 (moto), with feedback the way the feedback
function writes it, and a record of what was sent so tests can check the report's counts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from common.observe.feedback import Feedback
from modelctl.reports.ab.build import S3Task, build_ab_report
from tests.monitoring_support import LOG_BUCKET, logged_record, put_feedback, put_records

MODEL_BUCKET = "models"
NOW = datetime(2026, 3, 11, 0, 0, tzinfo=UTC)
START = NOW - timedelta(days=2)
PRIMARY, NEW = "3", "4"
MODELS = {PRIMARY: "m-a", NEW: "m-b"}


@dataclass
class Sent:
    """What a stream wrote: logged rows and distinct labels per function version, and the extras."""

    logged: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    correct: dict[str, int] = field(default_factory=dict)
    costs: dict[str, float] = field(default_factory=dict)
    unknown: int = 0
    duplicates: int = 0


def put_metadata(s3: Any, task: str = "classification") -> None:
    for model in MODELS.values():
        document = {
            "version": model,
            "task": task,
            "class_labels": [0, 1] if task == "classification" else [],
        }
        s3.put_object(Bucket=MODEL_BUCKET, Key=f"models/{model}/metadata.json", Body=json.dumps(document))


def classifier_stream(
    s3: Any,
    *,
    rows: dict[str, int],
    labelled: dict[str, int],
    accuracy: dict[str, float],
    unknown: int = 0,
    duplicates: int = 0,
    late_days: int = 1,
    cost_of_error: dict[str, float] | None = None,
    reward: dict[str, float] | None = None,
) -> Sent:
    """`rows[v]` logged predictions of version v, the first `labelled[v]` of them labelled, a share
    `accuracy[v]` of those correct (exactly); labels arrive `late_days` after the window's start.
    `duplicates` labels are sent again an hour later (a retry: counted once), `unknown` name
    requests that were never logged."""
    sent = Sent()
    feedback: list[Feedback] = []
    for version, count in rows.items():
        records = []
        correct = round(labelled[version] * accuracy[version])
        for index in range(count):
            request_id = f"v{version}-r{index}"
            truth = index % 2
            predicted = truth if index < correct or index >= labelled[version] else 1 - truth
            moment = START + timedelta(seconds=30 + index * 60)
            records.append(
                logged_record(
                    request_id,
                    moment,
                    [[float(index % 7)]],
                    [predicted],
                    model_version=MODELS[version],
                    function_version=version,
                )
            )
            if index < labelled[version]:
                worth = (reward[version] + index % 3 - 1) if reward else None  # mean reward[version]
                feedback.append(Feedback(request_id, 0, truth, reward=worth))
                if predicted != truth and cost_of_error is not None:
                    sent.costs[version] = sent.costs.get(version, 0.0) + cost_of_error[str(truth)]
        put_records(s3, LOG_BUCKET, records)
        sent.logged[version] = count
        sent.labels[version] = labelled[version]
        sent.correct[version] = correct
    received = START + timedelta(days=late_days)
    for offset in range(0, len(feedback), 100):
        put_feedback(s3, LOG_BUCKET, feedback[offset : offset + 100], received)
    if duplicates:
        put_feedback(s3, LOG_BUCKET, feedback[:duplicates], received + timedelta(hours=1))
        sent.duplicates = duplicates
    if unknown:
        put_feedback(s3, LOG_BUCKET, [Feedback(f"never-logged-{i}", 0, 1) for i in range(unknown)], received)
        sent.unknown = unknown
    return sent


def ab_report(s3: Any, **options: Any) -> dict[str, Any]:
    """The A/B report of the stream's first day, with the feedback received until NOW."""
    return build_ab_report(
        s3=s3,
        log_bucket=LOG_BUCKET,
        task_of=S3Task(s3, MODEL_BUCKET),
        since=START,
        until=START + timedelta(days=1),
        feedback_until=NOW,
        **options,
    )
