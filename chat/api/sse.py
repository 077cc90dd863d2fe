"""Server-sent events: the SSE encoding of engine events, and the streaming response."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from django.conf import settings
from django.http import StreamingHttpResponse

from chat.eventlog import event_log, follow
from chat.events import Event

# Daphne sends no headers before the first body byte: a comment gets them out at once.
STREAM_OPEN = b": stream open\n\n"
PING = b": ping\n\n"


def encode(event: Event) -> bytes:
    return f"id: {event.seq}\nevent: {event.type}\ndata: {event.json}\n\n".encode()


async def event_stream(
    key: str, *, after: int = 0, on_client_gone: Callable[[], object] | None = None
) -> AsyncIterator[bytes]:
    """A generation's events after `after`, as SSE bytes, until its terminal event.

    If the client leaves first, the ASGI handler cancels this generator (or closes it at a
    yield): either way the `finally` sees an unfinished stream and calls `on_client_gone`.
    """
    yield STREAM_OPEN
    finished = False
    try:
        async for batch in follow(event_log(), key, after, settings.CHAT_HEARTBEAT_SECONDS):
            # Several events that piled up go out as one write.
            yield b"".join(map(encode, batch)) if batch else PING
        finished = True
    finally:
        if not finished and on_client_gone is not None:
            on_client_gone()


def sse_response(stream: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    # nginx: do not buffer this response.
    response["X-Accel-Buffering"] = "no"
    return response
