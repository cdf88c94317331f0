"""Warm handler, 1,000 rows (the default MAX_ROWS): per-row cost and the ratio to scikit-learn.

Same rig as bench.warm_handler_batch, with a body of 1,000 holdout rows (~240 KB, within the
default MAX_BODY_BYTES). No target: the issue asks to report it.
"""

from __future__ import annotations

from bench.core import BenchResult
from bench.suite import Suite
from bench.warm_handler import run_warm

NAME = "warm_handler_batch_1000"
TITLE = "warm handler, 1,000 rows"
ROWS = 1000


def run(suite: Suite) -> BenchResult:
    quick = suite.quick
    return run_warm(
        name=NAME,
        title=TITLE,
        rows=ROWS,
        rounds=6 if quick else 15,
        block=4 if quick else 10,
        breakdown=False,
        target=False,
        profile=0,
    )
