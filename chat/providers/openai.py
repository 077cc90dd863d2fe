"""OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, llama.cpp, LM Studio, OpenRouter)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from chat.errors import ErrorCode
from chat.providers.base import (
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


def error_detail(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return error.get("message")
    return error if isinstance(error, str) else None


def request_body(request: ProviderRequest) -> dict[str, Any]:
    messages: list[dict[str, str]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.extend({"role": m.role, "content": m.content} for m in request.messages)
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        # max_tokens, not max_completion_tokens: it is the field every compatible server takes.
        "max_tokens": request.max_tokens,
    }
    if request.temperature is not None:
        body["temperature"] = request.temperature
    return body


async def stream(request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
    require_api_key(request)
    headers = {"Authorization": f"Bearer {request.api_key}"} if request.api_key else {}
    url = request.base_url.rstrip("/") + "/chat/completions"
    async with open_event_stream(
        url, json_body=request_body(request), headers=headers, detail_from_json=error_detail
    ) as (response, events):
        yield ResponseMeta(request_id=response.headers.get("x-request-id", ""))
        async for event in events:
            data = event.data
            if data == "[DONE]":
                break
            if not data:
                continue
            try:
                chunk = json.loads(data)
            except ValueError as error:
                raise ProviderError(
                    ErrorCode.UPSTREAM_ERROR, "The model provider sent a malformed chunk."
                ) from error
            if not isinstance(chunk, dict):
                continue
            if "error" in chunk:
                raise ProviderError(
                    ErrorCode.UPSTREAM_ERROR,
                    f"The model provider failed mid-answer: {error_detail(chunk) or 'unknown'}",
                )
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if text:
                    yield TextDelta(text)
                if choice.get("finish_reason"):
                    yield Finish(choice["finish_reason"])
            usage = chunk.get("usage")
            if usage:
                yield Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        else:
            raise closed_early()
        await drain_after_end(events)
