"""Starting answers: a new message, a regenerated answer, an edited message."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse

from chat.api.auth import request_owner
from chat.api.errors import ApiError, api_endpoint, error_response
from chat.api.payloads import (
    AnswerOptions,
    answer_options,
    chat_payload,
    json_body,
    message_text,
    optional_json_body,
)
from chat.api.streams import answer_stream
from chat.engine import runtime
from chat.engine.generation import Generation, StopReason
from chat.engine.subscribe import answer_events
from chat.errors import ChatError, ErrorCode
from chat.events import EventType
from chat.ratelimit import enforce_rate_limit
from chat.sse import sse_response


async def respond(
    generation: Generation, options: AnswerOptions, *, force_stream: bool = False
) -> HttpResponseBase:
    """Stream the answer (SSE), or wait for it and answer JSON."""
    if options.stream or force_stream:
        return streaming_answer(generation, resumable=options.resumable)
    try:
        return await whole_answer(generation)
    except asyncio.CancelledError:
        # The client hung up on a non-streaming request: the answer has no reader.
        generation.stop(StopReason.CLIENT_GONE)
        raise


def streaming_answer(generation: Generation, *, resumable: bool) -> HttpResponseBase:
    def client_gone() -> None:
        # The answer runs in this process: it was started by this very request.
        generation.stop(StopReason.CLIENT_GONE)

    return sse_response(
        answer_stream(generation.key, on_client_gone=None if resumable else client_gone)
    )


async def whole_answer(generation: Generation) -> JsonResponse:
    message: dict[str, Any] = {}
    ending: dict[str, Any] = {}
    async for batch in answer_events(generation.key, 0, heartbeat=60.0):
        for event in batch:
            if event.type == EventType.MESSAGE:
                message = event.data
            elif event.terminal:
                ending = {"type": event.type, **event.data}
    conversation_id = str(generation.turn.conversation_id)
    answer = {
        "id": generation.key,
        "role": "assistant",
        "content": message.get("content", ""),
        "status": message.get("status"),
        "finish_reason": ending.get("finish_reason"),
    }
    if ending.get("type") == EventType.ERROR:
        code = ErrorCode(ending["error_code"])
        retry_after = ending.get("retry_after")
        # The provider refusing the server's key is a gateway failure, not the caller's 401.
        error = (
            ApiError(code, ending["error"], status=502, retry_after=retry_after)
            if code == ErrorCode.AUTH
            else ChatError(code, ending["error"], retry_after=retry_after)
        )
        answer["finish_reason"] = "error"
        return error_response(error, conversation_id=conversation_id, message=answer)
    usage = ending.get("usage") or {}
    return JsonResponse(
        {
            "conversation_id": conversation_id,
            "message": answer,
            "usage": {
                "input_tokens": usage.get("input_tokens"),
                "output_tokens": usage.get("output_tokens"),
                "total_tokens": ending.get("total_tokens"),
            },
            "response_time": ending.get("response_time"),
        }
    )


async def start_chat(request: HttpRequest, *, force_stream: bool) -> HttpResponseBase:
    owner = await request_owner(request, create_anonymous=True)
    payload = chat_payload(request)
    await enforce_rate_limit(owner)
    generation = await runtime.start_generation(
        owner=owner,
        text=payload.message,
        conversation_id=payload.conversation_id,
        model_name=payload.options.model,
    )
    return await respond(generation, payload.options, force_stream=force_stream)


@api_endpoint("POST")
async def chat(request: HttpRequest) -> HttpResponseBase:
    return await start_chat(request, force_stream=False)


@api_endpoint("POST")
async def chat_stream(request: HttpRequest) -> HttpResponseBase:
    return await start_chat(request, force_stream=True)


@api_endpoint("POST")
async def regenerate(request: HttpRequest, message_id: uuid.UUID) -> HttpResponseBase:
    """Answer again: the answer `message_id` and anything after it are replaced."""
    owner = await request_owner(request)
    options = answer_options(optional_json_body(request))
    await enforce_rate_limit(owner)
    generation = await runtime.rerun_generation(
        owner=owner, message_id=message_id, text=None, model_name=options.model
    )
    return await respond(generation, options)


@api_endpoint("POST")
async def edit(request: HttpRequest, message_id: uuid.UUID) -> HttpResponseBase:
    """Change one of your messages and answer it again; later messages are replaced."""
    owner = await request_owner(request)
    payload = json_body(request)
    text = message_text(payload)
    options = answer_options(payload)
    await enforce_rate_limit(owner)
    generation = await runtime.rerun_generation(
        owner=owner, message_id=message_id, text=text, model_name=options.model
    )
    return await respond(generation, options)
