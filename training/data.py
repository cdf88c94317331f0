"""Training data: a data set bundled with scikit-learn, or a user's CSV with a target column.

The target is parsed as integers if every value is one, else as floats if every value is a number
(a regression target stays float), else as text labels.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class DataError(ValueError):
    """The training data cannot be used; the message says which file, row or column."""


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    source: str

    def fingerprint(self) -> str:
        """A hash of the exact values, feature order and labels: same data, same fingerprint."""
        digest = hashlib.sha256()
        digest.update("\x1f".join(self.feature_names).encode())
        digest.update(np.ascontiguousarray(self.X, dtype=np.float64).tobytes())
        digest.update("\x1f".join(map(str, self.y.tolist())).encode())
        return "sha256:" + digest.hexdigest()


def load_builtin(name: str = "breast_cancer") -> Dataset:
    """A data set that ships inside scikit-learn: nothing is downloaded. `diabetes` has a
    continuous target (regression); the others have class labels."""
    from sklearn import datasets

    loaders = {
        "breast_cancer": datasets.load_breast_cancer,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "diabetes": datasets.load_diabetes,
    }
    if name not in loaders:
        raise DataError(f"unknown built-in data set {name!r}; choose one of {', '.join(loaders)}")
    bunch = loaders[name]()
    names = [str(n).replace(" ", "_") for n in bunch.feature_names]
    return Dataset(
        X=np.asarray(bunch.data, dtype=np.float64),
        y=np.asarray(bunch.target),
        feature_names=names,
        source=f"sklearn:{name}",
    )


def _parse_label(values: list[str]) -> np.ndarray:
    try:
        return np.asarray([int(v) for v in values])
    except ValueError:
        pass
    try:
        floats = np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return np.asarray(values, dtype=object).astype(str)
    return floats if np.isfinite(floats).all() else np.asarray(values, dtype=object).astype(str)


def load_csv(path: Path, target: str) -> Dataset:
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration as exc:
            raise DataError(f"{path} is empty") from exc
        if target not in header:
            raise DataError(f"{path} has no target column {target!r}; columns are {', '.join(header)}")
        if len(set(header)) != len(header):
            raise DataError(f"{path} has duplicate column names")
        target_index = header.index(target)
        feature_names = [h for i, h in enumerate(header) if i != target_index]
        if not feature_names:
            raise DataError(f"{path} has no feature columns besides {target!r}")
        rows: list[list[float]] = []
        labels: list[str] = []
        for line_number, record in enumerate(reader, start=2):
            if not record or all(not cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                raise DataError(f"{path} line {line_number} has {len(record)} fields, expected {len(header)}")
            row: list[float] = []
            for i, cell in enumerate(record):
                if i == target_index:
                    continue
                row.append(_parse_feature(cell, path, line_number, header[i]))
            label = record[target_index].strip()
            if not label:
                raise DataError(f"{path} line {line_number} has no value for target {target!r}")
            rows.append(row)
            labels.append(label)
    if len(rows) < 10:
        raise DataError(f"{path} has {len(rows)} data rows; at least 10 are needed to train and hold out")
    y = _parse_label(labels)
    if len(np.unique(y)) < 2:
        raise DataError(
            f"{path} target {target!r} has a single class (one value); a model needs at least two"
        )
    return Dataset(
        X=np.asarray(rows, dtype=np.float64), y=y, feature_names=feature_names, source=f"csv:{path}"
    )


def _parse_feature(cell: str, path: Path, line_number: int, column: str) -> float:
    text = cell.strip()
    try:
        value = float(text)
    except ValueError as exc:
        shown = repr(text) if text else "an empty cell"
        raise DataError(
            f"{path} line {line_number} column {column!r} has {shown}: features must be numbers "
            "(encode categories and fill missing values before training)"
        ) from exc
    if not math.isfinite(value):
        raise DataError(f"{path} line {line_number} column {column!r} is not finite ({text})")
    return value


def label_values(y: np.ndarray) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in y]
