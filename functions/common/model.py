"""An ONNX classifier tuned for single-request latency on Lambda."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from common.layout import MODEL_FILE
from common.metadata import MetadataError, ModelMetadata, read_metadata


class ModelLoadError(RuntimeError):
    """The artifact cannot be served: corrupt file, hash mismatch or inputs that do not match."""


@dataclass(slots=True)
class Prediction:
    labels: list[Any]
    probabilities: np.ndarray


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


class OnnxClassifier:
    """Runs one model artifact. Created once per process; `predict` is the hot path."""

    def __init__(self, session: ort.InferenceSession, metadata: ModelMetadata) -> None:
        self.session = session
        self.metadata = metadata
        self.version = metadata.version
        self._input_name = metadata.input_name
        self._outputs = [metadata.label_output, metadata.probabilities_output]
        self._check_signature()
        self._run = _direct_run(session)
        self._bound: dict[int, BoundBatch | None] = {}
        self._bound_lock = threading.Lock()

    @classmethod
    def load(cls, model_dir: Path, *, verify_hash: bool = True) -> OnnxClassifier:
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
        output_names = {o.name for o in self.session.get_outputs()}
        missing = [name for name in self._outputs if name not in output_names]
        if missing:
            raise ModelLoadError(f"model has no outputs named {missing} (has {sorted(output_names)})")

    def predict(self, rows: np.ndarray) -> Prediction:
        labels, probabilities = self._run(self._outputs, {self._input_name: rows})
        return Prediction(labels=labels.tolist(), probabilities=probabilities)

    def predict_packed(self, packed: bytes, rows: int) -> tuple[list[Any], list[list[float]]] | None:
        """(labels, probabilities) as lists, for `rows` rows given as float32 values packed in
        this machine's byte order (what `array("f")` holds): what `predict` answers for the same
        rows, through a run bound to preallocated buffers. None when no such run serves this
        many rows, or another thread is using it: the caller then uses `predict`."""
        bound = self._bound.get(rows, _UNBOUND) if rows <= BOUND_BATCH_MAX else None
        if bound is _UNBOUND:
            bound = self._bound[rows] = BoundBatch.create(self, rows)
        if bound is None or not self._bound_lock.acquire(blocking=False):
            return None
        try:
            answer: tuple[list[Any], list[list[float]]] = bound.run(packed)
            return answer
        finally:
            self._bound_lock.release()


RunFunction = Callable[[list[str], dict[str, np.ndarray]], list[np.ndarray]]


def _direct_run(session: ort.InferenceSession) -> RunFunction:
    """The session's native `run`, without the Python wrapper's per-call checks: ~5 us of a
    15 us call at one row. What the wrapper checks is fixed for this session and checked once in
    `_check_signature` (input and output names); its fallback to another execution provider on
    failure does not apply to the CPU provider alone. If a future onnxruntime renames the native
    session attribute, the public `run` is used."""
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
    """One batch size's run with its input and both outputs bound to preallocated buffers
    (onnxruntime's IOBinding): no per-call tensor allocation and no numpy arrays built around
    the outputs, ~5 us of a ~15 us run at one row. The input is copied into its buffer with one
    memory copy. Used under `OnnxClassifier`'s lock: the buffers are shared."""

    def __init__(
        self, run: Callable[[], None], inputs: memoryview, labels: np.ndarray, probabilities: np.ndarray
    ) -> None:
        self._keep: object = None
        self._run = run
        self._inputs = inputs
        self._labels = labels
        self._probabilities = probabilities

    @classmethod
    def create(cls, model: OnnxClassifier, rows: int) -> BoundBatch | None:
        """The bound run for `rows` rows, or None when this model or onnxruntime cannot have one
        (outputs that are not an int64 label vector and a float32 probability matrix, no
        IOBinding, another provider than the CPU's) or it does not answer exactly as `predict`."""
        session = model.session
        types = {output.name: output.type for output in session.get_outputs()}
        label_name, probabilities_name = model._outputs
        native: Any = getattr(session, "_sess", None)
        if (
            types.get(label_name) != "tensor(int64)"
            or types.get(probabilities_name) != "tensor(float)"
            or session.get_providers() != ["CPUExecutionProvider"]
            or not hasattr(native, "run_with_iobinding")
        ):
            return None
        probe = np.linspace(-1.0, 1.0, rows * model.metadata.n_features, dtype=np.float32)
        probe = probe.reshape(rows, model.metadata.n_features)
        expected = model.predict(probe)
        try:
            inputs = np.zeros_like(probe)
            labels = np.zeros(rows, dtype=np.int64)
            probabilities = np.zeros_like(expected.probabilities, dtype=np.float32)
            values = [ort.OrtValue.ortvalue_from_numpy(array) for array in (inputs, labels, probabilities)]
            binding = session.io_binding()
            binding.bind_ortvalue_input(model._input_name, values[0])
            binding.bind_ortvalue_output(label_name, values[1])
            binding.bind_ortvalue_output(probabilities_name, values[2])
            native_binding = binding._iobinding
            run_with_iobinding = native.run_with_iobinding

            def run_bound() -> None:
                run_with_iobinding(native_binding, None)

            bound = cls(run_bound, memoryview(inputs.data).cast("B"), labels, probabilities)
            bound._keep = (binding, values)  # the buffers the native binding points into stay alive
            answer = bound.run(probe.tobytes())
        except Exception:  # an onnxruntime without these internals: use predict
            return None
        if answer != (expected.labels, expected.probabilities.tolist()):
            return None
        return bound

    def run(self, packed: bytes) -> tuple[list[Any], list[list[float]]]:
        self._inputs[:] = packed
        self._run()
        return self._labels.tolist(), self._probabilities.tolist()


_UNBOUND: Any = object()
