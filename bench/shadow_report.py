"""How fast `modelctl shadow report` reads records: `python -m bench.shadow_report`.

Writes N records (default 100,000: one row of the model's features each, live and shadow answers
from real ONNX models, timestamps over 24 hours) with the shadow function's own writer, in batches of
`--batch` (the stack's default batch size, 100) into moto server running in its own process. Then
times, `--repeat` times:

- `end to end`: what the command does: list the hour partitions, fetch the objects (16 threads),
  decompress, parse and aggregate (`modelctl.shadow.commands.build_report`);
- `in memory`: decompress, parse and aggregate objects already in memory (no S3, no threads): the
  CPU part alone.

Prints records/s for each run and the medians, and the process's peak RSS; no assertions.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT / "functions") not in sys.path:
    sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "functions")]

import boto3  # noqa: E402
import numpy as np  # noqa: E402

from bench.shadow_mirroring import moto_server, newest_model  # noqa: E402
from common.model import OnnxClassifier  # noqa: E402
from common.shadow_message import LiveResult, encode_messages, format_timestamp, parse_message  # noqa: E402
from common.shadow_record import ShadowRecord, ShadowResult, encode_jsonl_gz, group_by_hour  # noqa: E402
from modelctl.shadow.commands import ShadowFactory, build_report  # noqa: E402
from modelctl.shadow.records import RecordReader  # noqa: E402
from modelctl.shadow.resources import ShadowTarget  # noqa: E402
from modelctl.shadow.stats import ReportBuilder  # noqa: E402
from modelctl.shadow.window import Window  # noqa: E402
from shadow.writer import RecordWriter  # noqa: E402

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)


def make_records(count: int) -> list[ShadowRecord]:
    model = OnnxClassifier.load(newest_model())
    rng = np.random.default_rng(0)
    base = np.asarray(model.metadata.sample_rows, dtype=np.float32)
    inputs = (base[rng.integers(0, len(base), count)] * rng.uniform(0.7, 1.3, (count, base.shape[1]))).astype(
        np.float32
    )
    live = model.predict(inputs)
    shadow = model.predict((inputs * np.float32(1.05)).astype(np.float32))  # a "different" model
    live_p, shadow_p = live.probabilities.tolist(), shadow.probabilities.tolist()
    span = 24 * 3600
    records = []
    for index in range(count):
        moment = NOW - timedelta(seconds=span * (count - index) / count)
        (body,) = encode_messages(
            request_id=f"req-{index:07d}",
            timestamp=format_timestamp(moment.timestamp()),
            candidate_model_version=model.version,
            inputs=inputs[index : index + 1],
            live=LiveResult(model.version, "3", [live.labels[index]], [live_p[index]], 0.04),
        )
        result = ShadowResult(model.version, "$LATEST", [shadow.labels[index]], [shadow_p[index]], 0.05)
        records.append(
            ShadowRecord(parse_message(body), result, f"m{index}", format_timestamp(NOW.timestamp()))
        )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    started = time.perf_counter()
    records = make_records(args.records)
    print(f"{len(records)} records built in {time.perf_counter() - started:.1f} s")
    window = Window(NOW - timedelta(hours=25), NOW + timedelta(minutes=1))
    with moto_server() as endpoint:
        session = boto3.session.Session(
            aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1"
        )
        s3 = session.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="shadow-records-bench")
        writer = RecordWriter(s3, "shadow-records-bench")
        started = time.perf_counter()
        objects = bodies = 0
        in_memory: list[bytes] = []
        for start in range(0, len(records), args.batch):
            batch = records[start : start + args.batch]
            keys = writer.write(batch)
            objects += len(keys)
            for group in group_by_hour(batch).values():
                body = encode_jsonl_gz(group)
                bodies += len(body)
                in_memory.append(body)
        print(
            f"{objects} objects ({bodies / 1e6:.1f} MB gzip) written in {time.perf_counter() - started:.1f} s"
        )
        del records

        class Factory(ShadowFactory):
            def client(self, service: str) -> Any:
                return cast(Any, session).client(service, endpoint_url=endpoint)

        factory = Factory(env={}, clock=lambda: NOW)
        names = {field: "unused" for field in ShadowTarget.__dataclass_fields__}
        factory.__dict__["target"] = ShadowTarget(**{**names, "log_bucket": "shadow-records-bench"})
        end_to_end, memory_only = [], []
        for run in range(args.repeat):
            started = time.perf_counter()
            report = build_report(factory, window, top=10, workers=args.workers)
            elapsed = time.perf_counter() - started
            assert report["counts"]["requests"] == args.records, report["counts"]
            end_to_end.append(args.records / elapsed)
            reader = RecordReader(None, "memory")
            builder = ReportBuilder(window, top=10)
            started = time.perf_counter()
            for body in in_memory:
                for record in reader._lines(body):
                    builder.add(record)
            result = builder.result()
            elapsed = time.perf_counter() - started
            assert result["counts"]["requests"] == args.records
            memory_only.append(args.records / elapsed)
            print(
                f"run {run + 1}: end to end {end_to_end[-1]:,.0f} records/s "
                f"({args.records / end_to_end[-1]:.2f} s), in memory {memory_only[-1]:,.0f} records/s"
            )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = {
        "records": args.records,
        "objects": objects,
        "end_to_end_records_per_s_median": round(statistics.median(end_to_end)),
        "in_memory_records_per_s_median": round(statistics.median(memory_only)),
        "peak_rss_mb": round(peak_mb),
        "agreement": result["agreement"]["rate"],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
