"""Candidate models for the shadow function: loaded on first use from the model store, kept warm.

A message names its candidate model version (the one the active shadow configuration named when the
request was mirrored). The artifact is `s3://<MODEL_BUCKET>/models/<version>/`, read through the same
code the inference function uses, so the shadow scores with exactly what a release would serve.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from common.model.artifact_source import S3Downloader, resolve_model_dir
from common.model.onnx_model import OnnxModel

Loader = Callable[[Path], OnnxModel]


class ModelCache:
    """At most `capacity` models in memory, least recently used evicted (a shadow changes rarely)."""

    def __init__(
        self,
        *,
        model_bucket: str,
        s3: S3Downloader | None = None,
        capacity: int = 2,
        loader: Loader = OnnxModel.load,
        cache_dir: Path | None = None,
    ) -> None:
        self.model_bucket = model_bucket
        self.s3 = s3
        self.capacity = capacity
        self._loader = loader
        self._cache_dir = cache_dir
        self._models: OrderedDict[str, OnnxModel] = OrderedDict()
        self._lock = threading.Lock()

    def uri(self, version: str) -> str:
        return f"s3://{self.model_bucket}/models/{version}/"

    def get(self, version: str) -> OnnxModel:
        with self._lock:
            model = self._models.get(version)
            if model is not None:
                self._models.move_to_end(version)
                return model
        extra = {"cache_dir": self._cache_dir} if self._cache_dir is not None else {}
        model = self._loader(resolve_model_dir(self.uri(version), s3_client=self.s3, **extra))
        if model.version != version:
            raise ValueError(f"{self.uri(version)} holds model {model.version!r}, not {version!r}")
        with self._lock:
            self._models[version] = model
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
        return model
