"""Fixtures for the CDK tests: a trained artifact, and apps synthesized from the real cdk.json.

Most apps skip asset bundling (`aws:cdk:bundling-stacks: []`): the function asset is then the
source folder and no pip runs. The bundling hook itself is tested with a fake builder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from infra.stacks import ShadowStack
from tests.unit.infra.infra_support import SynthesizedApp, synthesize


@pytest.fixture(scope="session", autouse=True)
def _no_cdk_env() -> Iterator[None]:
    """Synthesize environment-agnostic stacks unless a test sets the CDK_DEFAULT_* variables."""
    saved = {key: os.environ.pop(key, None) for key in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION")}
    yield
    for key, value in saved.items():
        if value is not None:
            os.environ[key] = value


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real artifact (the default pipeline on the built-in data), as `make model` writes it."""
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.train import train_model

    root = tmp_path_factory.mktemp("model_artifacts")
    train_model(load_builtin(), build_pipeline("logistic_regression"), output_root=root)
    return root


@pytest.fixture(scope="session")
def model_version(artifacts_dir: Path) -> str:
    (version,) = [child.name for child in artifacts_dir.iterdir() if child.is_dir()]
    return version


@pytest.fixture(scope="session")
def synthesized(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """The default configuration (cdk.json as committed)."""
    return synthesize(artifacts_dir, tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def template(synthesized: SynthesizedApp) -> Template:
    return synthesized.serving_template


@pytest.fixture(scope="session")
def shadow(synthesized: SynthesizedApp) -> Template:
    """The default configuration's shadow stack."""
    return Template.from_stack(synthesized.stack(ShadowStack))


@pytest.fixture(scope="session")
def store_template(synthesized: SynthesizedApp) -> Template:
    return synthesized.store_template


@pytest.fixture(scope="session")
def iam_cors_app(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """The other end of the options: IAM auth, one CORS origin, x86_64, provisioned concurrency."""
    return synthesize(
        artifacts_dir,
        tmp_path_factory.mktemp("cdk.out"),
        api_auth="iam",
        cors_origins="https://app.example.com",
        architecture="x86_64",
        python_version="3.13",
        provisioned_concurrency="2",
        log_retention_days="90",
        api_gateway_cloudwatch_role="false",
    )


@pytest.fixture(scope="session")
def open_app(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """No authentication, several CORS origins, no body validation, no reserved concurrency."""
    return synthesize(
        artifacts_dir,
        tmp_path_factory.mktemp("cdk.out"),
        api_auth="none",
        cors_origins="https://a.example.com,https://b.example.com",
        validate_request_body="false",
        shadow_reserved_concurrency="0",
        precompute_reserved_concurrency="0",
    )


@pytest.fixture(scope="session")
def http_app(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """serving.api_type=http: an HTTP API with IAM authorization and one CORS origin."""
    return synthesize(
        artifacts_dir,
        tmp_path_factory.mktemp("cdk.out"),
        api_type="http",
        api_auth="iam",
        cors_origins="https://app.example.com",
    )


@pytest.fixture(scope="session")
def jwt_http_app(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """serving.api_type=http with JWT authorization."""
    return synthesize(
        artifacts_dir,
        tmp_path_factory.mktemp("cdk.out"),
        api_type="http",
        api_auth="jwt",
        jwt_issuer="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example",
        jwt_audience="client-one",
    )


@pytest.fixture(scope="session")
def function_url_app(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """serving.api_type=function_url with IAM authorization."""
    return synthesize(
        artifacts_dir, tmp_path_factory.mktemp("cdk.out"), api_type="function_url", api_auth="iam"
    )
