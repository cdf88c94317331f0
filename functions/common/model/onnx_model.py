"""An ONNX model served on Lambda: one session per process, one `predict` for any batch size.

`predict` answers the prediction of the artifact's kind of model (common.model.prediction): a
classifier's carries the class probabilities beside the labels, a regressor's one number per row.
Callers that only pass the outputs on (the inference service) never name either.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from common.layout import MODEL_FILE
from common.model.metadata import MetadataError, ModelMetadata, read_metadata
from common.model.prediction import Answer, Prediction, RegressionPrediction


class ModelLoadError(RuntimeError):
    """The artifact cannot be served: corrupt file, hash mismatch or inputs that do not match."""


def make_session_options() -> ort.SessionOptions:
    """One intra-op thread and no spinning: a Lambda invocation serves one request at a time, and
    spinning threads burn the CPU share that the next request needs."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class OnnxModel:
    """Runs one model artifact. Created once per process; `predict` is the hot path."""

    def __init__(self, session: ort.InferenceSession, metadata: ModelMetadata) -> None:
        self.session = session
        self.metadata = metadata
        self.version = metadata.version
        self._input_name = metadata.input_name
        self.regression = metadata.task == "regression"
        self._outputs = (
            [metadata.label_output]
            if self.regression
            else [metadata.label_output, metadata.probabilities_output]
        )
        self._check_signature()
        self._run = _direct_run(session)
        self._bound: dict[int, BoundBatch | None] = {}
        self._bound_lock = threading.Lock()

    @classmethod
    def load(cls, model_dir: Path, *, verify_hash: bool = True) -> OnnxModel:
        try:
            metadata = read_metadata(model_dir)
        except MetadataError as exc:
            raise ModelLoadError(str(exc)) from exc
        model_path = model_dir / MODEL_FILE
        if not model_path.is_file():
            raise ModelLoadError(f"{model_path} does not exist")
        if verify_hash:
            actual = sha256_file(model_path)
            if actual != metadata.onnx_sha256:
                raise ModelLoadError(
                    f"{model_path} has sha256 {actual}, but its metadata records "
                    f"{metadata.onnx_sha256}: the artifact was modified after it was written"
                )
        try:
            session = ort.InferenceSession(
                str(model_path), sess_options=make_session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad graphs
            raise ModelLoadError(f"onnxruntime cannot load {model_path}: {exc}") from exc
        return cls(session, metadata)

    def _check_signature(self) -> None:
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != self._input_name:
            names = [i.name for i in inputs]
            raise ModelLoadError(f"model inputs {names} do not match metadata input {self._input_name!r}")
        shape = inputs[0].shape
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != self.metadata.n_features):
            raise ModelLoadError(
                f"model input shape {shape} does not take {self.metadata.n_features} features"
            )
        if inputs[0].type != "tensor(float)":
            raise ModelLoadError(f"model input type {inputs[0].type} is not tensor(float)")
        outputs = {o.name: o for o in self.session.get_outputs()}
        missing = [name for name in self._outputs if name not in outputs]
        if missing:
            raise ModelLoadError(f"model has no outputs named {missing} (has {sorted(outputs)})")
        if self.regression:
            shape = outputs[self._outputs[0]].shape
            if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
                raise ModelLoadError(
                    f"regression output {self._outputs[0]!r} has shape {shape}: serving takes one "
                    "value per row"
                )

    def predict(self, rows: np.ndarray) -> Answer:
        """The model's answer for a float32 matrix of rows. Small C-contiguous batches go through
        a run bound to preallocated buffers (`BoundBatch`) when this model and onnxruntime allow
        one and no other thread holds it; any other batch through the session's run."""
        count = len(rows)
        if count <= BOUND_BATCH_MAX and rows.dtype is _FLOAT32:
            bound = self._bound.get(count, _UNBOUND)
            if bound is _UNBOUND:
                bound = self._bound[count] = BoundBatch.create(self, count)
            try:
                packed = rows.data.cast("B")
            except TypeError:  # not C-contiguous
                bound = None
            if bound is not None and self._bound_lock.acquire(blocking=False):
                try:
                    answer: Answer = bound.run(packed)
                finally:
                    self._bound_lock.release()
                return answer
        return self._session_predict(rows)

    def _session_predict(self, rows: np.ndarray) -> Answer:
        return self._answer(self._run(self._outputs, {self._input_name: rows}))

    def _answer(self, outputs: list[np.ndarray]) -> Answer:
        if self.regression:
            return RegressionPrediction(outputs[0].reshape(-1))
        labels, probabilities = outputs
        return Prediction(labels.tolist(), probabilities)


RunFunction = Callable[[list[str], dict[str, np.ndarray]], list[np.ndarray]]


