"""Models the tour (and the release tests) release: a better candidate and a deliberately flawed one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from common.layout import METADATA_FILE, MODEL_FILE
from common.model.metadata import ModelMetadata


def train_candidate(output_root: Path, pipeline: str = "random_forest") -> Path:
    """A second model of the same features, trained like the first (same data, other pipeline)."""
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.train import train_model

    return train_model(load_builtin(), build_pipeline(pipeline), output_root=output_root).artifact_dir


def poison(source: Path, metadata: ModelMetadata, output_root: Path) -> Path:
    """`source` with a flaw: correct for its sample rows (so it passes `modelctl publish` and the
    pre-traffic check), but onnxruntime raises for any row whose first feature is negative, which
    the handler answers with HTTP 500 and counts as InternalErrors (Lambda itself sees no error).

    The graph adds a Gather whose index is 1000 for such rows, out of range of a one-element table;
    for every other row it adds 0.0 to the probabilities, so answers are unchanged.
    """
    model = onnx.load(str(source / MODEL_FILE))
    graph = model.graph
    for node in graph.node:
        for index, name in enumerate(node.output):
            if name == metadata.probabilities_output:
                node.output[index] = "probabilities_raw"
    constants = {"p_start": [0], "p_end": [1], "p_axes": [1], "p_far": [1000]}
    graph.initializer.extend(
        numpy_helper.from_array(np.array(v, dtype=np.int64), k) for k, v in constants.items()
    )
    graph.initializer.extend(
        numpy_helper.from_array(np.array([0.0], dtype=np.float32), name) for name in ("p_zero", "p_table")
    )
    graph.node.extend(
        [
            helper.make_node("Slice", [metadata.input_name, "p_start", "p_end", "p_axes"], ["p_x0"]),
            helper.make_node("Less", ["p_x0", "p_zero"], ["p_negative"]),
            helper.make_node("Cast", ["p_negative"], ["p_flag"], to=TensorProto.INT64),
            helper.make_node("Mul", ["p_flag", "p_far"], ["p_index"]),
            helper.make_node("Gather", ["p_table", "p_index"], ["p_out_of_range"], axis=0),
            helper.make_node("Add", ["probabilities_raw", "p_out_of_range"], [metadata.probabilities_output]),
        ]
    )
    data = model.SerializeToString()
    digest = hashlib.sha256(data).hexdigest()
    version = f"m-{digest[:12]}"
    target = output_root / version
    target.mkdir(parents=True, exist_ok=True)
    (target / MODEL_FILE).write_bytes(data)
    document = json.loads((source / METADATA_FILE).read_text())
    document.update(version=version, onnx_sha256=digest, parent_version=metadata.version)
    (target / METADATA_FILE).write_text(json.dumps(document))
    return target


def train_worse(output_root: Path, seed: int = 0) -> Path:
    """A model that is healthy (valid, fast, answers every row) but wrong: trained on the built-in
    data with its labels shuffled, so on ground truth it is near chance. Its baseline check only
    warns (it does not beat its baseline, which is the point)."""
    from dataclasses import replace

    from training.baseline import BaselineSpec
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.train import train_model

    data = load_builtin()
    shuffled = replace(data, y=np.random.default_rng(seed).permutation(data.y))
    result = train_model(
        shuffled,
        build_pipeline("random_forest"),
        output_root=output_root,
        baseline=BaselineSpec(policy="warn"),
    )
    return result.artifact_dir
