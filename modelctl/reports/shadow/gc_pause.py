"""Pausing Python's cyclic garbage collector while a report reads records.

A report parses millions of small dicts and lists (about ten per record) that never form cycles:
reference counting frees each object's records as soon as they are aggregated. The cyclic collector
still walks every live container each time enough of them have been allocated: a large share of
the report's CPU for nothing (figures in docs/performance.md).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block; the collector's previous state is restored after it
    (nested uses are fine: only the outermost one that disabled it enables it again)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
