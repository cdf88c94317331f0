"""Warm handler, 100 rows: per-row cost and the ratio to scikit-learn at batch 100.

Same rig as bench.warm_handler (the real handler in-process, a real API event), with a body of
100 holdout rows; the baselines are scikit-learn `predict_proba` and a bare `session.run` on the
same 100 rows, measured in the same rounds. No target: the issue asks to report it.
"""

from __future__ import annotations

from bench.core import BenchResult
from bench.suite import Suite
from bench.warm_handler import run_warm

NAME = "warm_handler_batch"
TITLE = "warm handler, 100 rows"
ROWS = 100


def run(suite: Suite) -> BenchResult:
    quick = suite.quick
    return run_warm(
        name=NAME,
        title=TITLE,
        rows=ROWS,
        rounds=8 if quick else 25,
        block=20 if quick else 40,
        breakdown=False,
        target=False,
        profile=0,
    )
