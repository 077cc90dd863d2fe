"""What a scenario asks the fake upstream to do, and what it recorded doing it.

These dataclasses are the public vocabulary of the fake: tests describe the upstream
behaviour they need with a `Scenario` and inspect what happened via `RecordedRequest`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TOKENS: tuple[str, ...] = ("Hello", ",", " world", "!")

CHUNKING_MODES: frozenset[str] = frozenset({"event", "coalesced", "hostile"})

# Where an OpenAI-format stream puts reasoning: DeepSeek's field, OpenRouter's, or inside
# the content between <think> tags (cut mid-tag, as streams do). Anthropic always sends
# thinking blocks.
REASONING_FIELDS: frozenset[str] = frozenset({"reasoning_content", "reasoning", "think"})

# Arguments are streamed in pieces this long unless a call gives its own fragments.
ARGUMENT_FRAGMENT_LENGTH = 4

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
class ToolCallSpec:
    """One tool call the model makes. `arguments` may be malformed on purpose."""

    name: str
    arguments: str = "{}"
    # How the arguments are streamed; their concatenation replaces `arguments`.
    fragments: list[str] | None = None
    # Made up in the provider's style (call_..., toolu_...) when not given.
    id: str | None = None

    def __post_init__(self) -> None:
        if self.fragments is not None:
            self.arguments = "".join(self.fragments)

    def argument_fragments(self) -> list[str]:
        if self.fragments is not None:
            return list(self.fragments)
        size = ARGUMENT_FRAGMENT_LENGTH
        return [self.arguments[i : i + size] for i in range(0, len(self.arguments), size)]


@dataclass
class Round:
    """What the model sends in one round: reasoning, then text, then tool calls."""

    tokens: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    reasoning_field: str = "reasoning_content"
    # Anthropic only: opaque data of redacted_thinking blocks (OpenAI streams ignore it).
    redacted_thinking: list[str] = field(default_factory=list)
    tool_calls: list[ToolCallSpec] = field(default_factory=list)
    # OpenAI only: the calls' fragments take turns (Anthropic's blocks cannot interleave).
    interleave_calls: bool = False

    def __post_init__(self) -> None:
        if self.reasoning_field not in REASONING_FIELDS:
            raise ValueError(
                f"reasoning_field must be one of {sorted(REASONING_FIELDS)}, "
                f"got {self.reasoning_field!r}"
            )

    def piece_count(self) -> int:
        """Streamed pieces: text tokens, reasoning deltas and argument fragments."""
        fragments = sum(len(call.argument_fragments()) for call in self.tool_calls)
        return len(self.tokens) + len(self.reasoning) + fragments


@dataclass
class Scenario:
    """How the fake upstream answers requests routed to one scenario id.

    With `rounds`, the round answered is the number of tool rounds the request's history
    holds since its last user text (0 for a new question, 1 once the results of the
    first round's calls are appended...); past the last round, the last one again. So
    `rounds=[Round(tool_calls=[...]), Round(tokens=[...])]` calls a tool then answers,
    and a single round with calls asks for tools forever. Without `rounds`, every request
    gets `tokens` (or the echo) as text.
    """

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
    rounds: list[Round] = field(default_factory=list)
    # Anthropic: message_start says input_tokens 0 and message_delta the real count, as
    # LiteLLM's Anthropic endpoint does.
    usage_late: bool = False
    # OpenAI: usage.completion_tokens_details.reasoning_tokens.
    reasoning_tokens: int | None = None

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

    def round_for(self, tool_rounds_done: int, last_user_text: str) -> Round:
        """What to send, given how many tool rounds the request's history holds."""
        if not self.rounds:
            return Round(tokens=self.tokens_for(last_user_text))
        return self.rounds[min(tool_rounds_done, len(self.rounds) - 1)]

    def usage_for(self, request_words: int, answer: Round) -> tuple[int, int]:
        """(input_tokens, output_tokens) reported to the client."""
        if self.usage is not None:
            return self.usage
        return request_words, answer.piece_count()


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
    # The body exactly as sent; `body` is it parsed ({} when it was not a JSON object).
    raw_body: bytes = b""
    # Which of the scenario's rounds was answered (see Scenario).
    round: int = 0


def thinking_signature(thinking: str) -> str:
    """The fake's signature of a thinking block: checked when the block comes back."""
    digest = hashlib.sha256(b"fake-thinking:" + thinking.encode("utf-8", "surrogatepass"))
    return base64.b64encode(digest.digest()).decode()


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
            text = content_text(message.get("content"))
            if text or not is_tool_results(message):
                return text
    return ""


def is_tool_results(message: dict[str, Any]) -> bool:
    """An Anthropic user turn that carries only tool results."""
    content = message.get("content")
    return (
        isinstance(content, list)
        and bool(content)
        and all(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    )


def count_words(messages: list[Any], system: Any = None) -> int:
    """Default input-token count: words in the system prompt and the messages."""
    words = len(content_text(system).split())
    for message in messages:
        if isinstance(message, dict):
            words += len(content_text(message.get("content")).split())
    return words
