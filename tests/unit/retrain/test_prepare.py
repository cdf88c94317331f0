"""Prepare: feedback rows that cannot be used are counted, the holdout split is stable and fair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from retrain.prepare import collect_feedback, in_feedback_holdout, split_base
from training.data import load_builtin


@dataclass(frozen=True)
class Row:
    request_id: str
    row: int
    features: list[float]
    label: Any


def test_unusable_feedback_rows_are_counted_not_used() -> None:
    base = load_builtin()
    good = list(base.X[0])
    rows = [
        Row("a", 0, good, 1),
        Row("b", 0, good, "1"),  # the label as text still names class 1
        Row("c", 0, good[:-1], 1),
        Row("d", 0, good, 7),
        Row("e", 0, [float("nan"), *good[1:]], 0),
    ]
    feedback = collect_feedback(rows, base, 0.25)
    assert feedback.y == [1, 1]
    assert feedback.X.shape == (2, 30)
    assert feedback.skipped == {"feature_count": 1, "unknown_label": 1, "not_finite": 1, "without_inputs": 0}


def test_the_feedback_holdout_depends_only_on_request_and_row() -> None:
    picks = [in_feedback_holdout(f"req-{i}", 0, 0.25) for i in range(4000)]
    assert picks == [in_feedback_holdout(f"req-{i}", 0, 0.25) for i in range(4000)]
    assert 0.22 < sum(picks) / len(picks) < 0.28


def test_the_base_holdout_is_the_rows_the_first_model_never_saw(
    trained_model: tuple[Any, Any],
) -> None:
    from sklearn.model_selection import train_test_split

    _, metadata = trained_model
    base = load_builtin()
    info = metadata.training_data
    _, holdout = split_base(base, info["test_size"], info["seed"])
    _, X_test, _, _ = train_test_split(
        base.X, base.y, test_size=info["test_size"], random_state=info["seed"], stratify=base.y
    )
    assert sorted(map(tuple, base.X[holdout])) == sorted(map(tuple, np.asarray(X_test)))


def test_a_regressors_feedback_labels_are_finite_numbers() -> None:
    base = load_builtin("diabetes")
    good = list(base.X[0])
    rows = [
        Row("a", 0, good, 151.5),
        Row("b", 0, good, "75"),  # number text is a number
        Row("c", 0, good, "tall"),
        Row("d", 0, good, True),  # a boolean is not a measurement
        Row("e", 0, good, float("inf")),
        Row("f", 0, good[:-1], 3.0),
        Row("g", 0, [float("nan"), *good[1:]], 3.0),
    ]
    feedback = collect_feedback(rows, base, 0.25, task="regression")
    assert feedback.y == [151.5, 75.0]
    assert feedback.skipped == {"feature_count": 1, "not_a_number": 3, "not_finite": 1, "without_inputs": 0}


def test_a_regressors_base_holdout_is_the_unstratified_split_of_training(tmp_path: Any) -> None:
    from training.pipelines import build_pipeline
    from training.train import train_model

    base = load_builtin("diabetes")
    metadata = train_model(base, build_pipeline("ridge"), output_root=tmp_path).metadata
    info = metadata.training_data
    assert info["stratified"] is False
    train, holdout = split_base(base, info["test_size"], info["seed"], task="regression")
    assert len(holdout) == info["holdout_rows"] and len(train) == info["train_rows"]
    assert sorted(set(train) | set(holdout)) == list(range(len(base.y)))
    # the rows the model's own sample rows came from are holdout rows
    sample = np.asarray(metadata.sample_rows, dtype=np.float32)
    holdout_rows = {tuple(row) for row in base.X[holdout].astype(np.float32)}
    assert all(tuple(row) in holdout_rows for row in sample)
