"""What every benchmark gets: the run's settings and the shared, lazily started local cloud."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.cloud import BenchCloud


@dataclass
class Suite:
    quick: bool = False
    cloud: BenchCloud = field(default_factory=BenchCloud)
