"""The inference handler in-process, with real API Gateway REST proxy events."""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from common.model.metadata import ModelMetadata
from localcloud.events import rest_proxy_event
from tests.helpers import FakeLambdaContext, json_body
from tests.unit.inference.support import BAD_BODY_CASES, SERVED_KINDS, Invoke, bad_bodies, split_lines


def test_predict_list_rows_matches_scikit_learn(invoke: Invoke, holdout: Any) -> None:
    X, estimator, metadata = holdout
    response = invoke(body={"instances": X[:40].tolist()})
    assert response["statusCode"] == 200
    body = json_body(response)
    assert body["model_version"] == metadata.version
    assert body["predictions"] == estimator.predict(X[:40].astype(np.float64)).tolist()
    np.testing.assert_allclose(
        np.array(body["probabilities"]), estimator.predict_proba(X[:40].astype(np.float64)), atol=1e-5
    )


def test_predict_whole_holdout_in_batches_matches_scikit_learn(invoke: Invoke, holdout: Any) -> None:
    X, estimator, _ = holdout
    predictions: list[int] = []
    for start in range(0, len(X), 50):
        predictions += json_body(invoke(body={"instances": X[start : start + 50].tolist()}))["predictions"]
    assert predictions == estimator.predict(X.astype(np.float64)).tolist()


def test_predict_object_rows_in_any_key_order(invoke: Invoke, holdout: Any) -> None:
    X, estimator, metadata = holdout
    names = metadata.feature_names
    rows = [dict(reversed(list(zip(names, map(float, row), strict=True)))) for row in X[:3]]
    body = json_body(invoke(body={"instances": rows}))
    assert body["predictions"] == estimator.predict(X[:3].astype(np.float64)).tolist()


def test_predict_sets_version_and_request_id_headers(
    invoke: Invoke, trained_model: tuple[Path, ModelMetadata]
) -> None:
    _, metadata = trained_model
    context = FakeLambdaContext(function_version="12")
    response = invoke(body={"instances": [metadata.sample_rows[0]]}, context=context)
    headers = (
        response["headers"]
        if response.get("headers")
        else {k: v[0] for k, v in response["multiValueHeaders"].items()}
    )
    assert headers["X-Model-Version"] == metadata.version
    assert headers["X-Function-Version"] == "12"
    assert headers["X-Request-Id"] == context.aws_request_id  # what POST /feedback names
    assert headers["Content-Type"] == "application/json"


def test_base64_body_is_decoded(
    handler_module: ModuleType, trained_model: tuple[Path, ModelMetadata]
) -> None:
    _, metadata = trained_model
    event = rest_proxy_event("POST", "/predict", body=b"x", headers={"Content-Type": "application/json"})
    event["body"] = base64.b64encode(json.dumps({"instances": [metadata.sample_rows[0]]}).encode()).decode()
    event["isBase64Encoded"] = True
    assert handler_module.handler(event, FakeLambdaContext())["statusCode"] == 200


def test_health_reports_versions(invoke: Invoke, trained_model: tuple[Path, ModelMetadata]) -> None:
    _, metadata = trained_model
    response = invoke("GET", "/health", context=FakeLambdaContext(function_version="3"))
    assert response["statusCode"] == 200
    body = json_body(response)
    assert body["model_version"] == metadata.version
    assert body["function_version"] == "3"
    assert body["task"] == "classification"
    assert body["class_labels"] == metadata.class_labels


ROW = [1.0] * 30

@pytest.mark.parametrize("served_model", SERVED_KINDS, indirect=True)
@pytest.mark.parametrize("case", BAD_BODY_CASES)
def test_bad_input_gets_a_4xx_naming_the_problem(
    invoke: Invoke, served_model: tuple[Path, ModelMetadata], case: str
) -> None:
    body, status, code = bad_bodies(served_model[1].n_features)[case]
    raw = body if isinstance(body, str) else json.dumps(body)
    response = invoke(raw=raw)
    assert response["statusCode"] == status, case
    error = json_body(response)["error"]
    assert error["code"] == code
    assert error["message"]
    assert "Traceback" not in response["body"]
    assert "probabilities" not in response["body"]


@pytest.mark.parametrize("served_model", SERVED_KINDS, indirect=True)
def test_dict_rows_name_missing_and_unknown_features(
    invoke: Invoke, served_model: tuple[Path, ModelMetadata]
) -> None:
    _, metadata = served_model
    row = dict.fromkeys(metadata.feature_names, 1.0)
    del row[metadata.feature_names[3]]
    error = json_body(invoke(body={"instances": [row]}))["error"]
    assert error["code"] == "missing_feature" and metadata.feature_names[3] in error["message"]
    row = dict.fromkeys(metadata.feature_names, 1.0) | {"colour": 1.0}
    error = json_body(invoke(body={"instances": [row]}))["error"]
    assert error["code"] == "unknown_feature" and "colour" in error["message"]


