"""Start a precompute run and follow it: the execution's status and its chunks done.

Progress is read from what the run writes (the manifest's chunk count, one done marker per chunk
under runs/<run>/done/), so it is the same on AWS and in the local cloud.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from common.layout import INPUTS_PREFIX, done_prefix, manifest_key, metadata_key
from common.precompute.grid import check_grid_size, parse_grid
from modelctl.precompute.resources import PrecomputeResources
from release.aws import aws_errors
from release.errors import RefusedError

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class RunFailedError(RefusedError):
    """The execution ended without switching; the served version is unchanged."""

    exit_code = 2


@dataclass(frozen=True)
class Progress:
    status: str
    chunks: int | None
    done: int


@dataclass(frozen=True)
class RunOutcome:
    execution_arn: str
    run_id: str
    status: str
    summary: dict[str, Any]


def run_name(model_version: str, now: datetime | None = None) -> str:
    """Execution name = run id: unique per start, readable, within Step Functions' 80 characters."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{model_version[:50]}-{stamp}-{secrets.token_hex(3)}"


class PrecomputeRunner:
    def __init__(
        self,
        *,
        resources: PrecomputeResources,
        stepfunctions: Any,
        s3: Any,
        model_bucket: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.resources = resources
        self.sfn = stepfunctions
        self.s3 = s3
        self.model_bucket = model_bucket
        self._sleep = sleep

    # -- before starting --------------------------------------------------------------------------

    def feature_names(self, model_version: str) -> list[str]:
        key = metadata_key(model_version)
        try:
            body = self.s3.get_object(Bucket=self.model_bucket, Key=key)["Body"].read()
        except ClientError as exc:
            raise RefusedError(
                f"model version {model_version!r} is not in the model store "
                f"(s3://{self.model_bucket}/{key}): "
                "publish it first"
            ) from exc
        return list(json.loads(body)["feature_names"])

    def check_grid(self, spec_path: Path, model_version: str) -> dict[str, Any]:
        """The grid document, refused here (before anything is uploaded or started) when it does not
        match the model or expands beyond the deployed cap."""
        try:
            document = json.loads(spec_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RefusedError(f"cannot read the grid specification {spec_path}: {exc}") from exc
        try:
            grid = parse_grid(document, self.feature_names(model_version))
            check_grid_size(grid, self.resources.max_items)
        except ValueError as exc:
            raise RefusedError(str(exc)) from exc
        return grid.to_document()

    def upload(self, path: Path) -> str:
        if not path.is_file():
            raise RefusedError(f"{path} does not exist")
        key = f"{INPUTS_PREFIX}{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{path.name}"
        with aws_errors(f"uploading {path} to s3://{self.resources.work_bucket}/{key}"):
            self.s3.upload_file(str(path), self.resources.work_bucket, key)
        return f"s3://{self.resources.work_bucket}/{key}"

    def stage_input(self, uri: str) -> str:
        """An input elsewhere is copied under inputs/ of the work bucket (the only place the plan
        step may read), server-side."""
        prefix = f"s3://{self.resources.work_bucket}/{INPUTS_PREFIX}"
        if uri.startswith(prefix):
            return uri
        if not uri.startswith("s3://") or "/" not in uri[5:]:
            raise RefusedError(f"--input {uri!r} is not an s3://bucket/key URI")
        bucket, key = uri[5:].split("/", 1)
        target = f"{INPUTS_PREFIX}{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{key.rsplit('/', 1)[-1]}"
        with aws_errors(f"copying {uri} to {prefix}"):
            self.s3.copy({"Bucket": bucket, "Key": key}, self.resources.work_bucket, target)
        return f"s3://{self.resources.work_bucket}/{target}"

    # -- running ----------------------------------------------------------------------------------

    def start(self, *, run_id: str, request: Mapping[str, Any]) -> str:
        with aws_errors("starting the precompute state machine"):
            response = self.sfn.start_execution(
                stateMachineArn=self.resources.state_machine_arn, name=run_id, input=json.dumps(request)
            )
        return str(response["executionArn"])

    def progress(self, execution_arn: str, run_id: str) -> Progress:
        with aws_errors("reading the precompute execution"):
            status = str(self.sfn.describe_execution(executionArn=execution_arn)["status"])
        bucket = self.resources.work_bucket
        chunks: int | None = None
        try:
            manifest = self.s3.get_object(Bucket=bucket, Key=manifest_key(run_id))["Body"].read()
            chunks = len(json.loads(manifest))
        except ClientError:
            chunks = None  # not planned yet
        done = 0
        with aws_errors("counting finished chunks"):
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=done_prefix(run_id)
            ):
                done += len(page.get("Contents", []))
        return Progress(status=status, chunks=chunks, done=done)

    def wait(
        self,
        execution_arn: str,
        run_id: str,
        *,
        on_progress: Callable[[Progress], None],
        poll_s: float = 1.0,
        timeout_s: float = 12 * 3600,
    ) -> RunOutcome:
        deadline = time.monotonic() + timeout_s
        while True:
            progress = self.progress(execution_arn, run_id)
            on_progress(progress)
            if progress.status in TERMINAL:
                break
            if time.monotonic() > deadline:
                raise RefusedError(
                    f"gave up waiting for {execution_arn} after {timeout_s:.0f} s (it goes on)"
                )
            self._sleep(poll_s)
        with aws_errors("reading the precompute execution"):
            description = self.sfn.describe_execution(executionArn=execution_arn)
        if progress.status != "SUCCEEDED":
            error = description.get("error") or progress.status
            cause = description.get("cause") or ""
            raise RunFailedError(
                f"precompute run {run_id} {progress.status}: {error}: {_cause_message(cause)} "
                "(the served version is unchanged)"
            )
        summary = json.loads(description.get("output") or "{}")
        return RunOutcome(execution_arn=execution_arn, run_id=run_id, status=progress.status, summary=summary)


def _cause_message(cause: str) -> str:
    """A Lambda error's cause is JSON {"errorMessage", "errorType", ...}: keep the message."""
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return cause
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return f"{parsed.get('errorType', 'Error')}: {parsed['errorMessage']}"
    return cause
