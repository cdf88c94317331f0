"""Reading a function's configuration from its environment at init: a missing or malformed value
fails the init with a message naming the variable (the stack sets them all)."""

from __future__ import annotations

from collections.abc import Mapping


def required(environ: Mapping[str, str], name: str, meaning: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise RuntimeError(f"environment variable {name} is not set: it names {meaning}")
    return value


def positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError as exc:
        raise RuntimeError(f"environment variable {name}={raw!r} is not an integer") from exc
    if value <= 0:
        raise RuntimeError(f"environment variable {name} must be positive, got {value}")
    return value
