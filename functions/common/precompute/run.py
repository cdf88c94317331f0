"""The contract between the precompute steps: what a chunk is (where a run keeps its files is in
`common.layout`: `runs/<run_id>/...`).

A chunk task carries everything its worker needs, so the Map passes items through unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

ID_COLUMN = "id"

ChunkKind = Literal["csv", "grid"]


@dataclass(frozen=True)
class ChunkTask:
    run_id: str
    index: int
    kind: ChunkKind
    bucket: str
    key: str
    """The chunk's CSV (kind csv) or the run's grid (kind grid)."""
    model_version: str
    start: int = 0
    stop: int = 0
    """Grid rows start..stop-1 (kind grid)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChunkTask:
        try:
            kind = data["kind"]
            if kind not in ("csv", "grid"):
                raise ValueError(f"unknown chunk kind {kind!r}")
            return cls(
                run_id=str(data["run_id"]),
                index=int(data["index"]),
                kind=kind,
                bucket=str(data["bucket"]),
                key=str(data["key"]),
                model_version=str(data["model_version"]),
                start=int(data.get("start", 0)),
                stop=int(data.get("stop", 0)),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a chunk task: {data!r}") from exc
