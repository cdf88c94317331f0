"""scikit-learn regressor -> ONNX, and the regression parity rule.

The graph takes the same float32 input as a classifier's (`input`, n features) and has one output,
PREDICTION_OUTPUT, of shape (n, 1) and type float32.

Preprocessing runs in float64 inside the graph, as scikit-learn runs it: the graph casts the float32
input to float64, applies every step before the final estimator in float64, then casts to float32
for the final estimator. Tree ensembles compare float32 values with their thresholds in scikit-learn
too, so a scaled value that float32 arithmetic would have rounded across a threshold lands on the
same side in both. A pipeline whose preprocessing has no float64 converter is exported in float32
throughout; parity then decides whether it is kept.

Parity: for every holdout row, |y_onnx - y_sklearn| <= RELATIVE_TOLERANCE x max(1, |y_sklearn|).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from training.export import INPUT_NAME, ConversionError, ParityError
from training.pipelines import describe

PREDICTION_OUTPUT = "variable"
RELATIVE_TOLERANCE = 1e-5
KNOWN_TO_CONVERT = (
    "LinearRegression, Ridge, Lasso, ElasticNet, SVR, KNeighborsRegressor, DecisionTreeRegressor, "
    "RandomForestRegressor, ExtraTreesRegressor, GradientBoostingRegressor, behind a scaler or not"
)


@dataclass(frozen=True)
class RegressionParityReport:
    rows: int
    max_abs_diff: float
    max_rel_diff: float
    """max over rows of |y_onnx - y_sklearn| / max(1, |y_sklearn|): the figure held to the tolerance."""
    worst_row: int
    """Position in the holdout of the row with the largest relative difference."""
    worst_onnx: float
    worst_sklearn: float
    tolerance: float
    worst_data_row: int | None = None
    """That row's index in the training data, when the caller said which data rows X holds."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "worst_row": self.worst_row,
            "tolerance": self.tolerance,
        }


def to_onnx_bytes(estimator: Any, n_features: int) -> bytes:
    """The fitted regressor as ONNX: float32 `input` in, one float32 PREDICTION_OUTPUT of shape (n, 1)."""
    steps = getattr(estimator, "steps", None)
    if steps and len(steps) > 1:
        try:
            return _convert(_float64_preprocessing(estimator), n_features, describe(estimator))
        except ConversionError:
            pass  # a preprocessing step without a float64 converter: export in float32 throughout
    return _convert(estimator, n_features, describe(estimator))


def _float64_preprocessing(pipeline: Any) -> Any:
    """A conversion-only copy of the fitted pipeline with casts around its preprocessing steps.

    The casts change nothing in scikit-learn (its input is already float64 and the final estimator
    receives what it would anyway); they tell skl2onnx which precision to compute each part in.
    """
    from skl2onnx.sklapi import CastTransformer
    from sklearn.pipeline import Pipeline

    sample = np.zeros((1, 1))
    to_float64 = CastTransformer(dtype=np.float64).fit(sample)
    to_float32 = CastTransformer(dtype=np.float32).fit(sample)
    *preprocessing, last = pipeline.steps
    return Pipeline([("to_float64", to_float64), *preprocessing, ("to_float32", to_float32), last])


def _convert(estimator: Any, n_features: int, described: str) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    try:
        model = convert_sklearn(
            estimator,
            initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
            final_types=[(PREDICTION_OUTPUT, FloatTensorType([None, 1]))],
        )
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(
            f"skl2onnx cannot convert {described}: {type(exc).__name__}: {first_line[:300]}. "
            f"Use a model type that converts (known to work: {KNOWN_TO_CONVERT})."
        ) from exc
    model.graph.name = "model"  # skl2onnx names graphs with a random UUID; versions hash the bytes
    outputs = [o.name for o in model.graph.output]
    if outputs != [PREDICTION_OUTPUT]:
        raise ConversionError(
            f"the converted model has outputs {outputs}, expected [{PREDICTION_OUTPUT!r}]; "
            "is the final step a single-output regressor?"
        )
    return bytes(model.SerializeToString())


def onnx_predictions(onnx_bytes: bytes, X: np.ndarray) -> np.ndarray:
    """The ONNX model's predictions for `X` (sent as float32, as serving sends it), one per row."""
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    (output,) = session.run([PREDICTION_OUTPUT], {INPUT_NAME: np.ascontiguousarray(X, dtype=np.float32)})
    return np.asarray(output, dtype=np.float64).reshape(len(X), -1)[:, 0]


def check_parity(
    estimator: Any, onnx_bytes: bytes, X: np.ndarray, data_rows: np.ndarray | None = None
) -> RegressionParityReport:
    """Compare predictions on `X` (at least one row) row by row, both models given the float32
    values serving sees."""
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    onnx_y = onnx_predictions(onnx_bytes, X32)
    sk_y = np.asarray(estimator.predict(X32.astype(np.float64)), dtype=np.float64).reshape(-1)
    abs_diff = np.abs(onnx_y - sk_y)
    rel_diff = abs_diff / np.maximum(1.0, np.abs(sk_y))
    rel_diff = np.where(np.isnan(rel_diff), np.inf, rel_diff)  # a NaN answer is the worst row
    worst = int(np.argmax(rel_diff))
    return RegressionParityReport(
        rows=len(X32),
        max_abs_diff=float(np.max(np.where(np.isnan(abs_diff), np.inf, abs_diff))),
        max_rel_diff=float(rel_diff[worst]),
        worst_row=worst,
        worst_onnx=float(onnx_y[worst]),
        worst_sklearn=float(sk_y[worst]),
        tolerance=RELATIVE_TOLERANCE,
        worst_data_row=None if data_rows is None else int(data_rows[worst]),
    )


def require_parity(report: RegressionParityReport) -> None:
    if report.max_rel_diff <= report.tolerance:
        return
    bound = report.tolerance * max(1.0, abs(report.worst_sklearn))
    data_row = "" if report.worst_data_row is None else f" (data row {report.worst_data_row})"
    raise ParityError(
        "the ONNX model does not match scikit-learn on the holdout, so no artifact was written: "
        f"worst is holdout row {report.worst_row}{data_row}, ONNX {report.worst_onnx!r} vs scikit-learn "
        f"{report.worst_sklearn!r}, |diff| {abs(report.worst_onnx - report.worst_sklearn):.6g} > bound "
        f"{bound:.6g} ({report.tolerance:g} x max(1, |y_sklearn|))"
    )
