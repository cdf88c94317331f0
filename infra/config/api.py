"""The inference API: its type, authentication, throttling, CORS and the limits of a request body."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

from infra.config.checks import check, check_bool, check_choice, check_int_range, is_number

ApiAuth = Literal["api_key", "iam", "jwt", "none"]
API_AUTH_MODES: tuple[str, ...] = get_args(ApiAuth)
ApiType = Literal["rest", "http", "function_url"]
API_TYPES: tuple[str, ...] = get_args(ApiType)
AUTH_BY_API_TYPE: dict[str, tuple[str, ...]] = {
    "rest": ("api_key", "iam", "none"),
    "http": ("iam", "jwt", "none"),
    "function_url": ("iam", "none"),
}
"""The authentication each kind of API offers (docs/api.md compares them)."""
# Lambda's synchronous request payload limit is 6 MB (the event wraps the body, so stay below).
MAX_BODY_BYTES_LIMIT = 6_000_000
_ORIGIN_RE = re.compile(r"^(\*|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?)$")
_STAGE_RE = re.compile(r"^[A-Za-z0-9_]{1,128}$")


@dataclass(frozen=True, kw_only=True)
class ApiConfig:
    """The inference API's stage, who may call it, and how much one request may carry."""

    PREFIX: ClassVar[str] = ""

    api_type: ApiType = "rest"
    """rest: API Gateway REST API (API keys and usage plans, request validation, pinned versions);
    http: API Gateway HTTP API (IAM or JWT, cheaper); function_url: the function's own URL (IAM)."""
    max_rows: int = 1000
    max_body_bytes: int = 262_144
    throttle_rate_limit: float = 50.0
    """Steady-state requests per second for the stage (and per API key in the usage plan)."""
    throttle_burst_limit: int = 100
    api_auth: ApiAuth = "api_key"
    stage_name: str = "prod"
    validate_request_body: bool = True
    api_gateway_cloudwatch_role: bool = True
    """Create API Gateway's account-wide CloudWatch role (required once per account and region for
    access and execution logs). Set false where the account already has one configured."""
    cors_origins: tuple[str, ...] = ()
    feedback_max_items: int = 1000
    """Most labels in one `POST /feedback` body."""
    jwt_issuer: str = ""
    """api_auth=jwt: the token issuer URL (an OIDC provider, e.g. a Cognito user pool's)."""
    jwt_audience: tuple[str, ...] = ()
    """api_auth=jwt: the accepted audiences (client ids)."""

    def __post_init__(self) -> None:
        check_int_range("max_rows", self.max_rows, 1, 100_000)
        check_int_range(
            "max_body_bytes",
            self.max_body_bytes,
            1,
            MAX_BODY_BYTES_LIMIT,
            hint="Lambda's synchronous payload limit is 6 MB",
        )
        check(
            is_number(self.throttle_rate_limit) and 0 < self.throttle_rate_limit <= 10_000,
            "throttle_rate_limit",
            f"must be a number of requests per second in (0, 10000], got {self.throttle_rate_limit!r}",
        )
        check_int_range("throttle_burst_limit", self.throttle_burst_limit, 1, 5000)
        check(
            self.throttle_burst_limit >= self.throttle_rate_limit,
            "throttle_burst_limit",
            f"must be at least throttle_rate_limit ({self.throttle_rate_limit}), "
            f"got {self.throttle_burst_limit}",
        )
        check_choice("api_type", self.api_type, API_TYPES)
        check_choice("api_auth", self.api_auth, API_AUTH_MODES)
        offered = AUTH_BY_API_TYPE[self.api_type]
        check(
            self.api_auth in offered,
            "api_auth",
            f"api_type={self.api_type} offers {', '.join(offered)}, got {self.api_auth!r} "
            f"(set -c serving.api_auth=<one of them>)",
        )
        if self.api_auth == "jwt":
            check(
                self.jwt_issuer.startswith("https://") and bool(self.jwt_audience),
                "jwt_issuer",
                "api_auth=jwt needs jwt_issuer (an https:// issuer URL) and at least one jwt_audience",
            )
        check(
            _STAGE_RE.fullmatch(self.stage_name) is not None,
            "stage_name",
            f"must hold only letters, digits or '_', got {self.stage_name!r}",
        )
        check_bool("validate_request_body", self.validate_request_body)
        check_bool("api_gateway_cloudwatch_role", self.api_gateway_cloudwatch_role)
        for origin in self.cors_origins:
            check(
                isinstance(origin, str) and _ORIGIN_RE.fullmatch(origin) is not None,
                "cors_origins",
                f"each origin must be '*' or scheme://host[:port] without a path, got {origin!r}",
            )
        check(
            "*" not in self.cors_origins or len(self.cors_origins) == 1,
            "cors_origins",
            "'*' cannot be combined with other origins",
        )
        check_int_range("feedback_max_items", self.feedback_max_items, 1, 10_000)
