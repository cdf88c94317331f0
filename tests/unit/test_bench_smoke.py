"""The benchmark suite's plumbing on fake numbers: results schema, table, interleaving. No timings
are asserted anywhere (the suite prints and records them; see bench/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from bench.core import (
    RESULTS_FILE,
    BenchResult,
    Candidate,
    Measurement,
    Summary,
    baseline,
    judge,
    paired_delta,
    percentile,
    read_results,
    results_document,
    skipped,
    time_interleaved,
    validate_results,
    write_results,
)
from bench.report import build_table, markdown_table

MACHINE = {
    "cpu_model": "Fake CPU",
    "cores": 2,
    "python": "3.11",
    "onnxruntime": "1",
    "numpy": "2",
    "date": "x",
}


def fake_results() -> list[BenchResult]:
    handler = Measurement(
        key="handler",
        what="warm handler, 1 row",
        unit="us",
        samples=1000,
        median=500.0,
        p99=900.0,
        baselines=(baseline("scikit-learn", 700.0, 500.0, "us"), baseline("session.run", 10.0, 500.0, "us")),
        target=judge("p50 <= 60 us", [("p50", False)]),
    )
    part = Measurement(
        key="service", what="service alone", unit="us", samples=1000, median=80.0, level=1, note="16%"
    )
    size = Measurement(
        key="zipped",
        what="bundle zipped",
        unit="MB",
        samples=1,
        median=26.0,
        baselines=(baseline("naive", 56.0, 26.0, "MB"),),
        target=judge("<= 40 MB", [("zipped", True)]),
    )
    return [
        BenchResult(name="warm_handler", title="warm handler", status="ok", measurements=(handler, part)),
        BenchResult(name="bundle_size", title="bundle size", status="ok", measurements=(size,)),
        skipped("mirroring", "mirroring cost", "not available yet: common.mirror.request_mirror is missing"),
        BenchResult(name="gateway", title="gateway", status="error", reason="RuntimeError: boom"),
    ]


def test_results_document_is_valid_and_round_trips(tmp_path: Path) -> None:
    results = fake_results()
    document = results_document(MACHINE, results, command="python -m bench.run")
    assert validate_results(document) == []
    path = tmp_path / "results.json"
    write_results(path, document)
    loaded = read_results(path)
    assert loaded is not None
    assert [BenchResult.from_dict(entry) for entry in loaded["benchmarks"]] == results


def test_only_refreshes_the_benchmarks_that_ran() -> None:
    first = results_document(MACHINE, fake_results())
    rerun = BenchResult(name="bundle_size", title="bundle size", status="skipped", reason="not today")
    second = results_document(MACHINE, [rerun], previous=first)
    by_name = {entry["name"]: entry for entry in second["benchmarks"]}
    assert set(by_name) == {"warm_handler", "bundle_size", "mirroring", "gateway"}
    assert by_name["bundle_size"]["status"] == "skipped"
    assert by_name["warm_handler"]["status"] == "ok"


def test_validation_names_what_is_wrong() -> None:
    document = results_document(MACHINE, [BenchResult(name="x", title="x", status="ok")])
    del document["machine"]["cpu_model"]
    document["benchmarks"].append({"name": "y", "title": "y", "status": "skipped"})
    problems = validate_results(document)
    assert "machine.cpu_model is missing" in problems
    assert "x: status ok but no measurements" in problems
    assert "y: status skipped without a reason" in problems


def test_ratio_is_baseline_over_ours() -> None:
    assert baseline("b", 700.0, 500.0, "us").ratio == pytest.approx(1.4)
    assert judge("t", [("a", True), ("b", False)]).failed == ("b",)


def test_table_shows_every_benchmark_and_verdict() -> None:
    console = Console(record=True, width=240)
    console.print(build_table(fake_results(), MACHINE))
    text = console.export_text()
    for expected in (
        "warm handler, 1 row",
        "500 us",
        "1.40x",
        "NO (p50)",
        "yes",
        "SKIPPED",
        "ERROR",
        "Fake CPU",
    ):
        assert expected in text
    markdown = markdown_table(fake_results())
    assert markdown.count("\n") >= 6
    assert "not available yet" in markdown


def test_statistics_on_known_values() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99) == 99.0
    assert percentile(values, 50) == 50.0
    summary = Summary.of(values)
    assert (summary.samples, summary.median, summary.minimum, summary.maximum) == (100, 50.5, 1.0, 100.0)


def test_interleaving_runs_every_block_with_its_patches() -> None:
    calls = {"a": 0, "b": 0}
    entered: list[str] = []

    def counter(name: str) -> Candidate:
        def call() -> None:
            calls[name] += 1

        return Candidate(name, call, enter=lambda: entered.append(name))

    timings = time_interleaved([counter("a"), counter("b")], rounds=3, block=5, warmup=2)
    assert calls == {"a": 17, "b": 17}
    assert entered.count("a") == entered.count("b") == 4
    assert len(timings["a"].samples_ns) == 15
    assert len(timings["a"].round_medians_ns) == 3
    delta = paired_delta(timings["a"], timings["b"])
    assert delta.low <= delta.median <= delta.high


def test_committed_results_file_is_well_formed() -> None:
    document = read_results(RESULTS_FILE)
    if document is None:
        pytest.skip("bench/results.json has not been written yet (make bench)")
    assert validate_results(document) == []
    assert json.loads(json.dumps(document, allow_nan=False)) == document
