"""Models and conversations: listing, reading, deleting."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from chat import conversations
from chat.api.auth import request_owner
from chat.api.errors import api_endpoint
from chat.api.serialize import conversation_summary_json, message_json, model_json
from chat.db import in_thread_pool
from chat.engine import stopping
from chat.errors import ChatError, ErrorCode
from chat.models import ModelConfig
from chat.owners import Owner

CONVERSATION_PAGE_MAX = 200


@in_thread_pool
def enabled_models() -> list[dict[str, Any]]:
    return [model_json(c) for c in ModelConfig.objects.filter(enabled=True)]


@api_endpoint("GET")
async def models(request: HttpRequest) -> HttpResponse:
    await request_owner(request, create_anonymous=True)
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
async def conversation_list(request: HttpRequest) -> HttpResponse:
    owner = await request_owner(request)
    limit = query_int(request, "limit", 50, CONVERSATION_PAGE_MAX)
    offset = query_int(request, "offset", 0, 10**9)
    rows, has_more = await conversations.aconversation_page(owner, limit, offset)
    return JsonResponse(
        {"conversations": [conversation_summary_json(c) for c in rows], "has_more": has_more}
    )


@in_thread_pool
def conversation_detail(owner: Owner, conversation_id: uuid.UUID) -> dict[str, Any]:
    conversation = conversations.owned_conversation(owner, conversation_id)
    return {
        **conversation_summary_json(conversation),
        "messages": [message_json(m) for m in conversations.messages_of(conversation)],
    }


@api_endpoint("GET", "DELETE")
async def conversation(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    owner = await request_owner(request)
    if request.method == "DELETE":
        await stopping.delete_conversation_and_stop(owner, conversation_id)
        return HttpResponse(status=204)
    return JsonResponse(await conversation_detail(owner, conversation_id))
