"""The error every section raises and the checks they share; each message names the context key."""

from __future__ import annotations

import re
from dataclasses import Field, fields
from typing import Any, ClassVar, Protocol

CONTEXT_KEY = "serving"
OVERRIDE_PREFIX = f"{CONTEXT_KEY}."
SCHEDULE_RE = re.compile(r"^(rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)|cron\([^()]+\))$")


class ConfigError(ValueError):
    """A context value is unknown, of the wrong type or out of range; the message names the key."""


class Section(Protocol):
    """A frozen dataclass of one concern; its fields are the context keys `PREFIX + field name`."""

    PREFIX: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]


def context_keys(section: type[Section]) -> dict[str, Field[Any]]:
    """The flat `serving.<key>` names of a section's fields, mapped to the fields."""
    return {f"{section.PREFIX}{field.name}": field for field in fields(section)}


def check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{CONTEXT_KEY}.{key} {message}")


def check_choice(key: str, value: object, choices: tuple[str, ...]) -> None:
    check(value in choices, key, f"must be one of {', '.join(choices)}, got {value!r}")


def check_bool(key: str, value: object) -> None:
    check(isinstance(value, bool), key, f"must be true or false, got {value!r}")


def check_int_range(key: str, value: object, low: int, high: int, *, hint: str = "") -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    check(ok, key, f"must be an integer from {low} to {high}{f' ({hint})' if hint else ''}, got {value!r}")


def is_number(value: object) -> bool:
    """An int or float from JSON, but not a bool (which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_schedule(key: str, value: object, message: str) -> None:
    """An EventBridge `rate(...)` or `cron(...)` expression; `message` describes it in the error."""
    check(
        isinstance(value, str) and SCHEDULE_RE.fullmatch(value) is not None, key, f"{message}, got {value!r}"
    )