def _direct_run(session: ort.InferenceSession) -> RunFunction:
    """The session's native `run`, without the Python wrapper's per-call checks (a large share
    of a one-row call; docs/performance.md). What the wrapper checks is fixed for this session and
    checked once in `_check_signature` (input and output names); its fallback to another execution
    provider on failure does not apply to the CPU provider alone. If a future onnxruntime renames
    the native session attribute, the public `run` is used."""
    native = getattr(session, "_sess", None)
    native_run = getattr(native, "run", None)
    if native_run is None or session.get_providers() != ["CPUExecutionProvider"]:
        public: RunFunction = session.run
        return public

    def run(outputs: list[str], feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        result: list[np.ndarray] = native_run(outputs, feed, None)  # as the wrapper calls it
        return result

    return run


BOUND_BATCH_MAX = 16
"""Row counts up to this get a bound run of their own (a few hundred bytes of buffers each)."""


class BoundBatch:
    """One batch size's run with its input and outputs bound to preallocated buffers
    (onnxruntime's IOBinding): no per-call tensor allocation and no numpy arrays built around
    the outputs (a large share of a one-row run; docs/performance.md). The input is copied into
    its buffer with one memory copy. Used under `OnnxModel`'s lock: the buffers are shared.
    A classifier binds its int64 labels and float32 probabilities, a regressor its float32 values
    (read through a flat view of the (rows, 1) buffer)."""

    def __init__(
        self, run: Callable[[], None], inputs: memoryview, outputs: list[np.ndarray], *, regression: bool
    ) -> None:
        self._keep: object = None
        self._run = run
        self._inputs = inputs
        self._first = outputs[0].reshape(-1) if regression else outputs[0]
        self._second = outputs[-1]  # a classifier's probabilities (unused for a regressor)
        self._regression = regression

    @classmethod
    def create(cls, model: OnnxModel, rows: int) -> BoundBatch | None:
        """The bound run for `rows` rows, or None when this model or onnxruntime cannot have one
        (outputs of other types than an int64 label vector and a float32 probability matrix, or a
        regressor's float32 values; no IOBinding; another provider than the CPU's), the model fails
        on the probe rows, or it does not answer exactly as `predict`."""
        session = model.session
        types = {output.name: output.type for output in session.get_outputs()}
        wanted = ["tensor(float)"] if model.regression else ["tensor(int64)", "tensor(float)"]
        native: Any = getattr(session, "_sess", None)
        if (
            [types.get(name) for name in model._outputs] != wanted
            or session.get_providers() != ["CPUExecutionProvider"]
            or not hasattr(native, "run_with_iobinding")
        ):
            return None
        probe = np.linspace(-1.0, 1.0, rows * model.metadata.n_features, dtype=np.float32)
        probe = probe.reshape(rows, model.metadata.n_features)
        quiet = ort.RunOptions()
        quiet.log_severity_level = 4  # a model failing on the probe rows is not an error to log
        try:
            expected = model._answer(session.run(model._outputs, {model._input_name: probe}, quiet))
        except Exception:  # a model that fails on the probe rows: every batch takes the session's run
            return None
        try:
            inputs = np.zeros_like(probe)
            outputs: list[np.ndarray]
            if isinstance(expected, RegressionPrediction):
                outputs = [np.zeros((rows, 1), dtype=np.float32)]
            else:
                outputs = [np.zeros(rows, dtype=np.int64), np.zeros_like(expected.probabilities)]
            values = [ort.OrtValue.ortvalue_from_numpy(array) for array in (inputs, *outputs)]
            binding = session.io_binding()
            binding.bind_ortvalue_input(model._input_name, values[0])
            for name, value in zip(model._outputs, values[1:], strict=True):
                binding.bind_ortvalue_output(name, value)
            native_binding = binding._iobinding
            run_with_iobinding = native.run_with_iobinding

            def run_bound() -> None:
                run_with_iobinding(native_binding, None)

            bound = cls(run_bound, memoryview(inputs.data).cast("B"), outputs, regression=model.regression)
            bound._keep = (binding, values)  # the buffers the native binding points into stay alive
            answer = bound.run(memoryview(probe.tobytes()))
        except Exception:  # an onnxruntime without these internals: use predict
            return None
        if answer.outputs() != expected.outputs():
            return None
        return bound

    def run(self, packed: memoryview) -> Answer:
        """The prediction, its outputs as lists, for rows given as their float32 values' bytes."""
        self._inputs[:] = packed
        self._run()
        if self._regression:
            return RegressionPrediction(None, self._first.tolist())
        return Prediction(self._first.tolist(), None, self._second.tolist())


_UNBOUND: Any = object()
_FLOAT32 = np.dtype(np.float32)
