"""The shadow deployment: the mirror queue's consumer and the records it writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from infra.config.checks import check, check_int_range


@dataclass(frozen=True, kw_only=True)
class ShadowConfig:
    """How the shadow function drains the mirror queue, and how long its records are kept."""

    PREFIX: ClassVar[str] = "shadow_"

    batch_size: int = 1000
    """Mirrored messages per shadow function invocation; above 10 needs a batching window of >= 1 s."""
    batching_window_seconds: int = 5
    """How long the SQS event source gathers messages before invoking the shadow function (0..300)."""
    timeout_seconds: int = 60
    """The shadow function's timeout; the shadow queue's visibility timeout is six times this."""
    memory_mb: int = 1024
    max_receive_count: int = 3
    """Receives of a message the shadow function keeps failing before SQS moves it to the DLQ."""
    max_concurrency: int = 5
    """Most concurrent shadow invocations, so a shadow never takes the live function's concurrency."""
    record_expiration_days: int = 30
    """Shadow records (and the log bucket's access logs) expire after this many days."""
    config_ttl_seconds: int = 5
    """How long the inference function trusts its cached copy of the active shadow configuration."""

    def __post_init__(self) -> None:
        check_int_range("shadow_batch_size", self.batch_size, 1, 10_000)
        check_int_range("shadow_batching_window_seconds", self.batching_window_seconds, 0, 300)
        check(
            self.batch_size <= 10 or self.batching_window_seconds >= 1,
            "shadow_batch_size",
            "above 10 needs shadow_batching_window_seconds >= 1 (an SQS event source rule), "
            f"got batch size {self.batch_size} with a window of {self.batching_window_seconds}",
        )
        check_int_range("shadow_timeout_seconds", self.timeout_seconds, 1, 900, hint="Lambda's maximum")
        check_int_range("shadow_memory_mb", self.memory_mb, 128, 10_240)
        check_int_range("shadow_max_receive_count", self.max_receive_count, 1, 1000)
        check_int_range("shadow_max_concurrency", self.max_concurrency, 2, 1000)
        check_int_range("shadow_record_expiration_days", self.record_expiration_days, 1, 3650)
        check_int_range("shadow_config_ttl_seconds", self.config_ttl_seconds, 1, 300)
