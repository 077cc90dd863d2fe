"""The contract every provider module keeps.

A provider is one async generator function, `stream(request)`, yielding the typed events
below, and raising `ProviderError` (with a code from the shared vocabulary) when it fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from chat.errors import ChatError, ErrorCode


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "user" or "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    model: str
    messages: tuple[ChatMessage, ...]
    system: str = ""
    max_tokens: int = 1024
    temperature: float | None = None
    base_url: str = ""
    api_key: str = ""
    # The env variable the key came from, named in the error when it is missing.
    api_key_env: str = ""


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    # Normalised to OpenAI's words: stop, length, content_filter, tool_calls.
    reason: str


@dataclass(frozen=True, slots=True)
class ResponseMeta:
    request_id: str


ProviderEvent = TextDelta | Usage | Finish | ResponseMeta
StreamFunction = Callable[[ProviderRequest], AsyncIterator[ProviderEvent]]


class ProviderError(ChatError):
    """An upstream failure. `retryable` says whether trying again may succeed."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(code, message, retry_after=retry_after)
        self.retryable = retryable
        self.status = status


def require_api_key(request: ProviderRequest) -> None:
    """Fail before any network traffic when the configured key variable is empty."""
    if request.api_key_env and not request.api_key:
        raise ProviderError(
            ErrorCode.AUTH,
            f"The API key variable {request.api_key_env} is not set on the server.",
        )
