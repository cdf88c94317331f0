"""The quality gate in the local cloud: a model that is healthy but worse on ground truth goes out
as a canary behind `--quality-gate accuracy`; clients send true labels to POST /feedback while it
runs; the gate rolls it back; the A/B report's per-version labelled counts equal the labels sent
for the logged rows (the demo's step, demo/quality.py)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from demo.quality import quality_gate_step
from demo.tour import FAST_GATES, Tour
from localcloud.cloud import LocalCloud


def test_a_worse_canary_is_rolled_back_by_the_quality_gate(local_cloud: LocalCloud, tmp_path: Path) -> None:
    tour = Tour(local_cloud, tmp_path, Console(width=140))
    live_version, extra = tour.routing()
    assert extra == {}
    outcome = quality_gate_step(tour, live_version=live_version, workdir=tmp_path, fast_gates=FAST_GATES)
    assert "rolled back by the quality gate" in outcome
    assert tour.routing() == (live_version, {})
    history = tour.modelctl("history", "--limit", "5", "--json", expect=None).output
    assert "quality gate" in history and "rollback" in history
