"""SnapStart runtime hooks: warm the model before the snapshot, make each restored copy its own.

With SnapStart (`serving.snapstart`), Lambda runs the init phase once per published version, runs
the `before_snapshot` hooks, snapshots the memory and disk of the environment, and starts every
later environment of that version from a copy of the snapshot, running the `after_restore` hooks
first. Hooks are registered with `snapshot_restore_py`, the library the Lambda Python runtime
provides (and runs the hooks of when AWS_LAMBDA_INITIALIZATION_TYPE is `snap-start`); outside a
Lambda runtime the import fails and nothing is registered.

- before_snapshot: one prediction on the model's sample rows (the session's first-run allocations
  and the decoder's code paths are then in the snapshot, not paid by the first request after a
  restore); open network connections are closed (a socket in a snapshot is dead on restore).
- after_restore: new random seeds (every copy of the snapshot would otherwise draw the same
  sequence: the same requests sampled for the shadow and the prediction log in every environment);
  fresh connections (clients reconnect on first use) and the sticky router's cached alias routing
  forgotten; the shadow configuration re-read (it may have changed since the snapshot was taken).

docs/performance.md states the trade-offs.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

Hook = Callable[[], None]


def _log_line(message: str) -> None:
    """One JSON line on stdout (the function's log), as the function's other lines."""
    sys.stdout.write(json.dumps({"level": "INFO", "message": message, "service": "snapstart"}) + "\n")
    sys.stdout.flush()


def _reachable(roots: Sequence[object], depth: int = 3) -> Iterator[object]:
    """`roots` and the objects their attributes hold, `depth` levels down, each once."""
    seen: set[int] = set()
    layer = [root for root in roots if root is not None]
    for _ in range(depth + 1):
        following: list[object] = []
        for obj in layer:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            yield obj
            attributes = getattr(obj, "__dict__", None)
            if isinstance(attributes, dict):
                following.extend(value for value in attributes.values() if value is not None)
        layer = following


def _is_aws_client(obj: object) -> bool:
    return hasattr(obj, "_endpoint") and callable(getattr(obj, "close", None))


class SnapStartHooks:
    """The two hooks over the function's collaborators (the API, its mirror, the sticky router)."""

    def __init__(
        self,
        *,
        warm: Hook,
        holders: Sequence[object],
        resets: Sequence[Hook] = (),
        log: Callable[[str], None] = _log_line,
    ) -> None:
        self.warm = warm
        self.log = log
        self.holders = list(holders)
        self.resets = list(resets)
        self.snapshots = 0
        self.restores = 0

    def before_snapshot(self) -> None:
        self.warm()
        self._close_connections()
        self.snapshots += 1
        self.log("snapstart: warmed and disconnected before the snapshot")

    def after_restore(self) -> None:
        random.seed()
        np.random.seed()
        for obj in _reachable(self.holders):
            if isinstance(obj, random.Random):
                obj.seed()
        self._close_connections()
        for reset in self.resets:
            reset()
        for obj in _reachable(self.holders):
            refresh = getattr(obj, "refresh", None)
            if callable(refresh) and type(obj).__name__.endswith("ConfigCache"):
                refresh()  # the shadow configuration, as read now
        self.restores += 1
        self.log("snapstart: restored: new seeds, fresh connections, configuration re-read")

    def _close_connections(self) -> None:
        for obj in _reachable(self.holders):
            if _is_aws_client(obj):
                obj.close()  # type: ignore[attr-defined]


def warm_with_sample_rows(app: Any) -> Hook:
    """A hook answering the model's sample rows (metadata.json) through the service once."""

    def warm() -> None:
        rows = app.service.model.metadata.sample_rows
        if rows:
            app.service.predict(np.asarray(rows, dtype=np.float32))

    return warm


def register_runtime_hooks(app: Any, handler: object) -> SnapStartHooks | None:
    """Registers the hooks with the Lambda runtime's `snapshot_restore_py`; None outside Lambda."""
    try:
        from snapshot_restore_py import (  # type: ignore[import-untyped]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return None
    reset = getattr(handler, "reset", None)
    hooks = SnapStartHooks(
        warm=warm_with_sample_rows(app),
        holders=[app, getattr(app, "mirror", None), handler],
        resets=[reset] if callable(reset) else [],
    )
    register_before_snapshot(hooks.before_snapshot)
    register_after_restore(hooks.after_restore)
    return hooks
