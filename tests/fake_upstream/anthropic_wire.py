"""Anthropic Messages: request validation, error bodies and the streaming events."""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

from tests.fake_upstream.checks import anthropic_request_error
from tests.fake_upstream.http11 import Response
from tests.fake_upstream.scenarios import (
    Failure,
    Round,
    Scenario,
    count_words,
    is_tool_results,
    last_user_text,
    thinking_signature,
)
from tests.fake_upstream.sse import SseFramer, compact_json, json_string

NAME = "anthropic"
REQUEST_ID_HEADER = "request-id"
DEFAULT_STOP_REASON = "end_turn"
MIDSTREAM_ERROR_MESSAGE = "Overloaded"

_ID_ALPHABET = string.ascii_letters + string.digits

# (error type, default message) per status; 529 is Anthropic's own "overloaded" status.
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        "Number of requests has exceeded your rate limit. Please try again later.",
    ),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def _random_id(length: int) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def new_request_id() -> str:
    return f"req_{_random_id(24)}"


def error_response(
    status: int,
    error_type: str,
    message: str,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    return Response.json(
        status,
        {"type": "error", "error": {"type": error_type, "message": message}},
        headers,
    )


def failure_response(failure: Failure) -> Response:
    error_type, default_message = _ERRORS.get(
        failure.status,
        ("api_error" if failure.status >= 500 else "invalid_request_error", "Error."),
    )
    headers: list[tuple[str, str]] = []
    if failure.retry_after is not None:
        headers.append(("retry-after", failure.retry_after))
    if failure.retry_after_ms is not None:
        headers.append(("retry-after-ms", failure.retry_after_ms))
    return error_response(failure.status, error_type, failure.message or default_message, headers)


def not_found(message: str) -> Response:
    return error_response(404, "not_found_error", message)


def invalid_json() -> Response:
    return error_response(
        400,
        "invalid_request_error",
        "There was an error parsing the body of your request.",
    )


def check_auth(headers: dict[str, str], required_key: str | None) -> Response | None:
    if required_key is None:
        return None
    key = headers.get("x-api-key", "")
    if not key:
        return error_response(401, "authentication_error", "x-api-key header is required")
    if key != required_key:
        return error_response(401, "authentication_error", "invalid x-api-key")
    return None


def validate(headers: dict[str, str], body: dict[str, Any]) -> Response | None:
    if not headers.get("anthropic-version"):
        return error_response(400, "invalid_request_error", "anthropic-version: header is required")
    for required in ("model", "max_tokens", "messages"):
        if required not in body:
            return error_response(400, "invalid_request_error", f"{required}: Field required")
    if not isinstance(body["model"], str):
        return error_response(400, "invalid_request_error", "model: Input should be a valid string")
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        return error_response(
            400,
            "invalid_request_error",
            "max_tokens: Input should be a valid integer >= 1",
        )
    if not isinstance(body["messages"], list):
        return error_response(
            400, "invalid_request_error", "messages: Input should be a valid list"
        )
    error = anthropic_request_error(body)
    return error_response(400, "invalid_request_error", error) if error else None


def wants_stream(body: dict[str, Any]) -> bool:
    return body.get("stream") is True


def prompt_text(body: dict[str, Any]) -> str:
    return last_user_text(body["messages"])


def input_words(body: dict[str, Any]) -> int:
    return count_words(body["messages"], body.get("system"))


class AnthropicStream:
    """The named SSE events of one stream, with a pre-encoded delta template."""

    def __init__(
        self,
        framer: SseFramer,
        body: dict[str, Any],
        scenario: Scenario,
        answer: Round,
        usage: tuple[int, int],
    ) -> None:
        self._framer = framer
        self._model: str = body["model"]
        self._answer = answer
        self._usage = usage
        self._usage_late = scenario.usage_late
        self._stop_reason = scenario.finish_reason or stop_reason(answer)
        self._delta_open = (
            framer.event_prefix
            + b"content_block_delta"
            + framer.eol
            + framer.data_prefix
            + b'{"type":"content_block_delta","index":0,'
            + b'"delta":{"type":"text_delta","text":'
        )
        self._delta_close = b"}}" + framer.data_suffix
        self._blocks = self._content_blocks()

    def _event(self, name: str, payload: dict[str, Any]) -> bytes:
        return self._framer.named_event(name.encode(), compact_json(payload))

    def _block_delta(self, index: int, delta: dict[str, Any]) -> bytes:
        payload = {"type": "content_block_delta", "index": index, "delta": delta}
        return self._event("content_block_delta", payload)

    def _content_blocks(self) -> list[tuple[dict[str, Any], list[tuple[bytes, bool]]]]:
        """Each block's start and its events after the start: thinking, text, tool use."""
        answer = self._answer
        blocks: list[tuple[dict[str, Any], list[tuple[bytes, bool]]]] = []
        if answer.reasoning:
            index = len(blocks)
            events = [
                (self._block_delta(index, {"type": "thinking_delta", "thinking": piece}), True)
                for piece in answer.reasoning
            ]
            signature = thinking_signature("".join(answer.reasoning))
            events.append(
                (
                    self._block_delta(index, {"type": "signature_delta", "signature": signature}),
                    False,
                )
            )
            blocks.append(({"type": "thinking", "thinking": "", "signature": ""}, events))
        for data in answer.redacted_thinking:
            blocks.append(({"type": "redacted_thinking", "data": data}, []))
        if answer.tokens or (not blocks and not answer.tool_calls):
            index = len(blocks)
            events = [(self._text_delta(index, text), True) for text in answer.tokens]
            blocks.append(({"type": "text", "text": ""}, events))
        for call in answer.tool_calls:
            index = len(blocks)
            start = {
                "type": "tool_use",
                "id": call.id or f"toolu_{_random_id(24)}",
                "name": call.name,
                "input": {},
            }
            # The real API opens every tool_use block with an empty input delta.
            events = [
                (
                    self._block_delta(index, {"type": "input_json_delta", "partial_json": piece}),
                    bool(piece),
                )
                for piece in ["", *call.argument_fragments()]
            ]
            blocks.append((start, events))
        return blocks

    def _text_delta(self, index: int, text: str) -> bytes:
        if index == 0:
            return self._delta_open + json_string(text) + self._delta_close
        return self._block_delta(index, {"type": "text_delta", "text": text})

    def _block_start(self, index: int) -> bytes:
        payload = {
            "type": "content_block_start",
            "index": index,
            "content_block": self._blocks[index][0],
        }
        return self._event("content_block_start", payload)

    def prelude(self) -> list[bytes]:
        input_tokens, _ = self._usage
        message = {
            "id": f"msg_{_random_id(24)}",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self._model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0 if self._usage_late else input_tokens, "output_tokens": 1},
        }
        return [
            self._event("message_start", {"type": "message_start", "message": message}),
            self._block_start(0),
            # The real API spells this one with a space after the colon.
            self._framer.named_event(b"ping", b'{"type": "ping"}'),
        ]

    def body(self) -> list[tuple[bytes, bool]]:
        events: list[tuple[bytes, bool]] = []
        for index, (_, block_events) in enumerate(self._blocks):
            if index > 0:
                events.append((self._block_start(index), False))
            events.extend(block_events)
            stop = {"type": "content_block_stop", "index": index}
            events.append((self._event("content_block_stop", stop), False))
        return events

    def token(self, text: str) -> bytes:
        return self._text_delta(0, text)

    def empty_delta(self) -> bytes:
        return self.token("")

    def finish(self) -> list[bytes]:
        input_tokens, output_tokens = self._usage
        usage = {"output_tokens": output_tokens}
        if self._usage_late:
            usage = {"input_tokens": input_tokens, **usage}
        return [
            self._event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self._stop_reason, "stop_sequence": None},
                    "usage": usage,
                },
            ),
            self._event("message_stop", {"type": "message_stop"}),
        ]

    def midstream_error(self) -> list[bytes]:
        error = {
            "type": "error",
            "error": {"type": "overloaded_error", "message": MIDSTREAM_ERROR_MESSAGE},
        }
        return [self._event("error", error)]


