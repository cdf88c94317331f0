"""Where a function version finds its pinned model.

`MODEL_URI` names one immutable artifact: `s3://bucket/models/<version>/` in the model store, or a
directory on disk (a model shipped inside the code package). Each Lambda version carries its own
`MODEL_URI`, so a version keeps serving the model it was published with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from common.layout import METADATA_FILE, MODEL_FILE

DEFAULT_CACHE_DIR = Path("/tmp/models")


class S3Downloader(Protocol):
    def download_file(self, Bucket: str, Key: str, Filename: str) -> Any: ...


def parse_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"{uri!r} is not an s3://bucket/prefix URI")
    prefix = parsed.path.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return parsed.netloc, prefix


def resolve_model_dir(
    model_uri: str,
    *,
    s3_client: S3Downloader | None = None,
    cache_dir: Path = DEFAULT_CACHE_DIR,
) -> Path:
    """Return a local directory holding model.onnx and metadata.json for `model_uri`."""
    if not model_uri.startswith("s3://"):
        path = Path(model_uri)
        if not path.is_dir():
            raise FileNotFoundError(f"MODEL_URI {model_uri!r} is not a directory")
        return path
    bucket, prefix = parse_s3_uri(model_uri)
    if s3_client is None:
        import boto3  # the Lambda runtime provides boto3; imported only when the model is in S3

        s3_client = boto3.client("s3")
    target = cache_dir / bucket / prefix
    target.mkdir(parents=True, exist_ok=True)
    for name in (METADATA_FILE, MODEL_FILE):
        destination = target / name
        if not destination.exists():
            partial = destination.with_suffix(destination.suffix + ".part")
            s3_client.download_file(Bucket=bucket, Key=prefix + name, Filename=str(partial))
            partial.replace(destination)
    return target
