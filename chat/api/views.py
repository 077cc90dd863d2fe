"""API endpoints: authenticate, validate, start or subscribe, encode. Nothing else."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from channels.db import database_sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse

from chat import conversations as conversations_store
from chat.api.auth import authenticate
from chat.api.errors import ApiError, api_endpoint, error_response
from chat.api.payloads import ChatPayload, chat_payload
from chat.api.ratelimit import enforce_rate_limit
from chat.api.serialize import conversation_summary_json, message_json, model_json
from chat.api.sse import event_stream, sse_response
from chat.engine import runtime
from chat.engine.generation import Generation, StopReason
from chat.errors import ChatError, ErrorCode
from chat.eventlog import event_log, follow
from chat.events import EventType
from chat.models import ModelConfig
from chat.owners import Owner

# How long POST .../stop waits for the generation to write its final state.
STOP_WAIT_SECONDS = 5.0
CONVERSATION_PAGE_MAX = 200

owned_message = database_sync_to_async(conversations_store.owned_message)
conversation_page = database_sync_to_async(conversations_store.conversation_page)
delete_conversation = database_sync_to_async(conversations_store.delete_conversation)


async def authenticated_owner(request: HttpRequest) -> Owner:
    return Owner.user((await authenticate(request)).pk)


async def start(request: HttpRequest) -> tuple[ChatPayload, Generation]:
    owner = await authenticated_owner(request)
    payload = chat_payload(request)
    await enforce_rate_limit(owner)
    generation = await runtime.start_generation(
        owner=owner,
        text=payload.message,
        conversation_id=payload.conversation_id,
        model_name=payload.model,
    )
    return payload, generation


def streaming_answer(generation: Generation) -> HttpResponse:
    key = generation.key
    return sse_response(
        event_stream(key, on_client_gone=lambda: runtime.stop(key, StopReason.CLIENT_GONE))
    )


@api_endpoint("POST")
async def chat(request: HttpRequest) -> HttpResponse:
    payload, generation = await start(request)
    if payload.stream:
        return streaming_answer(generation)
    try:
        return await whole_answer(generation)
    except asyncio.CancelledError:
        # The client hung up on a non-streaming request: the answer has no reader.
        runtime.stop(generation.key, StopReason.CLIENT_GONE)
        raise


@api_endpoint("POST")
async def chat_stream(request: HttpRequest) -> HttpResponse:
    _payload, generation = await start(request)
    return streaming_answer(generation)


async def whole_answer(generation: Generation) -> JsonResponse:
    message: dict[str, Any] = {}
    ending: dict[str, Any] = {}
    async for batch in follow(event_log(), generation.key, 0, heartbeat=60.0):
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


async def wait_until_finished(key: str, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            async for _batch in follow(event_log(), key, 0, heartbeat=seconds):
                pass
    except TimeoutError:
        pass


@api_endpoint("POST")
async def stop_message(request: HttpRequest, message_id: uuid.UUID) -> HttpResponse:
    owner = await authenticated_owner(request)
    await owned_message(owner, message_id)
    key = str(message_id)
    stopped = runtime.stop(key, StopReason.USER)
    if stopped:
        await wait_until_finished(key, STOP_WAIT_SECONDS)
    message = await owned_message(owner, message_id)
    return JsonResponse({"stopped": stopped, "message": message_json(message)})


@database_sync_to_async
def enabled_models() -> list[dict[str, Any]]:
    return [model_json(c) for c in ModelConfig.objects.filter(enabled=True)]


@api_endpoint("GET")
async def models(request: HttpRequest) -> HttpResponse:
    await authenticated_owner(request)
    return JsonResponse({"models": await enabled_models()})


def query_int(request: HttpRequest, name: str, default: int, maximum: int) -> int:
    raw = request.GET.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ChatError(ErrorCode.BAD_REQUEST, f"{name} must be a whole number.") from error
    if not 0 <= value <= maximum:
        raise ChatError(ErrorCode.BAD_REQUEST, f"{name} must be between 0 and {maximum}.")
    return value


@api_endpoint("GET")
async def conversations(request: HttpRequest) -> HttpResponse:
    owner = await authenticated_owner(request)
    limit = query_int(request, "limit", 50, CONVERSATION_PAGE_MAX)
    offset = query_int(request, "offset", 0, 10**9)
    rows, has_more = await conversation_page(owner, limit, offset)
    return JsonResponse(
        {"conversations": [conversation_summary_json(c) for c in rows], "has_more": has_more}
    )


@database_sync_to_async
def conversation_detail(owner: Owner, conversation_id: uuid.UUID) -> dict[str, Any]:
    conversation = conversations_store.owned_conversation(owner, conversation_id)
    return {
        **conversation_summary_json(conversation),
        "messages": [message_json(m) for m in conversations_store.messages_of(conversation)],
    }


@api_endpoint("GET", "DELETE")
async def conversation(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    owner = await authenticated_owner(request)
    if request.method == "DELETE":
        for message_id in await delete_conversation(owner, conversation_id):
            runtime.stop(message_id, StopReason.USER)
        return HttpResponse(status=204)
    return JsonResponse(await conversation_detail(owner, conversation_id))
