"""Errors of `modelctl shadow`: each is one readable line and exit code 1 (through ModelctlError)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from modelctl.errors import ModelctlError


class ShadowError(ModelctlError):
    """A shadow command cannot go on; the message says why and what to do."""


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Known AWS failures become one line naming what was being done."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ShadowError(f"{what}: {error.get('Code', '?')}: {error.get('Message', exc)}") from exc
    except BotoCoreError as exc:
        raise ShadowError(f"{what}: {exc}") from exc
