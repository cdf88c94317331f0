"""The storage layout: every key equals the string published versions, the stacks and old log objects
use; listing partitions (whole days coalesced into one prefix) cover exactly the hours of the window;
the module imports nothing heavy, so the stacks and the CLI can import it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common import layout
from common.layout import FEEDBACK_PREFIX, hour_prefixes, partition_prefixes

START = datetime(2026, 3, 1, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "length", "expected_count"),
    [
        (START, timedelta(hours=3), 4),  # within a day: hours only (05..08)
        (START.replace(hour=0, minute=0), timedelta(days=1), 1),  # exactly one day
        (START, timedelta(days=30), 19 + 29 + 6),  # 19 hours, 29 whole days, 6 hours (05:00..05:59 open)
        (START, timedelta(0), 1),  # as hour_prefixes: the hour holding an empty window
    ],
)
def test_partitions_cover_exactly_the_hours_of_the_window(
    start: datetime, length: timedelta, expected_count: int
) -> None:
    end = start + length
    partitions = partition_prefixes(start, end, FEEDBACK_PREFIX)
    hours = hour_prefixes(start, end, FEEDBACK_PREFIX)
    assert len(partitions) == expected_count
    covered = [hour for hour in hours for partition in partitions if hour.startswith(partition)]
    assert covered == hours  # every hour under exactly one partition, in order
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    outside = hour_prefixes(start - timedelta(days=2), first_hour, FEEDBACK_PREFIX) + hour_prefixes(
        end + timedelta(hours=1), end + timedelta(days=2), FEEDBACK_PREFIX
    )
    assert not [hour for hour in outside if any(hour.startswith(p) for p in partitions)]


def test_a_whole_day_is_one_listing() -> None:
    day = datetime(2026, 3, 2, tzinfo=UTC)
    assert partition_prefixes(day, day + timedelta(days=1), "records/") == ["records/dt=2026-03-02/"]


def test_model_store_keys_are_todays_strings() -> None:
    assert layout.MODELS_PREFIX == "models/"
    assert layout.model_prefix("m-1") == "models/m-1/"
    assert layout.model_key("m-1") == "models/m-1/model.onnx"
    assert layout.model_key("m-1", layout.METADATA_FILE) == "models/m-1/metadata.json"
    assert layout.metadata_key("m-1") == "models/m-1/metadata.json"
    assert (layout.MODEL_FILE, layout.METADATA_FILE) == ("model.onnx", "metadata.json")


def test_log_bucket_keys_are_todays_strings() -> None:
    assert layout.SHADOW_CONFIG_KEY == "control/shadow.json"
    assert (layout.RECORDS_PREFIX, layout.PREDICTIONS_PREFIX, layout.FEEDBACK_PREFIX) == (
        "records/",
        "predictions/",
        "feedback/",
    )
    assert layout.PREDICTION_LOG_PREFIX == "prediction-log/"
    assert layout.PREDICTION_LOG_PREFIXES == ("prediction-log/", "records/", "predictions/")
    assert layout.OBJECT_SUFFIX == ".jsonl.gz"
    moment = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    assert layout.hour_prefix(moment) == "records/dt=2026-03-01/hour=23/"
    assert layout.hour_prefix(moment, "feedback/") == "feedback/dt=2026-03-01/hour=23/"


def test_retraining_and_precompute_keys_are_todays_strings() -> None:
    assert layout.RETRAINING_PREFIX == "retraining/"
    assert layout.SAGEMAKER_OUTPUT_PREFIX == "retraining/sagemaker-output/"
    assert (layout.RUNS_PREFIX, layout.INPUTS_PREFIX) == ("runs/", "inputs/")
    assert layout.run_prefix("r1") == "runs/r1/"
    assert layout.grid_key("r1") == "runs/r1/grid.json"
    assert layout.chunk_key("r1", 7) == "runs/r1/chunks/00007.csv"
    assert layout.manifest_key("r1") == "runs/r1/manifest.json"
    assert layout.done_prefix("r1") == "runs/r1/done/"
    assert layout.done_key("r1", 7) == "runs/r1/done/00007.json"


def test_layout_imports_nothing_heavy() -> None:
    probe = (
        "import sys; import common.layout; "
        "print(sorted({'numpy', 'boto3', 'botocore', 'onnxruntime'} & set(sys.modules)))"
    )
    functions = Path(__file__).resolve().parents[2] / "functions"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(functions)}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
