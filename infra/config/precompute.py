"""Precomputed predictions: the batch job's limits and the predictions table's expiry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from infra.config.checks import check, check_bool, check_int_range


@dataclass(frozen=True, kw_only=True)
class PrecomputeConfig:
    """Whether the precompute stack is deployed, and how a run is sized and kept."""

    PREFIX: ClassVar[str] = "precompute_"

    enabled: bool = True
    """Deploy the precompute stack and GET /predictions/{id} (false: live inference only)."""
    max_items: int = 1_000_000
    """Most rows (or grid combinations) one precompute run may score; larger inputs are refused
    before any work starts (docs/precompute.md)."""
    chunk_size: int = 5000
    """Rows per chunk: one scoring Lambda invocation (one item of the distributed Map) each."""
    max_concurrency: int = 20
    """Chunks scored at once (the distributed Map's MaxConcurrency)."""
    memory_mb: int = 2048
    prediction_ttl_days: int = 90
    """Precomputed items expire this many days after they were computed (DynamoDB TTL); 0 = never."""
    input_uri: str = ""
    """Default input of a run started without one (e.g. by the retraining workflow after a release)."""

    def __post_init__(self) -> None:
        check_bool("precompute_enabled", self.enabled)
        check_int_range("precompute_max_items", self.max_items, 1, 1_000_000_000)
        check_int_range("precompute_chunk_size", self.chunk_size, 1, 100_000)
        check_int_range("precompute_max_concurrency", self.max_concurrency, 1, 10_000)
        check_int_range("precompute_memory_mb", self.memory_mb, 128, 10_240)
        check_int_range("precompute_prediction_ttl_days", self.prediction_ttl_days, 0, 3650)
        check(
            self.input_uri == "" or self.input_uri.startswith("s3://"),
            "precompute_input_uri",
            f"must be empty or an s3:// URI, got {self.input_uri!r}",
        )
