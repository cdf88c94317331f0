"""scikit-learn classifier -> ONNX, and the parity check that guards every artifact we write.

Regressors have their own export and parity rule in training.export_regression; both share the
input name, the float32 input and the error classes defined here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from training.pipelines import describe

INPUT_NAME = "input"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
PROBABILITY_TOLERANCE = 1e-5
KNOWN_TO_CONVERT = (
    "LogisticRegression, RandomForestClassifier, GradientBoostingClassifier, "
    "ExtraTreesClassifier, DecisionTreeClassifier, SVC(probability=True), MLPClassifier"
)


class ConversionError(RuntimeError):
    """skl2onnx cannot convert the pipeline."""


class ParityError(RuntimeError):
    """The ONNX model does not answer like the scikit-learn pipeline it came from."""


@dataclass(frozen=True)
class ParityReport:
    rows: int
    labels_equal: bool
    label_mismatches: int
    max_abs_probability_diff: float
    tolerance: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "labels_equal": self.labels_equal,
            "label_mismatches": self.label_mismatches,
            "max_abs_probability_diff": self.max_abs_probability_diff,
            "tolerance": self.tolerance,
        }


def to_onnx_bytes(estimator: Any, n_features: int) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    try:
        model = convert_sklearn(
            estimator,
            initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
            options={id(estimator): {"zipmap": False}}
            if not hasattr(estimator, "steps")
            else {id(estimator.steps[-1][1]): {"zipmap": False}},
        )
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(
            f"skl2onnx cannot convert {describe(estimator)}: {type(exc).__name__}: {first_line[:300]}. "
            f"Use a model type that converts (known to work: {KNOWN_TO_CONVERT})."
        ) from exc
    model.graph.name = "model"  # skl2onnx names graphs with a random UUID; versions hash the bytes
    outputs = [o.name for o in model.graph.output]
    if outputs != [LABEL_OUTPUT, PROBABILITIES_OUTPUT]:
        raise ConversionError(
            f"the converted model has outputs {outputs}, expected ['label', 'probabilities']; "
            "is the final step a classifier with predict_proba?"
        )
    return bytes(model.SerializeToString())


def check_parity(estimator: Any, onnx_bytes: bytes, X: np.ndarray) -> ParityReport:
    """Compare labels and probabilities on `X` (as float32, which is what serving sees)."""
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    onnx_labels, onnx_probabilities = session.run([LABEL_OUTPUT, PROBABILITIES_OUTPUT], {INPUT_NAME: X32})
    sk_input = X32.astype(np.float64)
    sk_labels = estimator.predict(sk_input)
    sk_probabilities = estimator.predict_proba(sk_input)
    mismatches = int(np.sum(np.asarray(onnx_labels).astype(str) != np.asarray(sk_labels).astype(str)))
    max_diff = float(np.max(np.abs(onnx_probabilities.astype(np.float64) - sk_probabilities)))
    return ParityReport(
        rows=len(X32),
        labels_equal=mismatches == 0,
        label_mismatches=mismatches,
        max_abs_probability_diff=max_diff,
        tolerance=PROBABILITY_TOLERANCE,
    )


def require_parity(report: ParityReport) -> None:
    problems = []
    if not report.labels_equal:
        problems.append(f"{report.label_mismatches} of {report.rows} holdout labels differ")
    if not report.max_abs_probability_diff <= report.tolerance:
        problems.append(
            f"probabilities differ by up to {report.max_abs_probability_diff:.3g} "
            f"(tolerance {report.tolerance:g})"
        )
    if problems:
        raise ParityError(
            "the ONNX model does not match scikit-learn on the holdout, so no artifact was written: "
            + "; ".join(problems)
        )
