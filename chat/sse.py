"""Server-sent events framing, for every transport that streams over HTTP (api/, web/)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from django.http import StreamingHttpResponse

from chat.engine.event_builder import stream_failure
from chat.events import Event, event_json

# Daphne sends no headers before the first body byte: a comment gets them out at once.
STREAM_OPEN = b": stream open\n\n"
PING = b": ping\n\n"


def sse_event(event_id: str | int | None, name: str, data_json: str) -> bytes:
    """One event: `id:` (unless None), `event:`, one `data:` line of JSON, the blank line."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {data_json}\n\n".encode()


def encode_event(event: Event) -> bytes:
    """An answer's own stream: the id is the event's sequence number."""
    return sse_event(event.seq, event.type, event.json)


def encode_tagged_event(message_id: str, event: Event) -> bytes:
    """For feeds carrying several answers: the id names the answer and the event."""
    return sse_event(f"{message_id}:{event.seq}", event.type, event.tagged_json(message_id))


def encode_stream_failure(message_id: str | None = None) -> bytes:
    """The last event of a stream that failed on the server. It has no id, so a client
    that reconnects resumes after the last event it really received."""
    event_type, data = stream_failure(message_id)
    return sse_event(None, event_type, event_json(event_type, data))


class EventStreamResponse(StreamingHttpResponse):
    """A streaming response that hands the ASGI handler our generator itself.

    StreamingHttpResponse wraps an async iterator in two more async generators (its
    `__aiter__` and `streaming_content`, which turns each part into bytes): two more frames
    to resume for every chunk, for parts that are bytes already.
    """

    def __init__(self, stream: AsyncIterator[bytes], **kwargs: Any) -> None:
        super().__init__(stream, **kwargs)
        self._stream = stream

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream


def sse_response(stream: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = EventStreamResponse(stream, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    # nginx: do not buffer this response.
    response["X-Accel-Buffering"] = "no"
    return response
