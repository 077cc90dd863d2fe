"""Following answers that are running or done, and stopping them."""

from __future__ import annotations

import asyncio
import uuid

from django.http import HttpRequest, HttpResponse, JsonResponse

from chat import conversations
from chat.api.auth import request_owner
from chat.api.errors import api_endpoint
from chat.api.serialize import message_json
from chat.api.sse import answer_stream, conversation_stream, parse_feed_position, sse_response
from chat.engine import replay, runtime
from chat.engine.generation import StopReason
from chat.engine.subscribe import Progress, answer_events, progress
from chat.errors import ChatError, ErrorCode
from chat.models import UNFINISHED_STATUSES, Status
from chat.owners import Owner

# How long POST .../stop waits for the generation to write its final state.
STOP_WAIT_SECONDS = 5.0

owned_message = conversations.aowned_message
owned_conversation = conversations.aowned_conversation
unfinished_answer_ids = conversations.aunfinished_answer_ids


def resume_point(request: HttpRequest) -> int:
    """Where a subscriber resumes: the Last-Event-ID header (EventSource sets it when it
    reconnects), else ?after=N, else the beginning."""
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after") or "0"
    if not raw.isdigit():
        raise ChatError(ErrorCode.BAD_REQUEST, "after / Last-Event-ID must be a whole number.")
    return int(raw)


@api_endpoint("GET")
async def message_events(request: HttpRequest, message_id: uuid.UUID) -> HttpResponse:
    """Replay an answer's events after N, then follow it live until it ends.

    Leaving does not stop the answer. 204 tells an EventSource that has already seen the
    end not to reconnect.
    """
    owner = await request_owner(request)
    await owned_message(owner, message_id)
    key = str(message_id)
    after = resume_point(request)
    if after > 0:
        await replay.count_reconnect(key)
    if await progress(key, after) is Progress.SEEN_ALL:
        return HttpResponse(status=204)
    return sse_response(answer_stream(key, after=after))


@api_endpoint("GET")
async def conversation_events(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Every answer of a conversation as it streams, for as long as the client stays."""
    owner = await request_owner(request)
    await owned_conversation(owner, conversation_id)
    resume = parse_feed_position(request.headers.get("Last-Event-ID", ""))

    async def unfinished() -> list[str]:
        return await unfinished_answer_ids(owner, conversation_id)

    return sse_response(conversation_stream(str(conversation_id), unfinished, resume))


async def stop_answer(owner: Owner, message_id: uuid.UUID) -> tuple[bool, dict[str, object]]:
    """Stop an answer wherever it runs and wait (boundedly) for its final write.

    Shared by HTTP and sockets. True if the answer was running and is now stopped.
    """
    message = await owned_message(owner, message_id)
    if message.status not in UNFINISHED_STATUSES:
        return False, message_json(message)
    key = str(message_id)
    if await runtime.request_stop(key, StopReason.USER):
        try:
            async with asyncio.timeout(STOP_WAIT_SECONDS):
                async for _batch in answer_events(
                    key, 0, heartbeat=STOP_WAIT_SECONDS, client=False
                ):
                    pass
        except TimeoutError:
            pass
    message = await owned_message(owner, message_id)
    return message.status == Status.STOPPED, message_json(message)


@api_endpoint("POST")
async def stop_message(request: HttpRequest, message_id: uuid.UUID) -> HttpResponse:
    owner = await request_owner(request)
    stopped, message = await stop_answer(owner, message_id)
    return JsonResponse({"stopped": stopped, "message": message})
