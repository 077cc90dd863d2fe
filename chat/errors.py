"""The one error vocabulary shared by providers, the engine, the API and the UI."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_REQUEST = "BAD_REQUEST"
    AUTH = "AUTH"
    NOT_FOUND = "NOT_FOUND"
    TOO_LARGE = "TOO_LARGE"
    RATE_LIMIT = "RATE_LIMIT"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"
    UPSTREAM_CLOSED = "UPSTREAM_CLOSED"
    STOPPED = "STOPPED"
    INTERNAL = "INTERNAL"


# The HTTP status of each code, for the transports that answer HTTP.
STATUS_BY_CODE: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.AUTH: 401,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.TOO_LARGE: 400,
    ErrorCode.RATE_LIMIT: 429,
    ErrorCode.UPSTREAM_ERROR: 502,
    ErrorCode.UPSTREAM_CLOSED: 502,
    ErrorCode.UPSTREAM_TIMEOUT: 504,
    ErrorCode.STOPPED: 409,
    ErrorCode.INTERNAL: 500,
}


class ChatError(Exception):
    """An error with a code from the shared vocabulary and a message fit for a user."""

    def __init__(self, code: ErrorCode, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
