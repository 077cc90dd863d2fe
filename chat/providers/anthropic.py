"""Anthropic's Messages API, streamed."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from itertools import dropwhile
from typing import Any

from chat.errors import ErrorCode
from chat.providers.base import (
    ChatMessage,
    ImagePart,
    ProviderError,
    ProviderEvent,
    ProviderRequest,
    ReasoningBlock,
    ReasoningDelta,
    ReasoningDone,
    ResponseMeta,
    TextDelta,
    Usage,
    finish_for,
    require_api_key,
)
from chat.providers.history import paired_tool_results
from chat.providers.http import closed_early, drain_after_end, open_event_stream
from chat.providers.tool_calls import StreamedCall

API_VERSION = "2023-06-01"
# The smallest thinking budget the API takes.
MIN_THINKING_BUDGET = 1024

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

Block = dict[str, Any]


def error_detail(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("message") if isinstance(error, dict) else None


def text_blocks(text: str) -> list[Block]:
    # The API refuses empty or blank text blocks.
    return [{"type": "text", "text": text}] if text.strip() else []


def user_blocks(message: ChatMessage) -> list[Block]:
    if isinstance(message.content, str):
        return text_blocks(message.content)
    blocks: list[Block] = []
    for part in message.content:
        if isinstance(part, ImagePart):
            source = {"type": "base64", "media_type": part.media_type, "data": part.data}
            blocks.append({"type": "image", "source": source})
        else:
            blocks.extend(text_blocks(part.text))
    return blocks


def thinking_blocks(reasoning: tuple[ReasoningBlock, ...]) -> list[Block]:
    # Only signed blocks can go back; another provider's reasoning has no signature.
    blocks: list[Block] = []
    for block in reasoning:
        if block.redacted_data:
            blocks.append({"type": "redacted_thinking", "data": block.redacted_data})
        elif block.signature:
            blocks.append(
                {"type": "thinking", "thinking": block.text, "signature": block.signature}
            )
    return blocks


def tool_input(arguments: str) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments)
    except ValueError:
        parsed = None
    # Malformed arguments were reported to the model in the call's result.
    return parsed if isinstance(parsed, dict) else {}


def message_blocks(message: ChatMessage, *, thinking: bool, tools: bool) -> tuple[str, list[Block]]:
    """The turn's role and content blocks.

    Without tools in the request the API refuses tool_use and tool_result blocks, so a
    history from when the model had tools is told in words instead.
    """
    if message.role == "tool":
        if not tools:
            label = "Tool error" if message.is_error else "Tool result"
            return "user", text_blocks(f"[{label}: {message.text}]")
        result: Block = {"type": "tool_result", "tool_use_id": message.tool_call_id}
        if message.text:  # optional: an empty result sends none
            result["content"] = message.text
        if message.is_error:
            result["is_error"] = True
        return "user", [result]
    if message.role != "assistant":
        return "user", user_blocks(message)
    # Thinking only goes back when it is on: it is what the API checks during tool use.
    blocks = thinking_blocks(message.reasoning) if thinking else []
    blocks.extend(text_blocks(message.text))
    for call in message.tool_calls:
        if tools:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": tool_input(call.arguments),
                }
            )
        else:
            blocks.extend(text_blocks(f"[Called the tool {call.name} with {call.arguments}]"))
    return "assistant", blocks


def alternating_turns(
    messages: tuple[ChatMessage, ...], *, thinking: bool = False, tools: bool = False
) -> list[dict[str, Any]]:
    """Anthropic wants user/assistant turns alternating and starting with the user.

    A history cut by history_limit can start with an answer, and a failed answer with no
    text leaves two user messages in a row: drop the first, merge the second. Tool results
    go in user turns, so they merge with the user text after them. A turn of text only is
    sent as one string.
    """
    from_user = tuple(dropwhile(lambda m: m.role != "user", messages))
    turns: list[tuple[str, list[Block]]] = []
    for message in paired_tool_results(from_user):
        role, blocks = message_blocks(message, thinking=thinking, tools=tools)
        if not blocks:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    return [{"role": role, "content": turn_content(blocks)} for role, blocks in turns]


def turn_content(blocks: list[Block]) -> str | list[Block]:
    if all(block["type"] == "text" for block in blocks):
        return "\n\n".join(block["text"] for block in blocks)
    return blocks


def tool_choice_json(choice: str) -> dict[str, Any]:
    if choice == "required":
        return {"type": "any"}
    if choice in ("auto", "none"):
        return {"type": choice}
    return {"type": "tool", "name": choice}


def request_body(request: ProviderRequest) -> dict[str, Any]:
    thinking = request.thinking_budget_tokens > 0
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": alternating_turns(
            request.messages, thinking=thinking, tools=bool(request.tools)
        ),
        "stream": True,
    }
    if request.system:
        body["system"] = request.system
    if request.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in request.tools
        ]
        # With thinking on, the API only takes auto or none.
        forced = request.tool_choice not in ("auto", "none")
        if request.tool_choice != "auto" and not (thinking and forced):
            body["tool_choice"] = tool_choice_json(request.tool_choice)
    if thinking:
        budget = max(request.thinking_budget_tokens, MIN_THINKING_BUDGET)
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        # max_tokens must exceed the budget: the answer's own allowance comes on top then.
        if request.max_tokens <= budget:
            body["max_tokens"] = budget + request.max_tokens
    elif request.temperature is not None:
        # Thinking takes no temperature but the default.
        body["temperature"] = request.temperature
    return body


def stream_error(payload: dict[str, Any]) -> ProviderError:
    error = payload.get("error") or {}
    kind = error.get("type", "")
    message = error.get("message") or kind or "unknown error"
    if kind == "rate_limit_error":
        return ProviderError(ErrorCode.RATE_LIMIT, message, retryable=True)
    # Overloaded and internal errors are worth another try if no text went out yet.
    retryable = kind in ("overloaded_error", "api_error")
    return ProviderError(
        ErrorCode.UPSTREAM_ERROR, f"The model provider failed: {message}", retryable=retryable
    )


@dataclass(slots=True)
class _Thinking:
    parts: list[str] = field(default_factory=list)
    signature: str = ""
    redacted_data: str = ""


@dataclass(slots=True)
class _ToolUse:
    call: StreamedCall
    # Streams send the input in deltas; a proxy may put it whole in the block's start.
    start_input: dict[str, Any]
    streamed: bool = False


class EventParser:
    """The events of one stream, from Anthropic's server-sent events."""

    def __init__(self) -> None:
        self._blocks: dict[int, _Thinking | _ToolUse] = {}
        self._stop_reason = ""
        self._made_calls = False

    def feed(self, kind: str, payload: dict[str, Any]) -> list[ProviderEvent]:
        """The events of one server event; Finish (and the end) at message_stop."""
        try:
            return self._read_event(kind, payload)
        except (AttributeError, KeyError, TypeError) as error:  # a field of the wrong type
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR, "The model provider sent a malformed event."
            ) from error

    def _read_event(self, kind: str, payload: dict[str, Any]) -> list[ProviderEvent]:
        if kind == "content_block_delta":
            return self._delta(payload.get("index"), payload.get("delta") or {})
        if kind == "content_block_start":
            return self._start(payload.get("index"), payload.get("content_block") or {})
        if kind == "content_block_stop":
            return self._stop(payload.get("index"))
        if kind == "message_start":
            usage = (payload.get("message") or {}).get("usage") or {}
            # Its output count is a placeholder; a stopped answer counts its own parts.
            return [Usage(input_tokens=usage.get("input_tokens"))]
        if kind == "message_delta":
            self._stop_reason = (payload.get("delta") or {}).get("stop_reason") or ""
            usage = payload.get("usage") or {}
            # LiteLLM says input_tokens 0 at the start and the real count only here.
            return [Usage(usage.get("input_tokens"), usage.get("output_tokens"))] if usage else []
        if kind == "message_stop":
            return self.finish()
        if kind == "error":
            raise stream_error(payload)
        return []  # ping, and event types added later

    def _start(self, index: Any, block: dict[str, Any]) -> list[ProviderEvent]:
        kind = block.get("type")
        if kind == "text":
            return [TextDelta(block["text"])] if block.get("text") else []
        if kind == "thinking":
            thinking = self._blocks[index] = _Thinking(signature=block.get("signature") or "")
            if block.get("thinking"):
                thinking.parts.append(block["thinking"])
                return [ReasoningDelta(block["thinking"])]
        elif kind == "redacted_thinking":
            self._blocks[index] = _Thinking(redacted_data=block.get("data") or "")
        elif kind == "tool_use":
            call = StreamedCall(str(block.get("id") or ""), str(block.get("name") or ""))
            start_input = block.get("input")
            self._blocks[index] = _ToolUse(
                call, start_input if isinstance(start_input, dict) else {}
            )
            self._made_calls = True
            return call.start()
        return []

    def _delta(self, index: Any, delta: dict[str, Any]) -> list[ProviderEvent]:
        kind = delta.get("type")
        if kind == "text_delta":
            return [TextDelta(delta["text"])] if delta.get("text") else []
        block = self._blocks.get(index)
        if kind == "input_json_delta" and isinstance(block, _ToolUse):
            block.streamed = True
            return block.call.add(delta.get("partial_json") or "")
        if kind == "thinking_delta" and delta.get("thinking"):
            if not isinstance(block, _Thinking):
                block = self._blocks[index] = _Thinking()
            block.parts.append(delta["thinking"])
            return [ReasoningDelta(delta["thinking"])]
        if kind == "signature_delta" and isinstance(block, _Thinking):
            block.signature += delta.get("signature") or ""
        return []

    def _stop(self, index: Any) -> list[ProviderEvent]:
        block = self._blocks.pop(index, None)
        if isinstance(block, _Thinking):
            reasoning = ReasoningBlock("".join(block.parts), block.signature, block.redacted_data)
            return [ReasoningDone(reasoning)]
        if isinstance(block, _ToolUse):
            events: list[ProviderEvent] = []
            if not block.streamed and block.start_input:
                events.extend(block.call.add(json.dumps(block.start_input, ensure_ascii=False)))
            return events + block.call.finish()
        return []

    def finish(self) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        for index in list(self._blocks):  # blocks the stream never closed
            events.extend(self._stop(index))
        reason = STOP_REASONS.get(self._stop_reason, "stop")
        events.append(finish_for(reason, made_calls=self._made_calls))
        return events


async def stream(request: ProviderRequest) -> AsyncGenerator[ProviderEvent, None]:
    require_api_key(request)
    headers = {"anthropic-version": API_VERSION}
    if request.api_key:
        headers["x-api-key"] = request.api_key
    url = request.base_url.rstrip("/") + "/v1/messages"
    async with open_event_stream(
        url, json_body=request_body(request), headers=headers, detail_from_json=error_detail
    ) as (response, events):
        yield ResponseMeta(request_id=response.headers.get("request-id", ""))
        parser = EventParser()
        async for event in events:
            if not event.data:
                continue
            try:
                payload = json.loads(event.data)
            except ValueError as error:
                raise ProviderError(
                    ErrorCode.UPSTREAM_ERROR, "The model provider sent a malformed event."
                ) from error
            if not isinstance(payload, dict):
                continue
            kind = payload.get("type") or event.event
            for provider_event in parser.feed(kind, payload):
                yield provider_event
            if kind == "message_stop":
                break
        else:
            raise closed_early()
        await drain_after_end(events)
