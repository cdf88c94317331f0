"""A model's answer for a batch of rows, one class per kind of model.

Each kind knows the JSON-ready outputs it puts in a response body (`outputs`, in Python lists;
`array_outputs`, the same for an encoder that writes numpy arrays), whether every number it holds
is finite (`finite`) and, when not, which rows are not (`unscorable_rows`). Both kinds also
offer `labels` (the per-row answer) and `probabilities` (a row per input; no columns for a
regressor), which is what the batch consumers of a model read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PYTHON_FINITE_CHECK_MAX_ROWS = 16
"""Up to this many rows the finiteness check sums the Python lists; above, numpy's array."""


class Prediction:
    """A classifier's answer for a batch: one label per row and each row's class probabilities.

    The probabilities come as a float32 matrix (a session run) or as lists already (a bound run);
    each form is built from the other only when asked for."""

    __slots__ = ("_array", "_lists", "labels")

    def __init__(
        self,
        labels: list[Any],
        probabilities: np.ndarray | None = None,
        probability_lists: list[list[float]] | None = None,
    ) -> None:
        self.labels = labels
        self._array = probabilities
        self._lists = probability_lists

    @property
    def probabilities(self) -> np.ndarray:
        if self._array is None:
            self._array = np.asarray(self._lists, dtype=np.float32)
        return self._array

    def probability_lists(self) -> list[list[float]]:
        if self._lists is None:
            self._lists = self.probabilities.tolist()
        return self._lists

    def outputs(self) -> dict[str, Any]:
        """The answer as the response body carries it: "predictions", then "probabilities"
        (each the Python float of its float32 value)."""
        lists = self._lists
        return {
            "predictions": self.labels,
            "probabilities": lists if lists is not None else self.probability_lists(),
        }

    def array_outputs(self) -> dict[str, Any]:
        """`outputs` with the probabilities as a float64 array while no lists were built: what
        orjson writes, with OPT_SERIALIZE_NUMPY, as the same text as `outputs` (`float64_view`)."""
        lists = self._lists
        return {
            "predictions": self.labels,
            "probabilities": lists if lists is not None else float64_view(self.probabilities),
        }

    def finite(self) -> bool:
        """Whether every probability is a finite number (inputs near the float32 limits can
        overflow a pipeline's scaler). Small batches sum the lists; larger ones numpy's array."""
        lists = self._lists
        if lists is not None or len(self.labels) <= PYTHON_FINITE_CHECK_MAX_ROWS:
            total = sum(map(sum, lists if lists is not None else self.probability_lists()))
        else:
            total = float(self.probabilities.sum(dtype=np.float64))
        return total - total == 0.0  # a NaN or an infinity anywhere makes the sum NaN or infinite

    def unscorable_rows(self) -> list[int]:
        """The rows (0-based) with a probability that is NaN or infinite."""
        rows: list[int] = np.flatnonzero(~np.isfinite(self.probabilities).all(axis=1)).tolist()
        return rows


class RegressionPrediction:
    """A regressor's answer for a batch: one number per row, as a float32 vector (a session run) or
    a list already (a bound run); each form is built from the other only when asked for."""

    __slots__ = ("_array", "_list")

    def __init__(self, values: np.ndarray | None = None, value_list: list[float] | None = None) -> None:
        self._array = values
        self._list = value_list

    @property
    def values(self) -> np.ndarray:
        if self._array is None:
            self._array = np.asarray(self._list, dtype=np.float32)
        return self._array

    def value_list(self) -> list[float]:
        """Each row's value as the Python float of its float32 value (as classifiers' probabilities)."""
        if self._list is None:
            self._list = self.values.tolist()
        return self._list

    @property
    def labels(self) -> list[float]:
        """The per-row answer, under the name the batch consumers of a model read."""
        return self.value_list()

    @property
    def probabilities(self) -> np.ndarray:
        """No class probabilities: a row per input and no columns."""
        return np.empty((len(self.value_list()), 0), dtype=np.float32)

    def outputs(self) -> dict[str, Any]:
        """The answer as the response body carries it: "predictions" only."""
        values = self._list
        return {"predictions": values if values is not None else self.value_list()}

    def array_outputs(self) -> dict[str, Any]:
        """`outputs` with the values as a float64 array while no list was built (`float64_view`)."""
        values = self._list
        return {"predictions": values if values is not None else float64_view(self.values)}

    def finite(self) -> bool:
        """Whether every value is a finite number (large inputs can overflow a linear model)."""
        values = self._list
        if values is not None or len(self.values) <= PYTHON_FINITE_CHECK_MAX_ROWS:
            total = sum(values if values is not None else self.value_list())
        else:
            total = float(self.values.sum(dtype=np.float64))
        return total - total == 0.0

    def unscorable_rows(self) -> list[int]:
        """The rows (0-based) whose value is NaN or infinite."""
        rows: list[int] = np.flatnonzero(~np.isfinite(self.values)).tolist()
        return rows


def float64_view(values: np.ndarray) -> np.ndarray:
    """A float32 array's values as a C-contiguous float64 array. A float32's Python float (what
    `tolist` gives, and what the response body has always written) is its float64 value, so an
    encoder given this array writes the digits it writes for those floats; given the float32
    array itself, orjson would write float32's own shorter digits (0.1 for 0.1f, not
    0.10000000149011612)."""
    return np.ascontiguousarray(values, dtype=np.float64)


Answer = Prediction | RegressionPrediction
"""What `OnnxModel.predict` answers, whichever kind of model it runs."""
