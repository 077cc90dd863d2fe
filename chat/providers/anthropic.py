"""Anthropic's Messages API, streamed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from chat.errors import ErrorCode
from chat.providers.base import (
    ChatMessage,
    Finish,
    ProviderError,
    ProviderEvent,
    ProviderRequest,
    ResponseMeta,
    TextDelta,
    Usage,
    require_api_key,
)
from chat.providers.http import closed_early, drain_after_end, open_event_stream

API_VERSION = "2023-06-01"

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def error_detail(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("message") if isinstance(error, dict) else None


def alternating_turns(messages: tuple[ChatMessage, ...]) -> list[dict[str, str]]:
    """Anthropic wants user/assistant turns alternating and starting with the user.

    A history cut by history_limit can start with an answer, and a failed answer with no
    text leaves two user messages in a row: drop the first, merge the second.
    """
    turns: list[dict[str, str]] = []
    for message in messages:
        if not turns and message.role != "user":
            continue
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    return turns


def request_body(request: ProviderRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": alternating_turns(request.messages),
        "stream": True,
    }
    if request.system:
        body["system"] = request.system
    if request.temperature is not None:
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


async def stream(request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
    require_api_key(request)
    headers = {"anthropic-version": API_VERSION}
    if request.api_key:
        headers["x-api-key"] = request.api_key
    url = request.base_url.rstrip("/") + "/v1/messages"
    async with open_event_stream(
        url, json_body=request_body(request), headers=headers, detail_from_json=error_detail
    ) as (response, events):
        yield ResponseMeta(request_id=response.headers.get("request-id", ""))
        async for event in events:
            if not event.data:
                continue
            try:
                payload = json.loads(event.data)
            except ValueError as error:
                raise ProviderError(
                    ErrorCode.UPSTREAM_ERROR, "The model provider sent a malformed event."
                ) from error
            kind = payload.get("type") or event.event
            if kind == "content_block_delta":
                delta = payload.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    yield TextDelta(delta["text"])
            elif kind == "message_start":
                usage = (payload.get("message") or {}).get("usage") or {}
                yield Usage(input_tokens=usage.get("input_tokens"))
            elif kind == "message_delta":
                stop_reason = (payload.get("delta") or {}).get("stop_reason")
                if stop_reason:
                    yield Finish(STOP_REASONS.get(stop_reason, stop_reason))
                usage = payload.get("usage") or {}
                if usage.get("output_tokens") is not None:
                    yield Usage(output_tokens=usage["output_tokens"])
            elif kind == "message_stop":
                break
            elif kind == "error":
                raise stream_error(payload)
            # ping, content_block_start/stop and event types added later are ignored.
        else:
            raise closed_early()
        await drain_after_end(events)
