"""Warm handler, regressors beside classifiers: 1 and 100 rows, in the same rounds.

    python -m bench.warm_handler_regression [--quick]

The real `inference.handler.handler` runs in this process once per model (one fresh import each,
lines to /dev/null). The models are trained here, in a temporary directory, with
`training.train.train_model`: two classifiers on breast_cancer (30 features) and two regressors on
diabetes (10 features), a linear model and a 100-tree forest of each kind. Each handler gets a real
API Gateway REST proxy event of its own holdout rows; beside it, the model's bare `session.run` on
the same rows. All candidates of one row count are interleaved round by round
(bench.core.time_interleaved), so their medians are comparable. The data sets differ in width and
the forests in depth, so the figure to compare across kinds is the handler's cost above its own
model's run ("overhead").
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from bench.core import BenchResult, Candidate, Measurement, log, now_iso, time_interleaved
from bench.inprocess import BenchContext, devnull, load_handler, predict_event
from bench.suite import Suite

NAME = "warm_handler_regression"
TITLE = "warm handler, regressors beside classifiers"
MODELS = {
    "logistic_regression": "breast_cancer",
    "random_forest": "breast_cancer",
    "ridge": "diabetes",
    "random_forest_regressor": "diabetes",
}
"""pipeline -> the built-in data set it is trained on."""
ROW_COUNTS = (1, 100)


def _artifacts(root: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """pipeline -> (artifact directory, float32 holdout rows), each model trained now."""
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.task import split_holdout, target_for, task_of
    from training.train import train_model

    found = {}
    for pipeline, dataset in MODELS.items():
        data, estimator = load_builtin(dataset), build_pipeline(pipeline)
        task = task_of(estimator)
        result = train_model(data, estimator, output_root=root)
        info = result.metadata.training_data
        split = split_holdout(
            data.X, target_for(task, data.y), task=task, test_size=info["test_size"], seed=info["seed"]
        )
        found[pipeline] = (result.artifact_dir, np.asarray(split.X_test, dtype=np.float32))
    return found


def _handler_call(module: ModuleType, rows: np.ndarray) -> Any:
    """The handler's call on an event of `rows`, checked to answer 200 first."""
    event, context = predict_event(rows.tolist()), BenchContext()
    handler = module.handler
    answer = handler(event, context)
    if answer.get("statusCode") != 200:
        raise RuntimeError(f"the handler answered {answer!r}")
    return lambda: handler(event, context)


def _session_call(module: ModuleType, rows: np.ndarray) -> Any:
    """The model's own session.run on a ready float32 array of `rows`."""
    model = module.service.model
    session, outputs, feed = model.session, list(model._outputs), {model._input_name: rows}
    return lambda: session.run(outputs, feed)


def measure(*, rounds: int, block: int, row_counts: tuple[int, ...] = ROW_COUNTS) -> BenchResult:
    started = time.monotonic()
    sink = devnull()
    measurements: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="bench-regression-") as root:
        artifacts = _artifacts(Path(root))
        with contextlib.redirect_stdout(sink):
            models = {name: (load_handler(path, sink), X) for name, (path, X) in artifacts.items()}
            for rows in row_counts:
                batches = {
                    name: np.ascontiguousarray(np.tile(X, (rows, 1))[:rows])
                    for name, (_, X) in models.items()
                }
                candidates = []
                for name, (module, _) in models.items():
                    candidates.append(Candidate(f"{name}_{rows}", _handler_call(module, batches[name])))
                    candidates.append(Candidate(f"{name}_{rows}_run", _session_call(module, batches[name])))
                log(f"{NAME}: {len(candidates)} candidates x {rounds} rounds x {block} calls, {rows} rows")
                timings = time_interleaved(candidates, rounds=rounds, block=block)
                for name in models:
                    handler = timings[f"{name}_{rows}"].summary()
                    run = timings[f"{name}_{rows}_run"].summary()
                    overhead = handler.median - run.median
                    measurements.append(
                        Measurement(
                            key=f"{name}_{rows}",
                            what=f"warm handler, {name}, {rows} row{'s' if rows > 1 else ''}",
                            unit="us",
                            samples=handler.samples,
                            median=handler.median,
                            p99=handler.p99,
                            note=f"session.run {run.median:.1f} us, overhead {overhead:.1f} us",
                            extra={"session_run_us": run.median, "overhead_us": overhead},
                        )
                    )
    return BenchResult(
        name=NAME,
        title=TITLE,
        status="ok",
        measurements=tuple(measurements),
        details={"models": MODELS, "rounds": rounds, "block": block},
        wall_s=time.monotonic() - started,
        measured_at=now_iso(),
    )


def run(suite: Suite) -> BenchResult:
    return measure(rounds=8 if suite.quick else 30, block=50 if suite.quick else 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    result = run(Suite(quick=args.quick))
    for m in result.measurements:
        print(f"{m.what:<55} median {m.median:8.1f} us  p99 {m.p99:8.1f} us  {m.note}")


if __name__ == "__main__":
    main()
