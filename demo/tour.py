"""The tour: every release path of the product, on a fresh local cloud, with no person at the keyboard.

Each step runs the real `modelctl` as a separate process (the commands are printed, so they can be
copied), against a local cloud this process starts and stops. A step that does not end as it should
raises `TourFailedError`, and `make demo` exits non-zero.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table

from common.model.metadata import read_metadata
from demo.models import poison, train_candidate
from demo.quality import quality_gate_step
from demo.traffic import Client, Tally
from localcloud.cloud import LocalCloud

# Gate settings for a tour that takes minutes, not hours: 10-second alarm periods, one period to
# alarm, and a p99 bound that tolerates cold starts on a busy laptop (latency is not the point here).
FAST_GATES = (
    "--poll", "2",
    "--gate-period", "10",
    "--gate-evaluation-periods", "1",
    "--gate-p99-ms", "10000",
    "--gate-internal-errors", "3",
    "--gate-errors", "3",
)  # fmt: skip
# Requests sent while the canary's weight is in force, to measure the share it really takes.
CANARY_SAMPLE = 300


class TourFailedError(RuntimeError):
    """A step did not end as the tour expects."""


@dataclass(frozen=True)
class CommandResult:
    code: int
    output: str


@dataclass
class StepResult:
    title: str
    outcome: str
    seconds: float


@dataclass
class Tour:
    cloud: LocalCloud
    workdir: Path
    console: Console = field(default_factory=Console)
    results: list[StepResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = Client(self.cloud.api_url, self.cloud.api_key)
        self.env = {
            **os.environ,
            **self.cloud.environment(),
            "MODELCTL_LOCAL_DEPLOYMENT": str(self.cloud.settings.state_dir / "deployment.json"),
        }
        self.function, self.alias = self.cloud.serving_function()

    # -- plumbing ---------------------------------------------------------------------------------

    def modelctl(self, *args: str, expect: int | None = 0, quiet: bool = False) -> CommandResult:
        """Run `modelctl ARGS` as its own process; show the command and (unless quiet) its output."""
        self.console.print(f"[bold cyan]$ modelctl {shlex.join(args)}[/bold cyan]", highlight=False)
        completed = subprocess.run(
            [sys.executable, "-m", "modelctl.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        output = completed.stdout + completed.stderr
        if not quiet or completed.returncode != (expect or 0):
            self.console.print(output.rstrip(), highlight=False, markup=False)
        if expect is not None and completed.returncode != expect:
            raise TourFailedError(
                f"`modelctl {shlex.join(args)}` exited {completed.returncode}, expected {expect}"
            )
        return CommandResult(completed.returncode, output)

    def routing(self) -> tuple[str, dict[str, float]]:
        assert self.cloud.clients is not None
        alias = self.cloud.clients.lambda_.get_alias(FunctionName=self.function, Name=self.alias)
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return alias["FunctionVersion"], dict(weights)

    def step(self, title: str, body: Callable[[], str]) -> None:
        self.console.print(Rule(f"[bold]{title}"))
        started = time.monotonic()
        outcome = body()
        self.results.append(StepResult(title, outcome, time.monotonic() - started))
        self.console.print(f"[green]ok[/green] {outcome}", highlight=False)

    def wait_for(self, what: str, check: Callable[[], bool], timeout_s: float, every_s: float = 2.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                raise TourFailedError(f"timed out after {timeout_s:.0f}s waiting for {what}")
            time.sleep(every_s)

    def summary(self) -> None:
        table = Table(title="make demo: every step passed")
        for column in ("step", "outcome", "seconds"):
            table.add_column(column)
        for result in self.results:
            table.add_row(result.title, result.outcome, f"{result.seconds:.0f}")
        self.console.print(table)


def _expect_only(tally: Tally, allowed: set[tuple[str, int]], what: str) -> None:
    unexpected = {key: n for key, n in tally.counts.items() if key not in allowed}
    if unexpected or tally.lost:
        raise TourFailedError(f"{what}: unexpected answers {unexpected}, lost {tally.lost}")


def run_tour(cloud: LocalCloud, *, artifacts: Path, workdir: Path, console: Console) -> list[StepResult]:
    """`artifacts` is the folder of the model the stack serves (v1). Traffic -> shadow of a second
    model with its report -> canary 10% then 100% -> a broken model released as a canary and rolled
    back by its gate -> (when the stack has it) retraining -> a worse model rolled back by the quality
    gate, with the A/B report."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    tour = Tour(cloud, workdir, console)
    live = read_metadata(artifacts)
    good = [list(row) for row in live.sample_rows]
    poisoned_row = [-1.0, *good[0][1:]]  # the flawed model fails on a negative first feature

    def rows(index: int) -> Sequence[Sequence[float]]:
        return [good[index % len(good)]]

    state: dict[str, Any] = {}

    def traffic() -> str:
        first = tour.client.predict([good[0]])  # one cold start before concurrent clients start more
        if first is None or first.status != 200:
            raise TourFailedError(f"the first request failed: {first}")
        tally = tour.client.burst(200, rows)
        _expect_only(tally, {("1", 200)}, "traffic on v1")
        console.print(f"POST /predict -> {first.status} {json.dumps(first.body)}", highlight=False)
        tour.modelctl("status")
        return f"200 requests answered by v1 ({live.version}), lost 0"

    def shadow() -> str:
        candidate = train_candidate(workdir / "models")
        state["candidate"] = candidate
        candidate_version = candidate.name
        tour.modelctl(
            "shadow", "start", candidate_version, "--artifacts-dir", str(candidate.parent), "--sample", "100"
        )
        sent = Tally()

        def records() -> int:
            report = tour.modelctl(
                "shadow", "report", "--since", "1h", "--json", "-", "--html", "", quiet=True
            )
            document = json.loads(report.output[report.output.index("{") :])
            return int(document["source"]["records"])

        def enough_records() -> bool:
            # Functions re-read the shadow configuration every few seconds (shadow_config_ttl_seconds):
            # traffic keeps flowing until the shadow function has logged 300 mirrored requests.
            sent.merge(tour.client.burst(100, rows))
            return records() >= 300

        tour.console.print("live traffic until the shadow function has logged 300 mirrored requests ...")
        tour.wait_for("300 shadow records in S3", enough_records, timeout_s=240, every_s=1)
        _expect_only(sent, {("1", 200)}, "live answers while shadowing")
        html, report_json = workdir / "shadow-report.html", workdir / "shadow-report.json"
        tour.modelctl("shadow", "report", "--since", "1h", "--html", str(html), "--json", str(report_json))
        agreement = json.loads(report_json.read_text())["agreement"]
        tour.modelctl("shadow", "stop")
        return (
            f"{agreement['rows']} mirrored rows compared, agreement {100 * agreement['rate']:.1f}%; "
            f"users only ever saw v1; report {html}"
        )

    def canary() -> str:
        published = tour.modelctl("publish", str(state["candidate"]), "--reason", "demo: candidate")
        version = published.output.strip().splitlines()[-1]
        with tour.client.background(rows) as during:
            tour.modelctl(
                "canary", version, "--weight", "10", "--bake", "10s", "--reason", "demo", *FAST_GATES
            )
        _expect_only(during, {("1", 200), (version, 200)}, "traffic during the canary command")
        # The share is measured only on requests sent while the 10% weight was in force: traffic during
        # the command also covers its pre-traffic check, when the candidate had no weight yet.
        canary_routing = tour.routing()
        if set(canary_routing[1]) != {version} or abs(canary_routing[1][version] - 0.1) > 1e-9:
            raise TourFailedError(
                f"after the canary the alias routes {canary_routing}, expected 10% to v{version}"
            )
        weighted = tour.client.burst(CANARY_SAMPLE, rows)
        if tour.routing() != canary_routing:
            raise TourFailedError(f"the alias changed while the canary share was measured: {tour.routing()}")
        _expect_only(weighted, {("1", 200), (version, 200)}, "canary traffic")
        share = sum(weighted.by_version().get(version, {}).values()) / max(weighted.total, 1)
        tour.modelctl("shift", version, "--steps", "50,100", "--bake", "6s", "--reason", "demo", *FAST_GATES)
        if tour.routing() != (version, {}):
            raise TourFailedError(
                f"after the shift the alias routes {tour.routing()}, expected v{version} only"
            )
        after = tour.client.burst(100, rows)
        _expect_only(after, {(version, 200)}, "traffic after the shift")
        state["live_version"] = version
        tour.modelctl("status")
        return (
            f"v{version} took {100 * share:.0f}% of {weighted.total} requests sent while its 10% weight "
            f"was in force ({weighted.describe()}), "
            f"then 100% after gated steps"
        )

    def broken() -> str:
        live_version = state["live_version"]
        flawed = poison(state["candidate"], read_metadata(state["candidate"]), workdir / "models")
        published = tour.modelctl("publish", str(flawed), "--reason", "demo: a flawed model")
        version = published.output.strip().splitlines()[-1]

        def mixed(index: int) -> Sequence[Sequence[float]]:
            return [poisoned_row] if index % 2 else [good[index % len(good)]]

        with tour.client.background(mixed) as during:
            result = tour.modelctl(
                "shift", version, "--steps", "20,100", "--bake", "60s", "--reason", "demo: flawed",
                *FAST_GATES, expect=2,
            )  # fmt: skip
        if "rolled back" not in result.output:
            raise TourFailedError("the flawed release was not rolled back")
        if tour.routing() != (live_version, {}):
            raise TourFailedError(
                f"after the rollback the alias routes {tour.routing()}, expected v{live_version}"
            )
        errors_elsewhere = {key: n for key, n in during.counts.items() if key[1] != 200 and key[0] != version}
        if errors_elsewhere or during.lost:
            raise TourFailedError(f"errors outside the canary: {errors_elsewhere}, lost {during.lost}")
        after = tour.client.burst(100, mixed)
        _expect_only(after, {(live_version, 200)}, "traffic after the rollback")
        failed = sum(n for (v, status), n in during.counts.items() if v == version and status != 200)
        tour.modelctl("history", "--limit", "4")
        return (
            f"flawed v{version}: its InternalErrors gate fired, rolled back to v{live_version}; "
            f"{failed} errors, all on v{version} ({during.describe()})"
        )

    def retraining() -> str:
        """Drifted traffic (every measurement 1.4x, as after a change of instrument calibration) with
        ground truth sent back through POST /feedback, then one run of the retraining workflow."""
        from training.data import load_builtin

        data = load_builtin()
        drifted = [[float(v) * 1.4 for v in row] for row in data.X]
        truth = [int(label) for label in data.y]
        labels: list[tuple[str, object]] = []
        with ThreadPoolExecutor(max_workers=4) as pool:
            for index, answer in enumerate(
                pool.map(lambda i: tour.client.predict([drifted[i % len(drifted)]]), range(3 * len(drifted)))
            ):
                if answer is None or answer.status != 200 or not answer.request_id:
                    raise TourFailedError(f"a drifted request was not answered: {answer}")
                labels.append((answer.request_id, truth[index % len(truth)]))
        for start in range(0, len(labels), 500):
            status = tour.client.feedback(labels[start : start + 500])
            if status != 202:
                raise TourFailedError(f"POST /feedback answered {status}, expected 202")
        console.print(f"{len(labels)} drifted requests answered; their true labels sent to POST /feedback")

        def labelled() -> int:
            report = tour.modelctl(
                "report", "accuracy", "--window", "1h", "--since", "2h", "--json", quiet=True
            )
            document = json.loads(report.output[report.output.index("{") :])
            return sum(int(version["labelled"]) for version in document["versions"])

        tour.console.print("waiting for the sampled predictions to reach the prediction log ...")
        tour.wait_for("labelled predictions in the log", lambda: labelled() >= 80, timeout_s=180, every_s=5)
        tour.modelctl("report", "accuracy", "--window", "1h", "--since", "2h", "--html",
                      str(workdir / "accuracy.html"))  # fmt: skip
        run = tour.modelctl("retrain", expect=None)
        tour.modelctl("models")
        if run.code == 3:  # the gate kept production: nothing registered as releasable, nothing released
            if tour.routing() != (state["live_version"], {}):
                raise TourFailedError("a rejected candidate changed the alias")
            return "the workflow ran; its gate rejected the candidate (production kept), SNS notified"
        if run.code != 0:
            raise TourFailedError(f"`modelctl retrain` exited {run.code}")
        status = json.loads(tour.modelctl("shadow", "status", "--json").output)
        candidate = (status.get("config") or {}).get("candidate_model_version")
        if not (status.get("config") or {}).get("active") or not candidate:
            raise TourFailedError(f"after a released run no shadow is active: {status}")
        tour.modelctl("shadow", "stop")
        return f"feedback -> workflow -> {candidate} registered with lineage and released to shadow"

    tour.step("1. live traffic", traffic)
    tour.step("2. shadow a second model, then its report", shadow)
    tour.step("3. canary 10%, then shift to 100% (in the release controller)", canary)
    tour.step("4. a flawed model as canary, rolled back by its gate", broken)
    tour.step("5. feedback, then a retraining run", retraining)
    tour.step(
        "6. a healthy but worse model, rolled back by the quality gate",
        lambda: quality_gate_step(
            tour, live_version=state["live_version"], workdir=workdir, fast_gates=FAST_GATES
        ),
    )
    tour.summary()
    return tour.results


def main_panel(cloud: LocalCloud) -> Panel:
    return Panel(
        f"API {cloud.api_url}\nAWS API (moto) {cloud.endpoint}\nstate {cloud.settings.state_dir}",
        title="demo: a fresh local cloud",
    )
