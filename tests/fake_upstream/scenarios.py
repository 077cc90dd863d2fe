"""What a scenario asks the fake upstream to do, and what it recorded doing it.

These dataclasses are the public vocabulary of the fake: tests describe the upstream
behaviour they need with a `Scenario` and inspect what happened via `RecordedRequest`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TOKENS: tuple[str, ...] = ("Hello", ",", " world", "!")

CHUNKING_MODES: frozenset[str] = frozenset({"event", "coalesced", "hostile"})

# A word plus the whitespace around it, so that "".join(tokens) == text exactly.
_WORD_WITH_SPACES = re.compile(r"\s*\S+\s*")


@dataclass
class Failure:
    """One failed HTTP response, consumed by one request (see `Scenario.failures`)."""

    status: int
    retry_after: str | None = None
    retry_after_ms: str | None = None
    # Empty means "use the provider's usual wording for this status".
    message: str = ""


@dataclass
class Scenario:
    """How the fake upstream answers requests routed to one scenario id."""

    tokens: list[str] = field(default_factory=lambda: list(DEFAULT_TOKENS))
    echo: bool = False
    ttft: float = 0.0
    token_delay: float = 0.0
    chunking: str = "event"
    crlf: bool = False
    no_space_after_colon: bool = False
    comments: bool = False
    empty_deltas: bool = False
    finish_reason: str | None = None
    usage: tuple[int, int] | None = None
    failures: list[Failure] = field(default_factory=list)
    cut_after: int | None = None
    hang_after: int | None = None
    error_after: int | None = None
    require_api_key: str | None = None
    request_id: str | None = None

    def __post_init__(self) -> None:
        # Fail at registration time, not deep inside a streaming response.
        if self.chunking not in CHUNKING_MODES:
            raise ValueError(
                f"chunking must be one of {sorted(CHUNKING_MODES)}, got {self.chunking!r}"
            )

    def tokens_for(self, last_user_text: str) -> list[str]:
        """The text deltas to stream, given the request's last user message."""
        if not self.echo:
            return list(self.tokens)
        return split_words_keeping_spaces(last_user_text)

    def usage_for(self, request_words: int, tokens: list[str]) -> tuple[int, int]:
        """(input_tokens, output_tokens) reported to the client."""
        if self.usage is not None:
            return self.usage
        return request_words, len(tokens)


@dataclass
class RecordedRequest:
    """What the fake received and how the response went. Snapshots are copies."""

    scenario_id: str
    provider: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 0
    tokens_sent: int = 0
    completed: bool = False
    client_closed_early: bool = False
    opened_at: float = 0.0
    closed_at: float | None = None
    # Which TCP connection carried the request (1, 2, ... per server); lets tests
    # prove keep-alive reuse from the server's side.
    connection_id: int = 0


def split_words_keeping_spaces(text: str) -> list[str]:
    """Split into word tokens whose concatenation is exactly `text`."""
    words = _WORD_WITH_SPACES.findall(text)
    if not words and text:
        return [text]  # whitespace only: still echo it faithfully
    return words


def content_text(content: Any) -> str:
    """Text of a message `content`: a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    return ""


def last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def count_words(messages: list[Any], system: Any = None) -> int:
    """Default input-token count: words in the system prompt and the messages."""
    words = len(content_text(system).split())
    for message in messages:
        if isinstance(message, dict):
            words += len(content_text(message.get("content")).split())
    return words
