"""The shadow function with regressors: mirrored rows scored by a regression candidate become records
with the live and the shadow numbers per row (no probabilities), and a candidate of the other task
than the live model's is a message that cannot be scored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.mirror.message import LiveResult, encode_messages
from common.mirror.record import encode_jsonl_gz, iter_jsonl_gz
from common.model.metadata import ModelMetadata
from common.model.onnx_model import OnnxModel
from tests.helpers import FakeLambdaContext
from tests.unit.shadow.test_shadow_consumer import Models, Sink, Writer, consumer, event


@pytest.fixture(scope="module")
def regressor(tmp_path_factory: pytest.TempPathFactory) -> OnnxModel:
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.train import train_model

    root = tmp_path_factory.mktemp("shadow_regressor")
    result = train_model(load_builtin("diabetes"), build_pipeline("ridge"), output_root=root)
    return OnnxModel.load(result.artifact_dir)


def regression_body(live: OnnxModel, request_id: str, rows: np.ndarray, candidate: str) -> str:
    prediction = live.predict(rows)
    (text,) = encode_messages(
        request_id=request_id,
        timestamp="2026-01-02T13:04:05.678Z",
        candidate_model_version=candidate,
        inputs=rows,
        live=LiveResult(live.version, "1", prediction.labels, [], 0.05),
    )
    return text


def test_a_regression_candidate_scores_mirrored_rows_into_numeric_records(regressor: OnnxModel) -> None:
    rows = np.asarray(regressor.metadata.sample_rows[:3], dtype=np.float32)
    shadow, writer, sink = consumer(regressor)
    response = shadow.handle(
        event(regression_body(regressor, "r1", rows, regressor.version)),
        FakeLambdaContext("shadow", "$LATEST"),
    )
    assert response == {"batchItemFailures": []}
    ((record,),) = writer.batches
    expected = regressor.predict(rows).labels
    assert record.shadow is not None
    assert record.shadow.predictions == expected and record.shadow.probabilities == []
    assert record.message.live.predictions == expected
    (line,) = iter_jsonl_gz(encode_jsonl_gz([record]))
    for side in ("live", "shadow"):
        assert line[side]["probabilities"] == []
        assert all(type(v) is float for v in line[side]["predictions"])
        assert line[side]["inference_ms"] >= 0
    assert line["shadow"]["predictions"] == expected
    # No label disagreements are counted for numbers (the report measures their differences).
    assert sink.metrics == {"ShadowRecordsWritten": 1, "ShadowRowsScored": 3, "ShadowLabelDisagreements": 0}


def test_a_candidate_of_the_other_task_is_a_message_that_cannot_be_scored(
    regressor: OnnxModel, trained_model: tuple[Path, ModelMetadata]
) -> None:
    classifier = OnnxModel.load(trained_model[0])
    rows = np.asarray(regressor.metadata.sample_rows[:1], dtype=np.float32)
    writer, sink = Writer(), Sink()
    from shadow.consumer import ShadowConsumer

    shadow = ShadowConsumer(models=Models(classifier), writer=writer, logger=sink, metrics=sink)
    wide = np.zeros((1, classifier.metadata.n_features), dtype=np.float32)
    response = shadow.handle(
        event(
            regression_body(regressor, "r", rows, classifier.version),  # 10 features for 30
            _regression_message_for(classifier, wide, live_version=regressor.version),
        ),
        FakeLambdaContext(),
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": "msg-0"}, {"itemIdentifier": "msg-1"}]}
    assert sink.metrics == {"ShadowMalformedMessages": 2}
    reasons = [extra["reason"] for level, _, extra in sink.lines if level == "warning"]
    assert any("is a regression model" in r and "classification model" in r for r in reasons)


def _regression_message_for(candidate: OnnxModel, rows: np.ndarray, *, live_version: str) -> str:
    (text,) = encode_messages(
        request_id="fits-but-other-task",
        timestamp="2026-01-02T13:04:05.678Z",
        candidate_model_version=candidate.version,
        inputs=rows,
        live=LiveResult(live_version, "1", [1.5], [], 0.05),
    )
    return text
