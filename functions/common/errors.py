"""Client errors: each becomes an HTTP 4xx with `{"error": {"code": ..., "message": ...}}`."""

from __future__ import annotations


class RequestError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


def bad_request(code: str, message: str) -> RequestError:
    return RequestError(400, code, message)
