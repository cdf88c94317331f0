"""One construct per unit of the serving system; stacks only compose them."""

from infra.constructs.function_code import PipLocalBundling, bundled_function_code, source_fingerprint
from infra.constructs.inference_service import (
    ALIAS_NAME,
    HANDLER,
    InferenceService,
    predict_request_schema,
)
from infra.constructs.model_store import MODELS_PREFIX, ModelStore, model_key_prefix
from infra.constructs.release_state import ReleaseState

__all__ = [
    "ALIAS_NAME",
    "HANDLER",
    "MODELS_PREFIX",
    "InferenceService",
    "ModelStore",
    "PipLocalBundling",
    "ReleaseState",
    "bundled_function_code",
    "model_key_prefix",
    "predict_request_schema",
    "source_fingerprint",
]
