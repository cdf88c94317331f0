"""The A/B report's renderers: terminal tables and warnings, the HTML page's charts, and the JSON
document's schema (docs/ab-report.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from rich.console import Console

from modelctl.reports.ab import render_html, render_terminal
from release.alias import Routing
from tests.monitoring_support import LOG_BUCKET
from tests.unit.ab.streams import (
    MODEL_BUCKET,
    NEW,
    PRIMARY,
    ab_report,
    classifier_stream,
    put_metadata,
)

TOP_KEYS = {
    "schema_version",
    "since",
    "until",
    "feedback_until",
    "metric",
    "direction",
    "alpha",
    "versions_from",
    "routing",
    "primary",
    "new",
    "arms",
    "comparison",
    "labels_needed",
    "effect",
    "power",
    "business_metric",
    "business_comparison",
    "coverage",
    "warnings",
    "read_seconds",
}
ARM_KEYS = {
    "function_version",
    "role",
    "model_versions",
    "predictions",
    "labelled",
    "unscorable",
    "n",
    "metric",
    "interval",
    "interval_level",
    "mean_cost",
    "business_value",
    "business_rows",
}
COMPARISON_KEYS = {
    "direction",
    "alpha",
    "mixture_scale",
    "burn_in",
    "difference",
    "standard_error",
    "difference_ci95",
    "p_value",
    "confidence_sequence",
    "improvement_bounds",
}


@pytest.fixture(scope="module")
def documents() -> Iterator[dict[str, dict[str, Any]]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (LOG_BUCKET, MODEL_BUCKET):
            s3.create_bucket(Bucket=bucket)
        put_metadata(s3)
        classifier_stream(
            s3,
            rows={PRIMARY: 400, NEW: 200},
            labelled={PRIMARY: 300, NEW: 150},
            accuracy={PRIMARY: 0.9, NEW: 0.8},
            unknown=2,
        )

        def build(**options: Any) -> dict[str, Any]:
            return ab_report(s3, **options)

        yield {
            "two": build(routing=Routing(PRIMARY, NEW, 30.0), cost_matrix={"0": {"1": 2.0}}),
            "missing": build(named=(PRIMARY, "9")),
        }


def terminal(document: dict[str, Any]) -> str:
    console = Console(width=200, record=True)
    render_terminal.render(document, console)
    return console.export_text()


def test_json_schema(documents: dict[str, dict[str, Any]]) -> None:
    document = json.loads(json.dumps(documents["two"]))
    assert set(document) == TOP_KEYS
    assert all(set(arm) == ARM_KEYS for arm in document["arms"])
    assert set(document["comparison"]) == COMPARISON_KEYS
    assert document["routing"] == {"primary": PRIMARY, "extra": NEW, "extra_percent": 30.0}
    assert set(document["labels_needed"]) >= {"sequential_total", "sequential_more", "effect", "power"}


def test_terminal_shows_versions_difference_p_value_and_labels_needed(
    documents: dict[str, dict[str, Any]],
) -> None:
    text = terminal(documents["two"])
    assert "600 predictions logged, 452 labels received" in text and "450 joined, 2 not joined" in text
    assert "warning: 2 labels received after the window have no record in it" in text
    assert "90.00%" in text and "80.00%" in text and "mean cost" in text
    assert "new - primary (v4 - v3): -10.00 points" in text
    assert "always-valid p-value (mSPRT):" in text
    assert "to detect +2.00 points at 80% power:" in text


def test_terminal_with_a_named_version_without_rows(documents: dict[str, dict[str, Any]]) -> None:
    text = terminal(documents["missing"])
    assert "version 9 has no logged predictions in this window" in text
    assert "new - primary (v9 - v3): not defined until both versions have labelled rows" in text


def test_terminal_with_one_version_only(documents: dict[str, dict[str, Any]]) -> None:
    text = terminal(single(documents["two"]))
    assert "only one version (3) served" in text and "new - primary" not in text


def single(document: dict[str, Any]) -> dict[str, Any]:
    """The document of a window where only the primary served."""
    arms = [arm for arm in document["arms"] if arm["role"] == "primary"]
    warnings = ["only one version (3) served in this window: nothing to compare"]
    return document | {
        "new": None,
        "arms": arms,
        "comparison": None,
        "labels_needed": None,
        "warnings": warnings,
    }


def test_html_has_the_charts_and_the_comparison(documents: dict[str, dict[str, Any]]) -> None:
    page = render_html.render(documents["two"])
    assert page.count("<svg") == 4 and "<script" not in page
    assert "rows per version" in page and "accuracy per version with its 95% interval" in page
    assert "difference new - primary" in page and "always-valid p-value (mSPRT)" in page
    assert "business metric per version: mean_cost (cost_matrix)" in page


def test_html_with_nothing_to_compare(documents: dict[str, dict[str, Any]]) -> None:
    page = render_html.render(single(documents["two"]))
    assert "Only one version: nothing to compare." in page and page.count("<svg") == 3
    page = render_html.render(documents["missing"])
    assert "version 9 has no logged predictions" in page
