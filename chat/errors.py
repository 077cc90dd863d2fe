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


class ChatError(Exception):
    """An error with a code from the shared vocabulary and a message fit for a user."""

    def __init__(self, code: ErrorCode, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
