"""Serve a finished run: check that every chunk wrote its items, then flip the pointer once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from common.layout import done_prefix
from common.precompute.table import PredictionTable


class IncompleteRunError(RuntimeError):
    """Some chunk has no done marker: switching would serve a partial set."""


def count_done(s3: Any, bucket: str, run_id: str) -> tuple[int, int]:
    """(chunks done, items they wrote) from the run's done markers."""
    chunks = items = 0
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=done_prefix(run_id)):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            items += int(json.loads(body)["items"])
            chunks += 1
    return chunks, items


def switch_served_version(
    plan: Mapping[str, Any], *, s3: Any, table: PredictionTable, now: datetime | None = None
) -> dict[str, Any]:
    run_id = str(plan["run_id"])
    chunks, items = count_done(s3, str(plan["bucket"]), run_id)
    if chunks != int(plan["chunks"]) or items != int(plan["items"]):
        raise IncompleteRunError(
            f"run {run_id}: {chunks} of {plan['chunks']} chunks and {items} of {plan['items']} items "
            "are done; "
            "the served version stays as it was"
        )
    expected = plan.get("expected_version")
    pointer = table.switch(
        model_version=str(plan["model_version"]),
        run_id=run_id,
        items=items,
        expected=str(expected) if expected else None,
        switched_at=(now or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )
    return {
        "run_id": run_id,
        "model_version": pointer.model_version,
        "previous_version": expected or None,
        "chunks": chunks,
        "items": items,
        "switched_at": pointer.switched_at,
    }