@pytest.mark.parametrize("served_model", SERVED_KINDS, indirect=True)
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(
    invoke: Invoke, served_model: tuple[Path, ModelMetadata], content_type: str | None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    row = [1.0] * served_model[1].n_features
    response = invoke(raw=json.dumps({"instances": [row]}), headers=headers)
    assert response["statusCode"] == 415
    assert json_body(response)["error"]["code"] == "unsupported_media_type"


def test_content_type_with_charset_and_any_case_is_accepted(invoke: Invoke) -> None:
    response = invoke(
        raw=json.dumps({"instances": [ROW]}), headers={"content-type": "Application/JSON; charset=utf-8"}
    )
    assert response["statusCode"] == 200


@pytest.mark.parametrize("served_model", SERVED_KINDS, indirect=True)
def test_empty_body_is_400(invoke: Invoke) -> None:
    response = invoke(raw="")
    assert response["statusCode"] == 400
    assert json_body(response)["error"]["code"] == "empty_body"


@pytest.mark.parametrize("served_model", SERVED_KINDS, indirect=True)
def test_unknown_path_is_404_and_wrong_method_is_405(invoke: Invoke) -> None:
    missing = invoke("GET", "/nope")
    assert missing["statusCode"] == 404
    assert json_body(missing)["error"]["code"] == "not_found"
    wrong = invoke("GET", "/predict")
    assert wrong["statusCode"] == 405
    assert json_body(wrong)["error"]["code"] == "method_not_allowed"


def test_internal_error_is_500_with_request_id_and_logged(
    invoke: Invoke, handler_module: ModuleType, monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO
) -> None:
    def explode(rows: Any) -> Any:
        raise RuntimeError("onnx exploded")

    monkeypatch.setattr(handler_module.service.model, "predict", explode)
    context = FakeLambdaContext()
    response = invoke(body={"instances": [ROW]}, context=context)
    assert response["statusCode"] == 500
    error = json_body(response)["error"]
    assert error["code"] == "internal_error"
    assert error["request_id"] == context.aws_request_id
    assert "onnx exploded" not in response["body"]
    logged = log_stream.getvalue()
    assert "onnx exploded" in logged and "Traceback" in logged


def test_log_lines_carry_model_and_function_version(
    invoke: Invoke, trained_model: tuple[Path, ModelMetadata], log_stream: io.StringIO
) -> None:
    _, metadata = trained_model
    invoke(body={"instances": [ROW]}, context=FakeLambdaContext(function_version="9"))
    invoke(raw="{bad", context=FakeLambdaContext(function_version="9"))
    log_lines, metric_lines = split_lines(log_stream)
    assert [line["message"] for line in log_lines] == ["prediction served", "request rejected"]
    for line in log_lines:
        assert line["model_version"] == metadata.version
        assert line["function_version"] == "9"
    assert metric_lines[0]["Predictions"] == [1.0]
    assert metric_lines[0]["FunctionVersion"] == "9"
    assert metric_lines[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["FunctionVersion", "service"]]
    assert metric_lines[1]["InvalidRequests"] == [1.0]


def test_log_lines_have_the_powertools_keys_and_never_the_inputs(
    invoke: Invoke, log_stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f;Sampled=1"
    )
    context = FakeLambdaContext(function_version="4")
    invoke(body={"instances": [[123.456, *ROW[1:]], ROW]}, context=context)
    invoke(raw=json.dumps({"instances": [ROW]}), headers={"Content-Type": "text/plain"}, context=context)
    served, rejected = split_lines(log_stream)[0]
    common = {"level", "location", "message", "timestamp", "service", "model_version", "function_version"}
    assert set(served) == common | {"correlation_id", "rows", "inference_ms", "output", "xray_trace_id"}
    assert set(served["output"]) == {"predictions", "probabilities", "model_version"}  # the record
    assert set(rejected) == common | {"correlation_id", "status", "error_code", "xray_trace_id"}
    assert served["level"] == "INFO" and served["service"] == "inference"
    assert served["correlation_id"] == context.aws_request_id
    assert served["rows"] == 2 and served["inference_ms"] > 0
    assert served["xray_trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert (rejected["status"], rejected["error_code"]) == (415, "unsupported_media_type")
    assert "123.456" not in log_stream.getvalue()


def test_metrics_line_per_invocation_with_units(invoke: Invoke, log_stream: io.StringIO) -> None:
    invoke(body={"instances": [ROW, ROW, ROW]}, context=FakeLambdaContext(function_version="5"))
    invoke("GET", "/health", context=FakeLambdaContext(function_version="5"))
    invoke("GET", "/nope", context=FakeLambdaContext(function_version="5"))
    predict, health, missing = split_lines(log_stream)[1]
    directive = predict["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ModelServingTest"
    assert directive["Metrics"] == [
        {"Name": "Predictions", "Unit": "Count"},
        {"Name": "PredictedRows", "Unit": "Count"},
        {"Name": "InferenceTime", "Unit": "Milliseconds"},
    ]
    assert (predict["PredictedRows"], predict["service"]) == ([3.0], "inference")
    assert predict["InferenceTime"][0] > 0
    assert isinstance(predict["_aws"]["Timestamp"], int)
    assert health["HealthChecks"] == [1.0] and missing["InvalidRequests"] == [1.0]


def test_internal_error_is_counted_by_function_version(
    invoke: Invoke, handler_module: ModuleType, monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO
) -> None:
    monkeypatch.setattr(handler_module.service.model, "predict", lambda rows: 1 / 0)
    invoke(body={"instances": [ROW]}, context=FakeLambdaContext(function_version="8"))
    log_lines, metric_lines = split_lines(log_stream)
    assert metric_lines[-1]["InternalErrors"] == [1.0] and metric_lines[-1]["FunctionVersion"] == "8"
    error = next(line for line in log_lines if line["message"] == "internal error")
    assert error["function_version"] == "8" and error["level"] == "ERROR"


def test_log_level_warning_drops_request_lines_but_keeps_metrics(
    trained_model: tuple[Path, ModelMetadata], monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact_dir, _ = trained_model
    for key, value in {
        "MODEL_URI": str(artifact_dir),
        "LOG_LEVEL": "WARNING",
        "POWERTOOLS_SERVICE_NAME": "inference",
        "POWERTOOLS_METRICS_NAMESPACE": "ModelServingTest",
    }.items():
        monkeypatch.setenv(key, value)
    sys.modules.pop("inference.handler", None)
    module = importlib.import_module("inference.handler")
    try:
        module.app.stream = stream = io.StringIO()
        event = rest_proxy_event(
            "POST",
            "/predict",
            body=json.dumps({"instances": [ROW]}),
            headers={"Content-Type": "application/json"},
        )
        assert module.handler(event, FakeLambdaContext())["statusCode"] == 200
        log_lines, metric_lines = split_lines(stream)
        assert log_lines == [] and metric_lines[0]["Predictions"] == [1.0]
    finally:
        sys.modules.pop("inference.handler", None)


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("POST", "/predict/", 200, None),  # trailing slashes are ignored when matching, as before
        ("post", "/predict", 200, None),
        ("GET", "/health//", 200, None),
        ("DELETE", "/health", 405, "GET"),
        ("OPTIONS", "/predict", 405, "POST"),
        ("GET", "/predict/", 404, None),  # a 405 names only the exact route paths
        ("POST", "/", 404, None),
    ],
)
def test_routing(invoke: Invoke, method: str, path: str, status: int, allow: str | None) -> None:
    response = invoke(method, path, raw=json.dumps({"instances": [ROW]}))
    assert response["statusCode"] == status
    assert response["multiValueHeaders"].get("Allow") == ([allow] if allow else None)


def test_serving_imports_neither_powertools_nor_the_xray_sdk(
    trained_model: tuple[Path, ModelMetadata],
) -> None:
    """Cold start: the hot path needs neither; Powertools loads on the first internal error and the
    X-Ray SDK only when TRACER_SDK_SUBSEGMENTS=true."""
    artifact_dir, _ = trained_model
    root = Path(__file__).resolve().parents[3]
    probe = (
        "import json, sys; import inference.handler as h; "
        "print(json.dumps({'tracer': hasattr(h.handler, '__wrapped__'), "
        "'loaded': sorted(m for m in ('aws_lambda_powertools', 'aws_xray_sdk', 'boto3') "
        "if m in sys.modules)}))"
    )
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": f"{root / 'functions'}",
        "MODEL_URI": str(artifact_dir),
        "POWERTOOLS_METRICS_NAMESPACE": "ModelServingTest",
    }
    plain = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert json.loads(plain.stdout) == {"tracer": False, "loaded": []}
    traced = subprocess.run(
        [sys.executable, "-c", probe],
        env={**env, "TRACER_SDK_SUBSEGMENTS": "true", "POWERTOOLS_TRACE_DISABLED": "true"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(traced.stdout)["tracer"] is True


def test_emf_line_for_any_metric_list_is_the_powertools_document() -> None:
    from inference.log_lines import EmfMetrics

    emf = EmfMetrics(namespace="NS", service="inference")
    emf.bind_function_version("12")
    metrics = [
        ("Predictions", "Count", 1.0),
        ("Odd%Name", "Count", 3),
        ("InferenceTime", "Milliseconds", 0.25),
    ]
    for _ in range(2):  # the second time from the cached templates
        document = json.loads(emf.render(metrics))
        assert document["_aws"]["CloudWatchMetrics"] == [
            {
                "Namespace": "NS",
                "Dimensions": [["FunctionVersion", "service"]],
                "Metrics": [{"Name": name, "Unit": unit} for name, unit, _ in metrics],
            }
        ]
        assert (document["FunctionVersion"], document["service"]) == ("12", "inference")
        assert [document[name] for name, _, _ in metrics] == [[1.0], [3.0], [0.25]]
    assert emf.render([]) == ""


@pytest.mark.parametrize("rows", [1, 7, 1000])
@pytest.mark.parametrize("inference_ms", [0.0123, 1e-7, 12.5, 3.0])
def test_the_prediction_line_is_the_general_line_for_the_prediction_metrics(
    rows: int, inference_ms: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inference.log_lines import EmfMetrics, prediction_metrics

    monkeypatch.setattr("inference.log_lines.time.time", lambda: 1_700_000_000.123)
    emf = EmfMetrics(namespace="ModelServing", service="inference")
    for version in ("$LATEST", "7"):
        emf.bind_function_version(version)
        assert emf.render_prediction(rows, inference_ms) == emf.render(prediction_metrics(rows, inference_ms))
    emf.enabled = False
    assert emf.render_prediction(rows, inference_ms) == ""


def test_a_non_finite_probability_is_a_422_naming_the_rows_never_an_answer(
    invoke: Invoke, handler_module: ModuleType, monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO
) -> None:
    from common.model.prediction import Prediction

    def overflowed(rows: Any) -> Prediction:
        probabilities = np.array([[0.5, 0.5], [np.nan, np.nan], [0.1, 0.9], [np.inf, 0.0]], dtype=np.float32)
        return Prediction(labels=[0, 0, 1, 0], probabilities=probabilities)

    monkeypatch.setattr(handler_module.service.model, "predict", overflowed)
    response = invoke(body={"instances": [ROW] * 4}, context=FakeLambdaContext(function_version="6"))
    assert response["statusCode"] == 422
    error = json_body(response)["error"]
    assert error["code"] == "unscorable_input" and "rows [1, 3]" in error["message"]
    log_lines, metric_lines = split_lines(log_stream)
    assert [(line["message"], line["status"]) for line in log_lines] == [("request rejected", 422)]
    assert metric_lines[-1]["UnscorableRequests"] == [1.0] and metric_lines[-1]["FunctionVersion"] == "6"
    assert not {"InternalErrors", "InvalidRequests", "Predictions"} & set(metric_lines[-1])


def test_the_native_run_answers_as_the_public_run(handler_module: ModuleType, holdout: Any) -> None:
    model = handler_module.service.model
    rows = np.asarray(holdout[0][:64], dtype=np.float32)
    labels, probabilities = model.session.run(model._outputs, {model._input_name: rows})
    prediction = model.predict(rows)
    assert prediction.labels == labels.tolist()
    np.testing.assert_array_equal(prediction.probabilities, probabilities)
    assert model._run is not model.session.run  # the native path is the one in use


@pytest.mark.parametrize(
    "trace", [None, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"]
)
@pytest.mark.parametrize("now", [1_700_000_000.0, 1_700_000_000.0005, 1_700_000_000.9999])
def test_the_served_line_is_the_general_line(
    trace: str | None, now: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inference.log_lines import RequestLog

    if trace is None:
        monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    else:
        monkeypatch.setenv("_X_AMZN_TRACE_ID", trace)
    monkeypatch.setattr("inference.log_lines.time.time", lambda: now)
    log = RequestLog(service="inference", model_version="m-1")
    log.bind_function_version("3")
    served = log.served("req-1", 2, 0.0421)
    assert served == log.line("predict", "prediction served", "req-1", '"rows":2,"inference_ms":0.0421')
    document = json.loads(served)
    assert document["timestamp"].endswith(f",{int(round(now % 1 * 1000, 6)) % 1000:03d}+0000")
    assert ("xray_trace_id" in document) is (trace is not None)