def stop_reason(answer: Round) -> str:
    return "tool_use" if answer.tool_calls else DEFAULT_STOP_REASON


def event_source(
    framer: SseFramer,
    body: dict[str, Any],
    scenario: Scenario,
    answer: Round,
    usage: tuple[int, int],
) -> AnthropicStream:
    return AnthropicStream(framer, body, scenario, answer, usage)


def complete_response(
    body: dict[str, Any], scenario: Scenario, answer: Round, usage: tuple[int, int]
) -> Response:
    """The non-streaming Message object, for clients that do not ask for a stream."""
    input_tokens, output_tokens = usage
    content: list[dict[str, Any]] = []
    if answer.reasoning:
        thinking = "".join(answer.reasoning)
        signature = thinking_signature(thinking)
        content.append({"type": "thinking", "thinking": thinking, "signature": signature})
    content.extend({"type": "redacted_thinking", "data": data} for data in answer.redacted_thinking)
    if answer.tokens or (not content and not answer.tool_calls):
        content.append({"type": "text", "text": "".join(answer.tokens)})
    content.extend(
        {
            "type": "tool_use",
            "id": call.id or f"toolu_{_random_id(24)}",
            "name": call.name,
            "input": _object_or_empty(call.arguments),
        }
        for call in answer.tool_calls
    )
    payload = {
        "id": f"msg_{_random_id(24)}",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": scenario.finish_reason or stop_reason(answer),
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }
    return Response.json(200, payload)


def _object_or_empty(arguments: str) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def tool_rounds_done(body: dict[str, Any]) -> int:
    """Assistant turns with tool_use since the last user turn with more than results."""
    rounds = 0
    for message in reversed(body["messages"]):
        if not isinstance(message, dict):
            break
        if message.get("role") == "user" and not is_tool_results(message):
            break
        content = message.get("content")
        if message.get("role") == "assistant" and isinstance(content, list):
            rounds += any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content)
    return rounds
