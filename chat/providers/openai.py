"""OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, llama.cpp, LM Studio, OpenRouter)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
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
    ToolSpec,
    Usage,
    finish_for,
    require_api_key,
)
from chat.providers.history import paired_tool_results
from chat.providers.http import closed_early, drain_after_end, open_event_stream
from chat.providers.think_tags import ThinkTagSplitter
from chat.providers.tool_calls import OpenAIToolCalls

FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    # Said by some compatible servers instead of OpenAI's words.
    "eos": "stop",
    "end_turn": "stop",
    "max_tokens": "length",
    "model_length": "length",
}


def error_detail(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return error.get("message")
    return error if isinstance(error, str) else None


def content_json(message: ChatMessage) -> str | list[dict[str, Any]]:
    if isinstance(message.content, str) or not message.images:
        return message.text  # a plain string: the one form every compatible server takes
    return [
        {
            "type": "image_url",
            "image_url": {"url": f"data:{part.media_type};base64,{part.data}"},
        }
        if isinstance(part, ImagePart)
        else {"type": "text", "text": part.text}
        for part in message.content
    ]


def message_json(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        # The format has no error flag: the words have to say it.
        text = f"Error: {message.text}" if message.is_error else message.text
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": text}
    if message.role == "assistant" and message.tool_calls:
        # Reasoning is not sent back: DeepSeek refuses it, and the others ignore it.
        return {
            "role": "assistant",
            "content": message.text or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in message.tool_calls
            ],
        }
    return {"role": message.role, "content": content_json(message)}


def tool_json(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def tool_choice_json(choice: str) -> str | dict[str, Any]:
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def request_body(request: ProviderRequest) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.extend(message_json(m) for m in paired_tool_results(request.messages))
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
    if request.tools:
        body["tools"] = [tool_json(tool) for tool in request.tools]
        # "auto" is the default with tools; some servers refuse it when said explicitly.
        if request.tool_choice != "auto":
            body["tool_choice"] = tool_choice_json(request.tool_choice)
    if request.reasoning_effort:
        body["reasoning_effort"] = request.reasoning_effort
    return body


def usage_event(usage: dict[str, Any]) -> Usage:
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), reasoning)


class ChunkParser:
    """The events of one response, from its chunks; `finish` at `[DONE]`."""

    def __init__(self) -> None:
        self._think_tags = ThinkTagSplitter()
        self._tool_calls = OpenAIToolCalls()
        self._reasoning: list[str] = []
        self._finish_reason = ""

    def feed(self, data: str) -> list[ProviderEvent]:
        try:
            return self._read_chunk(json.loads(data))
        except (ValueError, AttributeError, KeyError, TypeError) as error:
            # Not JSON, or a field of the wrong type.
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR, "The model provider sent a malformed chunk."
            ) from error

    def _read_chunk(self, chunk: Any) -> list[ProviderEvent]:
        if not isinstance(chunk, dict):
            return []
        if "error" in chunk:
            raise ProviderError(
                ErrorCode.UPSTREAM_ERROR,
                f"The model provider failed mid-answer: {error_detail(chunk) or 'unknown'}",
            )
        events: list[ProviderEvent] = []
        for choice in chunk.get("choices") or ():
            # We ask for one choice; a server sending more gets only the first one read.
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._read_delta(delta, events)
            if isinstance(choice.get("finish_reason"), str):
                self._finish_reason = choice["finish_reason"]
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            events.append(usage_event(usage))
        return events

    def _read_delta(self, delta: dict[str, Any], events: list[ProviderEvent]) -> None:
        # DeepSeek and LiteLLM say reasoning_content; OpenRouter, Ollama and newer vLLM say
        # reasoning; a server in transition sends both, with the same text.
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            self._reasoning.append(reasoning)
            events.append(ReasoningDelta(reasoning))
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._read_content(self._think_tags.feed(content), events)
        if delta.get("tool_calls"):
            self._end_reasoning(events)
            events.extend(self._tool_calls.feed(delta["tool_calls"]))

    def _read_content(self, pieces: list[tuple[bool, str]], events: list[ProviderEvent]) -> None:
        for is_reasoning, text in pieces:
            if is_reasoning:
                self._reasoning.append(text)
                events.append(ReasoningDelta(text))
            else:
                self._end_reasoning(events)
                events.append(TextDelta(text))

    def _end_reasoning(self, events: list[ProviderEvent]) -> None:
        if self._reasoning:
            events.append(ReasoningDone(ReasoningBlock("".join(self._reasoning))))
            self._reasoning = []

    def finish(self) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        self._read_content(self._think_tags.finish(), events)
        self._end_reasoning(events)
        made_calls = bool(self._tool_calls)
        events.extend(self._tool_calls.finish())
        reason = FINISH_REASONS.get(self._finish_reason, "stop")
        events.append(finish_for(reason, made_calls=made_calls))
        return events


async def stream(request: ProviderRequest) -> AsyncGenerator[ProviderEvent, None]:
    require_api_key(request)
    headers = {"Authorization": f"Bearer {request.api_key}"} if request.api_key else {}
    url = request.base_url.rstrip("/") + "/chat/completions"
    async with open_event_stream(
        url, json_body=request_body(request), headers=headers, detail_from_json=error_detail
    ) as (response, events):
        yield ResponseMeta(request_id=response.headers.get("x-request-id", ""))
        parser = ChunkParser()
        async for event in events:
            data = event.data
            if data == "[DONE]":
                break
            if not data:
                continue
            for provider_event in parser.feed(data):
                yield provider_event
        else:
            raise closed_early()
        for provider_event in parser.finish():
            yield provider_event
        await drain_after_end(events)
