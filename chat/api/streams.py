"""Event streams: an answer's, a conversation's; following them, and stopping answers."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from chat import conversations
from chat.api.auth import request_owner
from chat.api.errors import api_endpoint
from chat.api.serialize import message_json
from chat.engine import recovery, stopping
from chat.engine.subscribe import (
    Progress,
    answer_events,
    conversation_feed,
    event_batches,
    progress,
)
from chat.ownership import feed_position
from chat.sse import (
    PING,
    STREAM_OPEN,
    encode_event,
    encode_stream_failure,
    encode_tagged_event,
    sse_response,
)
from chat.validation import parse_seq

logger = logging.getLogger(__name__)


async def answer_stream(
    message_id: str, *, after: int = 0, on_client_gone: Callable[[], object] | None = None
) -> AsyncIterator[bytes]:
    """One answer's events after `after`, as SSE bytes, until its terminal event.

    If the client leaves first, the ASGI handler cancels this generator (or closes it at a
    yield): either way the `finally` sees an unfinished stream and calls `on_client_gone`.
    A failure on our side ends the stream with an `error` event, and counts as leaving.
    """
    yield STREAM_OPEN
    finished = False
    try:
        # aclosing: if the client leaves while we wait at a yield, the subscription ends
        # (and stops counting as a watcher) before on_client_gone runs.
        async with aclosing(
            answer_events(message_id, after, settings.CHAT_HEARTBEAT_SECONDS)
        ) as batches:
            async for batch in batches:
                # Several events that piled up go out as one write.
                if len(batch) == 1:
                    yield encode_event(batch[0])
                else:
                    yield b"".join(map(encode_event, batch)) if batch else PING
        finished = True
    except Exception:
        # Never silence: a generator that raises leaves the response open forever (and
        # daphne's application checker dies on it, for the whole process).
        logger.exception("The event stream of answer %s failed", message_id)
        yield encode_stream_failure(message_id)
    finally:
        if not finished and on_client_gone is not None:
            on_client_gone()


async def conversation_stream(
    conversation_id: str,
    unfinished_answers: Callable[[], Awaitable[list[str]]],
    resume: tuple[str, int] | None = None,
) -> AsyncIterator[bytes]:
    """A conversation's feed as SSE: events carry `message_id` and `seq`; the id is both."""
    yield STREAM_OPEN
    heartbeat = settings.CHAT_HEARTBEAT_SECONDS
    feed = conversation_feed(
        conversation_id, unfinished_answers, resume, heartbeat, event_batches(heartbeat)
    )
    try:
        async for item in feed:
            if item is None:
                yield PING
            else:
                message_id, batch = item
                yield b"".join(encode_tagged_event(message_id, event) for event in batch)
    except Exception:
        # As in answer_stream: an error event and a clean close, never silence.
        logger.exception("The event stream of conversation %s failed", conversation_id)
        yield encode_stream_failure()


def resume_point(request: HttpRequest) -> int:
    """Where a subscriber resumes: the Last-Event-ID header (EventSource sets it when it
    reconnects), else ?after=N, else the beginning."""
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after") or "0"
    return parse_seq(raw, "after / Last-Event-ID")


@api_endpoint("GET")
async def message_events(request: HttpRequest, message_id: uuid.UUID) -> HttpResponseBase:
    """Replay an answer's events after N, then follow it live until it ends.

    Leaving does not stop the answer. 204 tells an EventSource that has already seen the
    end not to reconnect.
    """
    owner = await request_owner(request)
    await conversations.aowned_answer(owner, message_id)
    key = str(message_id)
    after = resume_point(request)
    if after > 0:
        await recovery.count_reconnect(key)
    if await progress(key, after) is Progress.SEEN_ALL:
        return HttpResponse(status=204)
    return sse_response(answer_stream(key, after=after))


@api_endpoint("GET")
async def conversation_events(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponseBase:
    """Every answer of a conversation as it streams, for as long as the client stays."""
    owner = await request_owner(request)
    await conversations.aowned_conversation(owner, conversation_id)
    resume = await feed_position(owner, conversation_id, request.headers.get("Last-Event-ID", ""))

    async def unfinished() -> list[str]:
        return await conversations.aunfinished_answer_ids(owner, conversation_id)

    return sse_response(conversation_stream(str(conversation_id), unfinished, resume))


@api_endpoint("POST")
async def stop_message(request: HttpRequest, message_id: uuid.UUID) -> HttpResponseBase:
    owner = await request_owner(request)
    stopped, message = await stopping.stop_and_wait(owner, message_id)
    return JsonResponse({"stopped": stopped, "message": message_json(message)})
