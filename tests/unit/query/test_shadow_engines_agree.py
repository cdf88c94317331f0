"""The shadow report from both engines on one sample of shadow records (duplicates regrouped into
other objects, multi-part requests, two and three classes): the Athena SQL (run by DuckDB) against
the in-process `ShadowReportBuilder` over the same objects. Everything but the quantiles is the same
(counts exactly, means and sums to 1e-9); the quantiles are Athena's approximations."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from modelctl.reports.query.shadow import shadow_document
from modelctl.reports.query.sql import Tables
from modelctl.reports.shadow.builder import ShadowReportBuilder
from modelctl.reports.shadow.records import RecordReader
from modelctl.reports.shadow.window import Window
from tests.unit.query.duck import DATABASE, DuckRunner
from tests.unit.query.sample import SINCE, UNTIL, Sample, shadow_records
from tests.unit.query.test_engines_agree import close

BUCKET = "log-bucket"


def _without_quantiles(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {key: value for key, value in summary.items() if key in ("mean", "max", "count")}


def test_shadow_report_is_the_same_from_both_engines(tmp_path: Path) -> None:
    sample = Sample()
    shadow_records(random.Random(6), sample)
    window = Window(SINCE, UNTIL)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        sample.write(s3, BUCKET, tmp_path)
        builder = ShadowReportBuilder(window, top=5)
        builder.add_report_records(RecordReader(s3, BUCKET, max_workers=2).report_records(window))
        local = builder.result()
    athena = shadow_document(DuckRunner(tmp_path), Tables(DATABASE), window, top=5)
    assert local["counts"]["rows"] > 300 and local["source"]["duplicates_dropped"] > 0
    for key in ("window", "counts", "models", "agreement", "confusion", "hourly", "top_disagreements"):
        close(athena[key], local[key], key)
    for key in ("records", "duplicates_dropped"):
        assert athena["source"][key] == local["source"][key]
    ours, theirs = athena["probability_difference"], local["probability_difference"]
    close(_without_quantiles(ours.pop("summary")), _without_quantiles(theirs.pop("summary")))
    close(ours, theirs, "probability_difference")
    for side in ("live", "shadow"):
        close(
            _without_quantiles(athena["latency_ms"][side]),
            _without_quantiles(local["latency_ms"][side]),
            side,
        )
    assert athena["latency_ms"]["live"]["approximate"] is True
