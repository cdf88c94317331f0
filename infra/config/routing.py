"""Sticky routing: the header a client names its routing key in, and how long the alias is cached."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from infra.config.checks import check, check_int_range

_HEADER_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_RESERVED = ("x-api-key", "authorization", "content-type", "host", "x-routing-forwarded-from")


@dataclass(frozen=True, kw_only=True)
class RoutingConfig:
    """`routing_key_header` names the header that pins a client to one version during a canary
    (docs/routing.md); empty turns sticky routing off (every request weighted by the alias)."""

    PREFIX: ClassVar[str] = ""

    routing_key_header: str = "X-Routing-Key"
    routing_alias_ttl_seconds: int = 5
    """How long the function keeps the alias's weights before reading them again (GetAlias)."""

    def __post_init__(self) -> None:
        header = self.routing_key_header
        check(
            isinstance(header, str)
            and (header == "" or _HEADER_RE.fullmatch(header) is not None)
            and header.lower() not in _RESERVED,
            "routing_key_header",
            f"must be empty or a header name of letters, digits and '-' (not {', '.join(_RESERVED)}), "
            f"got {header!r}",
        )
        check_int_range("routing_alias_ttl_seconds", self.routing_alias_ttl_seconds, 1, 300)

    @property
    def enabled(self) -> bool:
        return self.routing_key_header != ""
