"""Where everything lives in S3: every key and prefix the functions, the CLI, the retraining steps,
the stacks and the local cloud read or write.

Model store (one immutable folder per model version):

    models/<version>/model.onnx         the ONNX model
    models/<version>/metadata.json      its metadata (common.model.metadata); written last

Log bucket (one hour partition per prefix, by UTC hour of the request):

    control/shadow.json                            which candidate the shadow scorer runs (mirror config)
    prediction-log/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz  one row per answered row (functions/recorder)
    records/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz       shadow records (common.mirror.record)
    predictions/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz   live-only prediction records (the sampled log before
                                                   prediction-log/; still read)
    feedback/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz      ground-truth labels (common.observe.feedback)
    athena-results/                                Athena's results of the reports' queries (docs/queries.md)

Retraining, in the model bucket:

    retraining/                         the retraining runs' staging area and watermark
    retraining/sagemaker-output/        SageMaker training jobs' output

Precompute work bucket:

    inputs/<stamp>-<file>               uploaded inputs
    runs/<run_id>/grid.json             the validated grid (grid runs)
    runs/<run_id>/chunks/NNNNN.csv      id + the model's features, in its order (table runs)
    runs/<run_id>/manifest.json         JSON array of chunk tasks: the distributed Map's ItemReader
    runs/<run_id>/done/NNNNN.json       {"items": n}: written by a chunk after all its items are written

Standard library only (no numpy, no boto3), so the stacks and the CLI import it without a model.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Model store.
MODELS_PREFIX = "models/"
MODEL_FILE = "model.onnx"
METADATA_FILE = "metadata.json"

# Log bucket.
SHADOW_CONFIG_KEY = "control/shadow.json"
RECORDS_PREFIX = "records/"
PREDICTIONS_PREFIX = "predictions/"
PREDICTION_LOG_PREFIX = "prediction-log/"
FEEDBACK_PREFIX = "feedback/"
QUERY_RESULTS_PREFIX = "athena-results/"
"""Athena's results of the reports' queries (infra/constructs/query.py; expire after 7 days)."""
OBJECT_SUFFIX = ".jsonl.gz"
PREDICTION_LOG_PREFIXES = (PREDICTION_LOG_PREFIX, RECORDS_PREFIX, PREDICTIONS_PREFIX)
"""What the prediction log reads: the log of every answered row, and the sampled records written
before it (shadow records carry the live answer too)."""

# Retraining (in the model bucket, beside models/).
RETRAINING_PREFIX = "retraining/"
SAGEMAKER_OUTPUT_PREFIX = f"{RETRAINING_PREFIX}sagemaker-output/"

# Precompute work bucket.
RUNS_PREFIX = "runs/"
INPUTS_PREFIX = "inputs/"


def model_prefix(version: str) -> str:
    """`models/<version>/`: the folder of one model version."""
    return f"{MODELS_PREFIX}{version}/"


def model_key(version: str, name: str = MODEL_FILE) -> str:
    """`models/<version>/<name>`: one file of a model version (the ONNX model by default)."""
    return f"{model_prefix(version)}{name}"


def metadata_key(version: str) -> str:
    """`models/<version>/metadata.json`."""
    return model_key(version, METADATA_FILE)


def hour_prefix(hour: datetime, prefix: str = RECORDS_PREFIX) -> str:
    """`<prefix>dt=YYYY-MM-DD/hour=HH/` of the hour holding `hour` (UTC)."""
    moment = hour.astimezone(UTC)
    return f"{prefix}dt={moment:%Y-%m-%d}/hour={moment:%H}/"


def hour_prefixes(start: datetime, end: datetime, prefix: str = RECORDS_PREFIX) -> list[str]:
    """Every hour partition under `prefix` that can hold an object for a moment in [start, end)."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    prefixes = []
    while hour < end:
        prefixes.append(hour_prefix(hour, prefix))
        hour += timedelta(hours=1)
    return prefixes


def partition_prefixes(start: datetime, end: datetime, prefix: str = RECORDS_PREFIX) -> list[str]:
    """The partitions of `hour_prefixes`, with every whole UTC day in [start, end) listed as one day
    prefix (`<prefix>dt=YYYY-MM-DD/`): the same objects with one listing per day instead of 24."""
    result: list[str] = []
    hours = hour_prefixes(start, end, prefix)
    index = 0
    while index < len(hours):
        day = hours[index][: hours[index].index("/hour=") + 1]
        same_day = [h for h in hours[index : index + 24] if h.startswith(day)]
        result.extend([day] if len(same_day) == 24 else same_day)
        index += len(same_day)
    return result


def run_prefix(run_id: str) -> str:
    """`runs/<run_id>/`: everything one precompute run keeps."""
    return f"{RUNS_PREFIX}{run_id}/"


def grid_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}grid.json"


def chunk_key(run_id: str, index: int) -> str:
    return f"{run_prefix(run_id)}chunks/{index:05d}.csv"


def manifest_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}manifest.json"


def done_prefix(run_id: str) -> str:
    return f"{run_prefix(run_id)}done/"


def done_key(run_id: str, index: int) -> str:
    return f"{done_prefix(run_id)}{index:05d}.json"
