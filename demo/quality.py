"""The tour's quality-gate step: a model that is healthy (no errors, fast) but worse on ground truth
goes out as a canary behind the quality gate; clients send their true labels to POST /feedback
while it runs; the gate rolls it back on the always-valid test; the A/B report is printed, and its
per-version labelled counts must equal the labels sent for the requests the log holds."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from demo.models import train_worse
from demo.traffic import Answer

if TYPE_CHECKING:
    from demo.tour import Tour

ROWS_PER_REQUEST = 20  # many rows per request: the log samples requests, the gate counts rows
REQUESTS_PER_ROUND = 40
FEEDBACK_BATCH = 400
QUALITY_GATE = (
    "--quality-gate", "accuracy", "--quality-margin", "0.02", "--quality-min-labels", "100",
    "--quality-max-wait", "4m",
)  # fmt: skip


def quality_gate_step(tour: Tour, *, live_version: str, workdir: Path, fast_gates: Sequence[str]) -> str:
    from demo.tour import TourFailedError
    from training.data import load_builtin

    worse = train_worse(workdir / "models")
    published = tour.modelctl("publish", str(worse), "--reason", "demo: healthy but worse on ground truth")
    version = published.output.strip().splitlines()[-1]
    data = load_builtin()
    features = [[float(v) for v in row] for row in data.X]
    truth = [int(label) for label in data.y]
    started = datetime.now(tz=UTC) - timedelta(seconds=5)
    args = (
        "canary", version, "--weight", "50", "--bake", "2s", *QUALITY_GATE,
        "--reason", "demo: quality gate", *fast_gates,
    )  # fmt: skip
    tour.console.print(
        f"[bold cyan]$ modelctl {' '.join(args)}[/bold cyan]  (traffic and feedback meanwhile)"
    )
    canary = subprocess.Popen(
        [sys.executable, "-m", "modelctl.cli", *args],
        env=tour.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sent: dict[tuple[str, int], tuple[str, object]] = {}  # (request id, row) -> (version, label)
    offset = 0

    def ask(index: int) -> tuple[int, Answer | None]:
        start = (index * ROWS_PER_REQUEST) % len(features)
        batch = [features[(start + i) % len(features)] for i in range(ROWS_PER_REQUEST)]
        return start, tour.client.predict(batch)

    deadline = time.monotonic() + 300
    with ThreadPoolExecutor(max_workers=4) as pool:
        while canary.poll() is None:
            if time.monotonic() > deadline:
                canary.kill()
                raise TourFailedError("the quality-gated canary did not end within 5 minutes")
            labels: list[tuple[str, int, object]] = []
            for start, answer in pool.map(ask, range(offset, offset + REQUESTS_PER_ROUND)):
                if answer is None or answer.status != 200 or not answer.request_id:
                    continue
                for row in range(ROWS_PER_REQUEST):
                    label = truth[(start + row) % len(truth)]
                    labels.append((answer.request_id, row, label))
                    sent[(answer.request_id, row)] = (answer.function_version, label)
            offset += REQUESTS_PER_ROUND
            for first in range(0, len(labels), FEEDBACK_BATCH):
                status = tour.client.feedback_rows(labels[first : first + FEEDBACK_BATCH])
                if status != 202:
                    raise TourFailedError(f"POST /feedback answered {status}, expected 202")
    output = canary.stdout.read() if canary.stdout else ""
    tour.console.print(output.rstrip(), highlight=False, markup=False)
    if canary.returncode != 2 or "quality gate (accuracy)" not in output:
        raise TourFailedError(
            f"the worse canary was not rolled back by the quality gate (exit {canary.returncode})"
        )
    if tour.routing() != (live_version, {}):
        raise TourFailedError(
            f"after the rollback the alias routes {tour.routing()}, expected v{live_version}"
        )
    since = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    versions = f"{live_version},{version}"
    tour.modelctl(
        "report", "ab", "--versions", versions, "--since", since, "--html", str(workdir / "ab.html")
    )
    document = _report_matching_the_log(tour, versions, since, started, sent)
    tour.modelctl("history", "--limit", "3")
    arms = {arm["function_version"]: arm for arm in document["arms"]}
    new, old = arms[version], arms[live_version]
    return (
        f"healthy but worse v{version} rolled back by the quality gate: accuracy {100 * new['metric']:.0f}% "
        f"vs {100 * old['metric']:.0f}% on {new['labelled']} + {old['labelled']} labelled rows; "
        f"{len(sent)} labels sent"
    )


def _report_matching_the_log(
    tour: Tour, versions: str, since: str, started: datetime, sent: dict[tuple[str, int], tuple[str, object]]
) -> dict[str, Any]:
    """The A/B report's JSON, checked: its labelled rows per version equal the labels sent for the
    rows the log holds. Read while the log is still (recorded batches may land a moment late)."""
    from demo.tour import TourFailedError

    mismatch = ""
    for _ in range(10):
        before = _labelled_in_log(tour, started, sent)
        report = tour.modelctl(
            "report", "ab", "--versions", versions, "--since", since, "--json", "-", quiet=True
        )
        document: dict[str, Any] = json.loads(report.output[report.output.index("{") :])
        if _labelled_in_log(tour, started, sent) != before:
            time.sleep(1)
            continue
        counted = {arm["function_version"]: arm["labelled"] for arm in document["arms"]}
        if all(counted.get(v, 0) == n for v, n in before.items()) and sum(counted.values()) == sum(
            before.values()
        ):
            return document
        mismatch = (
            f"the A/B report counts {counted} labelled rows per version, but labels were sent for {before}"
        )
        time.sleep(1)
    raise TourFailedError(mismatch or "the prediction log kept changing while the A/B report was read")


def _labelled_in_log(
    tour: Tour, since: datetime, sent: dict[tuple[str, int], tuple[str, object]]
) -> dict[str, int]:
    """Labels sent per function version for the rows the prediction log holds (the log is a sample)."""
    from common.observe.prediction_log import prediction_rows

    cloud = tour.cloud
    assert cloud.clients is not None and cloud.deployment is not None
    bucket = cloud.deployment.output("LogBucketName")
    counts: dict[str, int] = {}
    until = datetime.now(tz=UTC) + timedelta(minutes=1)
    for row in prediction_rows(cloud.clients.s3, bucket, since=since, until=until):
        if (row.request_id, row.row) in sent:
            counts[row.function_version] = counts.get(row.function_version, 0) + 1
    return counts
