"""Server-sent events: the SSE encoding of engine events, and the streaming responses."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

from django.conf import settings
from django.http import StreamingHttpResponse

from chat.engine.notices import ConversationNotices
from chat.engine.subscribe import answer_events
from chat.events import Event

# Daphne sends no headers before the first body byte: a comment gets them out at once.
STREAM_OPEN = b": stream open\n\n"
PING = b": ping\n\n"


def encode(event: Event) -> bytes:
    return f"id: {event.seq}\nevent: {event.type}\ndata: {event.json}\n\n".encode()


def encode_tagged(message_id: str, event: Event) -> bytes:
    """For feeds carrying several answers: the id names the answer and the event."""
    return (
        f"id: {message_id}:{event.seq}\nevent: {event.type}\n"
        f"data: {event.tagged_json(message_id)}\n\n"
    ).encode()


def parse_feed_position(value: str) -> tuple[str, int] | None:
    """'<message id>:<seq>' (a feed's Last-Event-ID) as (message id, seq)."""
    message_id, _, seq = value.rpartition(":")
    return (message_id, int(seq)) if message_id and seq.isdigit() else None


async def answer_stream(
    message_id: str, *, after: int = 0, on_client_gone: Callable[[], object] | None = None
) -> AsyncIterator[bytes]:
    """One answer's events after `after`, as SSE bytes, until its terminal event.

    If the client leaves first, the ASGI handler cancels this generator (or closes it at a
    yield): either way the `finally` sees an unfinished stream and calls `on_client_gone`.
    """
    yield STREAM_OPEN
    finished = False
    try:
        async for batch in answer_events(message_id, after, settings.CHAT_HEARTBEAT_SECONDS):
            # Several events that piled up go out as one write.
            yield b"".join(map(encode, batch)) if batch else PING
        finished = True
    finally:
        if not finished and on_client_gone is not None:
            on_client_gone()


async def conversation_stream(
    conversation_id: str,
    unfinished_answers: Callable[[], Awaitable[list[str]]],
    resume: tuple[str, int] | None = None,
) -> AsyncIterator[bytes]:
    """Every answer of a conversation as it is generated, until the client leaves.

    On connect: the answers still running (from the start, or from `resume`), then each
    answer started later. Events carry `message_id` and `seq`; the SSE id is both.
    """
    yield STREAM_OPEN
    heartbeat = settings.CHAT_HEARTBEAT_SECONDS
    # Subscribe before looking for running answers, so none can start unseen in between.
    async with ConversationNotices(conversation_id) as notices:
        queue: deque[str] = deque()
        if resume is not None:
            queue.append(resume[0])
        queue.extend(await unfinished_answers())
        followed: set[str] = set()
        while True:
            if not queue:
                started = await notices.next_started(heartbeat)
                if started is None:
                    yield PING
                else:
                    queue.append(started)
                continue
            message_id = queue.popleft()
            if message_id in followed:
                continue
            followed.add(message_id)
            after = resume[1] if resume is not None and resume[0] == message_id else 0
            async for batch in answer_events(message_id, after, heartbeat):
                if batch:
                    yield b"".join(encode_tagged(message_id, event) for event in batch)
                else:
                    yield PING


def sse_response(stream: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    # nginx: do not buffer this response.
    response["X-Accel-Buffering"] = "no"
    return response
