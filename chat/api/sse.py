"""Server-sent events: the SSE encoding of engine events, and the streaming responses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing

from django.conf import settings
from django.http import StreamingHttpResponse

from chat.engine.subscribe import answer_events, conversation_feed, event_batches
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
        # aclosing: if the client leaves while we wait at a yield, the subscription ends
        # (and stops counting as a watcher) before on_client_gone runs.
        async with aclosing(
            answer_events(message_id, after, settings.CHAT_HEARTBEAT_SECONDS)
        ) as batches:
            async for batch in batches:
                # Several events that piled up go out as one write.
                if len(batch) == 1:
                    yield encode(batch[0])
                else:
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
    """A conversation's feed as SSE: events carry `message_id` and `seq`; the id is both."""
    yield STREAM_OPEN
    heartbeat = settings.CHAT_HEARTBEAT_SECONDS
    feed = conversation_feed(
        conversation_id, unfinished_answers, resume, heartbeat, event_batches(heartbeat)
    )
    async for item in feed:
        if item is None:
            yield PING
        else:
            message_id, batch = item
            yield b"".join(encode_tagged(message_id, event) for event in batch)


class EventStreamResponse(StreamingHttpResponse):
    """A streaming response that hands the ASGI handler our generator itself.

    StreamingHttpResponse wraps an async iterator in two more async generators (its
    `__aiter__` and `streaming_content`, which turns each part into bytes): two more frames
    to resume for every chunk, for parts that are bytes already.
    """

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterator  # type: ignore[no-any-return]


def sse_response(stream: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = EventStreamResponse(stream, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    # nginx: do not buffer this response.
    response["X-Accel-Buffering"] = "no"
    return response
