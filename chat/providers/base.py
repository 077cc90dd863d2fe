"""The contract every provider module keeps.

A provider is one async generator function, `stream(request)`, yielding the typed events
below, and raising `ProviderError` (with a code from the shared vocabulary) when it fails.
One call is one model round: when the model asks for tools the stream ends with
`Finish("tool_calls")`, and the engine calls again with the results appended to
`request.messages`. docs/architecture.md ("The provider contract") has the rules.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from chat.errors import ChatError, ErrorCode

# -- what goes up: the request ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    media_type: str  # "image/png", "image/jpeg", "image/gif" or "image/webp"
    data: str  # base64, without a "data:" prefix


ContentPart = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ReasoningBlock:
    """One block of the model's reasoning, kept so it can be sent back during tool use.

    Anthropic signs each thinking block and refuses a tool round whose thinking comes back
    altered or missing; an encrypted ("redacted") block has only `redacted_data`.
    OpenAI-compatible servers sign nothing: their blocks have text only.
    """

    text: str = ""
    signature: str = ""
    redacted_data: str = ""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model made, as it goes back in an assistant message."""

    id: str
    name: str
    arguments: str  # the JSON text as the model wrote it (see ToolCallDone)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the history, in the shape both wire formats can be built from.

    - user: `content` is text, or parts (text and images).
    - assistant: one per model round. `reasoning` came before `content`, `tool_calls`
      after it.
    - tool: the result of one call: `tool_call_id`, the result text in `content`, and
      `is_error` when the call failed (bad arguments, unknown tool, exception, timeout).
    """

    role: str  # "user", "assistant" or "tool"
    content: str | tuple[ContentPart, ...] = ""
    reasoning: tuple[ReasoningBlock, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    is_error: bool = False

    @property
    def text(self) -> str:
        """The message's text; text parts are joined by a blank line, images left out."""
        if isinstance(self.content, str):
            return self.content
        return "\n\n".join(part.text for part in self.content if isinstance(part, TextPart))

    @property
    def images(self) -> tuple[ImagePart, ...]:
        if isinstance(self.content, str):
            return ()
        return tuple(part for part in self.content if isinstance(part, ImagePart))


# "auto", "none", "required" (some tool), or the name of the one tool the model must call.
ToolChoice = Literal["auto", "none", "required"] | str


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
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = "auto"
    # OpenAI-compatible: "minimal", "low", "medium", "high"...; "" sends nothing.
    reasoning_effort: str = ""
    # Anthropic extended thinking: the thinking budget in tokens; 0 is off.
    thinking_budget_tokens: int = 0


# -- what comes down: the events -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """Reasoning text as it streams. Never answer text: a UI shows it apart."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDone:
    """A reasoning block is complete: the whole block, to send back in the history.

    Follows the block's ReasoningDeltas (an encrypted block has none before it).
    """

    block: ReasoningBlock


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    id: str  # unique within the answer; made up by the provider if the server sent none
    name: str  # passed through as the model wrote it, known tool or not


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    id: str
    arguments_delta: str


@dataclass(frozen=True, slots=True)
class ToolCallDone:
    """The model finished writing a call.

    `arguments` is the complete JSON text ("{}" when the model wrote nothing). When it is
    not a JSON object, `parsed_arguments` is None and `error` says why: the call failed,
    the stream did not, and the model should be told.
    """

    id: str
    name: str
    arguments: str
    parsed_arguments: dict[str, Any] | None
    error: str = ""

    @property
    def malformed(self) -> bool:
        return self.parsed_arguments is None

    @property
    def call(self) -> ToolCall:
        return ToolCall(self.id, self.name, self.arguments)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts; None means "not reported here".

    May come several times in one stream: each count that is not None replaces the one
    before (behind some proxies the first report says 0 and the real count comes last).
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    # Part of output_tokens, where the provider says how many were reasoning.
    reasoning_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    # "stop", "length", "content_filter", or "tool_calls" when the model stopped to have
    # its calls run (a round cut by "length" may hold calls too, arguments likely cut).
    reason: str


@dataclass(frozen=True, slots=True)
class ResponseMeta:
    request_id: str


ProviderEvent = (
    TextDelta
    | ReasoningDelta
    | ReasoningDone
    | ToolCallStart
    | ToolCallDelta
    | ToolCallDone
    | Usage
    | Finish
    | ResponseMeta
)
StreamFunction = Callable[[ProviderRequest], AsyncGenerator[ProviderEvent, None]]

# Events that show the user something: once one went out, a retry would show a second,
# different answer glued to the first.
VISIBLE_EVENTS = (
    TextDelta,
    ReasoningDelta,
    ReasoningDone,
    ToolCallStart,
    ToolCallDelta,
    ToolCallDone,
)


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


def finish_for(reason: str, *, made_calls: bool) -> Finish:
    """The round's Finish, from the provider's normalised reason and whether calls came.

    Some servers say "stop" after calls (Ollama), or "tool_calls" with no call in the
    stream; the engine decides by "tool_calls", so it must mean there are calls to run.
    """
    if made_calls and reason == "stop":
        return Finish("tool_calls")
    if not made_calls and reason == "tool_calls":
        return Finish("stop")
    return Finish(reason)


def require_api_key(request: ProviderRequest) -> None:
    """Fail before any network traffic when the configured key variable is empty."""
    if request.api_key_env and not request.api_key:
        raise ProviderError(
            ErrorCode.AUTH,
            f"The API key variable {request.api_key_env} is not set on the server.",
        )
