"""The contract between the precompute steps: where a run keeps its files and what a chunk is.

    runs/<run_id>/grid.json           the validated grid (grid runs)
    runs/<run_id>/chunks/NNNNN.csv    id + the model's features, in its order (table runs)
    runs/<run_id>/manifest.json       JSON array of chunk tasks: the distributed Map's ItemReader
    runs/<run_id>/done/NNNNN.json     {"items": n}: written by a chunk after all its items are written

A chunk task carries everything its worker needs, so the Map passes items through unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

RUNS_PREFIX = "runs/"
INPUTS_PREFIX = "inputs/"
ID_COLUMN = "id"

ChunkKind = Literal["csv", "grid"]


def run_prefix(run_id: str) -> str:
    return f"{RUNS_PREFIX}{run_id}/"


def chunk_key(run_id: str, index: int) -> str:
    return f"{run_prefix(run_id)}chunks/{index:05d}.csv"


def done_prefix(run_id: str) -> str:
    return f"{run_prefix(run_id)}done/"


def done_key(run_id: str, index: int) -> str:
    return f"{done_prefix(run_id)}{index:05d}.json"


def manifest_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}manifest.json"


def grid_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}grid.json"


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
