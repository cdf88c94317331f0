"""Synthetic joined rows (prediction row, feedback) for the quality gate, arriving over time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from common.observe.feedback import Feedback
from common.observe.prediction_log import PredictionRow

Joined = tuple[PredictionRow, Feedback | None]


@dataclass
class LabelStream:
    """`per_minute` labelled rows per version each minute after `delay_s`, correct with the version's
    accuracy (seeded); `calls` counts the gate's reads."""

    accuracy: dict[str, float]
    per_minute: int = 300
    delay_s: float = 0.0
    seed: int = 7
    calls: int = 0
    rewards: dict[str, float] = field(default_factory=dict)

    def __call__(self, since: datetime, until: datetime) -> list[Joined]:
        self.calls += 1
        minutes = int(max(0.0, (until - since).total_seconds() - self.delay_s) // 60)
        return list(self._rows(since, minutes))

    def _rows(self, since: datetime, minutes: int) -> Iterator[Joined]:
        rng = np.random.default_rng(self.seed)
        for version, accuracy in self.accuracy.items():
            correct = rng.random(minutes * self.per_minute) < accuracy
            for index, ok in enumerate(correct):
                request_id = f"r-{version}-{index}"
                row = PredictionRow(
                    request_id=request_id,
                    row=0,
                    requested_at=since + timedelta(seconds=index % 60),
                    model_version=f"m-{version}",
                    function_version=version,
                    features=[0.0],
                    predicted=1,
                )
                label = 1 if ok else 0
                yield row, Feedback(request_id, 0, label, received_at="2026-03-01T12:00:00.000Z")
