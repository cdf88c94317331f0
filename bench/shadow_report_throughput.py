"""Shadow report throughput: records processed per second for 100,000 records (the suite's row).

Lights up when the shadow record format (`common.mirror.record`, `common.mirror.message`) and the
report (`modelctl.commands.shadow.build_report`, `ReportBuilder`, `RecordReader`) exist; skipped
with the reason otherwise.

100,000 one-row records (what 100,000 mirrored 1-row requests become) are made with the record
classes themselves, grouped into objects of `shadow_batch_size` records (cdk.json) per request
hour, gzip JSON Lines as the shadow function writes them, and stored in S3 (moto, in this
process). Then, in turns:

- the report end to end: `build_report` (list the hour partitions, fetch objects in parallel,
  decompress, parse, aggregate, summarize) over moto S3;
- the same from bytes already in memory (`RecordReader`'s own `inflate_object` and
  `iter_report_records`, aggregated by `ReportBuilder.add_report_records` as `build_report` does:
  decompress, decode each line as it is aggregated, with the cyclic GC paused as `build_report`
  pauses it): no S3, one thread;
- the aggregation alone (`ReportBuilder.add_report_records` and `result`) over records decoded
  as the report decodes them (typed where they fit; decoded after the other stages, so that no
  stage walks 100,000 held records in its garbage collections).

moto in-process answers faster than S3 over a network, but its CPU is spent in this process: the
end-to-end row is an estimate, the two others isolate the report's own cost.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import pickle
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from bench.core import REPO_ROOT, BenchResult, Measurement, Summary, judge, log, now_iso, skipped
from bench.inprocess import patched_environ
from bench.model import serving_context
from bench.suite import Suite

NAME = "shadow_report"
TITLE = "shadow report throughput, 100,000 records"
RECORDS = 100_000
TARGET_PER_S = 50_000.0
MODULES = (
    "common.mirror.record",
    "common.mirror.message",
    "modelctl.reports.shadow.records",
    "modelctl.reports.shadow.stats",
    "modelctl.reports.shadow.window",
    "modelctl.commands.shadow",
)
CLEAN_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE", "AWS_PROFILE")
BUCKET = "bench-shadow-logs"
NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)  # fixed: the same records every run
GENERATOR = 2  # bump when make_objects changes
CACHE_DIR = REPO_ROOT / ".build" / "bench"


def missing() -> str | None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:
            return f"{name} does not import ({type(exc).__name__}: {exc})"
    commands = importlib.import_module("modelctl.commands.shadow")
    if not hasattr(commands, "build_report"):
        return "modelctl.commands.shadow has no build_report"
    return None


def cached_objects(count: int, batch: int) -> list[tuple[str, bytes]]:
    """make_objects, cached under .build/bench/ by the record format's source: making 100,000
    records takes longer than reading them."""
    digest = hashlib.sha256(f"{count}:{batch}:{NOW.isoformat()}:{GENERATOR}".encode())
    for module in ("common.mirror.record", "common.mirror.message"):
        digest.update(Path(importlib.import_module(module).__file__ or "").read_bytes())
    path = CACHE_DIR / f"shadow-records-{digest.hexdigest()[:16]}.pickle"
    if path.is_file():
        objects: list[tuple[str, bytes]] = pickle.loads(path.read_bytes())
        return objects
    objects = make_objects(count, batch, NOW)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".part")
    staging.write_bytes(pickle.dumps(objects))
    staging.replace(path)
    return objects


def make_objects(count: int, batch: int, now: datetime) -> list[tuple[str, bytes]]:
    """(key, gzip JSON Lines) objects holding `count` records over the 3 hours before `now`."""
    from common.mirror.message import LiveResult, MirrorMessage, format_timestamp
    from common.mirror.record import ShadowRecord, ShadowResult, encode_jsonl_gz, group_by_hour, object_key

    rng = random.Random(7)
    start = now - timedelta(hours=3)
    span = (now - start).total_seconds() - 1
    records = []
    for index in range(count):
        moment = start.timestamp() + span * index / count
        p = rng.random()
        q = min(1.0, max(0.0, p + rng.gauss(0, 0.05)))
        live = LiveResult("m-live", "1", [int(p > 0.5)], [[1 - p, p]], 0.05 + rng.random() * 0.02)
        message = MirrorMessage(
            request_id=f"req-{index:08d}",
            part=0,
            parts=1,
            row_offset=0,
            timestamp=format_timestamp(moment),
            candidate_model_version="m-candidate",
            inputs=np.asarray([[rng.uniform(0, 100) for _ in range(30)]], dtype=np.float32),
            live=live,
        )
        shadow = ShadowResult("m-candidate", "2", [int(q > 0.5)], [[1 - q, q]], 0.07 + rng.random() * 0.02)
        processed = format_timestamp(moment + 5)
        records.append(
            ShadowRecord(message=message, shadow=shadow, message_id=f"m{index}", processed_at=processed)
        )
    objects = []
    for offset in range(0, count, batch):
        for hour, group in group_by_hour(records[offset : offset + batch]).items():
            objects.append((object_key(hour, [r.record_id for r in group]), encode_jsonl_gz(group)))
    return objects


def cpu_extra(seconds: list[float]) -> dict[str, float]:
    """The median process CPU time of a stage and the throughput it stands for."""
    if not seconds:
        return {}
    median = statistics.median(seconds)
    return {"cpu_s_median": round(median, 3), "records_per_cpu_s": round(RECORDS / median)}


@dataclass
class Reader:
    """What build_report needs from modelctl's Factory: a record reader, the time, and for the
    report's coverage section a Lambda and a CloudWatch client and the serving function's name.
    No serving function exists in the mock, so that section says it found no counter: its one
    CloudWatch read, which a real report makes, is not part of these figures."""

    s3: Any
    bucket: str
    now: datetime

    def shadow_reader(self, max_workers: int) -> Any:
        from modelctl.reports.shadow.records import RecordReader

        return RecordReader(self.s3, self.bucket, max_workers=max_workers)

    def time(self) -> datetime:
        return self.now

    @property
    def clients(self) -> Any:
        import boto3

        region = self.s3.meta.region_name
        return SimpleNamespace(
            lambda_=boto3.client("lambda", region_name=region),
            cloudwatch=boto3.client("cloudwatch", region_name=region),
        )

    @property
    def shadow_target(self) -> Any:
        return SimpleNamespace(function_name="bench-no-serving-function")


@contextlib.contextmanager
def without_environ(names: tuple[str, ...]) -> Iterator[None]:
    """Remove environment variables for a block (an endpoint URL would send boto3 past moto's mock)."""
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def run(suite: Suite) -> BenchResult:
    why = missing()
    if why is not None:
        return skipped(NAME, TITLE, f"not available yet: {why}")
    import boto3
    from moto import mock_aws

    from common.observe.log_objects import ReadStats
    from modelctl.commands.shadow import build_report
    from modelctl.reports.shadow.gc_pause import cyclic_gc_paused
    from modelctl.reports.shadow.records import inflate_object, iter_report_records
    from modelctl.reports.shadow.stats import ReportBuilder
    from modelctl.reports.shadow.window import Window

    started = time.monotonic()
    runs = 3  # each run is 100,000 records; medians of 3 interleaved rounds
    e2e_runs = 3
    batch = int(serving_context().get("shadow_batch_size", 100))
    log(f"{NAME}: {RECORDS:,} records in objects of {batch} (made once, cached in {CACHE_DIR})")
    objects = cached_objects(RECORDS, batch)
    now = NOW
    window = Window(since=now - timedelta(hours=3), until=now + timedelta(seconds=1))
    fake = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    end_to_end: list[float] = []
    from_bytes: list[float] = []
    maths: list[float] = []
    # process CPU seconds per stage (every thread: moto's, the readers', the aggregation's): on a
    # loaded machine wall-clock throughput is preemption as much as work; CPU time is the work
    cpu: dict[str, list[float]] = {"end_to_end": [], "from_bytes": [], "aggregate": []}
    counted: list[int] = []
    with patched_environ(fake), without_environ(CLEAN_ENV), mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for key, body in objects:
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        log(f"{NAME}: {runs} run(s) of each stage over {len(objects)} objects")
        for run_index in range(runs):
            if run_index < e2e_runs:
                factory: Any = Reader(s3, BUCKET, now)  # duck-types modelctl's Factory
                t0, c0 = time.perf_counter(), time.process_time()
                report = build_report(factory, window, top=10, workers=16)
                end_to_end.append(RECORDS / (time.perf_counter() - t0))
                cpu["end_to_end"].append(time.process_time() - c0)
                counted.append(int(report["source"]["records"]))

            t0, c0 = time.perf_counter(), time.process_time()
            builder = ReportBuilder(window, top=10)
            with cyclic_gc_paused():  # as build_report does
                tally = ReadStats()
                for _, body in objects:
                    builder.add_report_records(iter_report_records(inflate_object(body), tally))
            builder.result()
            from_bytes.append(RECORDS / (time.perf_counter() - t0))
            cpu["from_bytes"].append(time.process_time() - c0)

            # Decoded only now: 100,000 records held in memory would make every cyclic collection of
            # the stages above walk them (+1.4 s of CPU), which no report pays.
            decoded = [
                item for _, body in objects for item in iter_report_records(inflate_object(body), ReadStats())
            ]
            t0, c0 = time.perf_counter(), time.process_time()
            builder = ReportBuilder(window, top=10)
            with cyclic_gc_paused():
                builder.add_report_records(decoded)
            builder.result()
            maths.append(RECORDS / (time.perf_counter() - t0))
            cpu["aggregate"].append(time.process_time() - c0)
            del decoded
    e2e, raw, agg = Summary.of(end_to_end), Summary.of(from_bytes), Summary.of(maths)
    complete = all(n == RECORDS for n in counted)
    measurements = [
        Measurement(
            key="end_to_end",
            what="shadow report end to end (moto S3 in-process, 16 readers)",
            unit="records/s",
            samples=e2e.samples,
            median=e2e.median,
            target=judge(
                f">= {TARGET_PER_S:,.0f} records/s",
                [("throughput", e2e.median >= TARGET_PER_S), ("every record counted", complete)],
            ),
            extra={
                "seconds_for_100k": round(RECORDS / e2e.median, 2),
                "objects": len(objects),
                **cpu_extra(cpu["end_to_end"]),
            },
        ),
        Measurement(
            key="from_bytes",
            what="decompress + parse + aggregate, objects in memory",
            unit="records/s",
            samples=raw.samples,
            median=raw.median,
            level=1,
            note=f"{RECORDS / raw.median:.2f} s per 100k",
            extra=cpu_extra(cpu["from_bytes"]),
        ),
        Measurement(
            key="aggregate",
            what="aggregation alone (ReportBuilder.add_report_records + result)",
            unit="records/s",
            samples=agg.samples,
            median=agg.median,
            level=1,
            note=f"{RECORDS / agg.median:.2f} s per 100k",
            extra=cpu_extra(cpu["aggregate"]),
        ),
    ]
    details = {
        "records": RECORDS,
        "objects": len(objects),
        "records_per_object": batch,
        "compressed_bytes": sum(len(body) for _, body in objects),
        "records_counted_by_report": counted,
    }
    return BenchResult(
        name=NAME,
        title=TITLE,
        status="ok",
        measurements=tuple(measurements),
        details=details,
        wall_s=time.monotonic() - started,
        measured_at=now_iso(),
    )
