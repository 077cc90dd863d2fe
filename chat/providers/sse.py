"""Server-sent events read straight from the bytes of a provider's response.

One split per network read instead of httpx_sse's path (decode to text, then split lines,
then a Python call per line): the relay reads thousands of events per answer. Lines end in
LF, CRLF or CR; UTF-8 is decoded per complete event, so a character cut across two reads
is never seen in halves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NamedTuple

import httpx

COLON = 0x3A


class SseEvent(NamedTuple):
    event: str  # "message" when the stream named none, as the SSE spec says
    data: str


class SseParser:
    """Feed it bytes as they arrive; it returns the events completed by them."""

    __slots__ = ("_pending", "_event", "_data")

    def __init__(self) -> None:
        self._pending = b""  # the start of a line whose end has not arrived
        self._event = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[SseEvent]:
        data = self._pending + chunk if self._pending else chunk
        held = b""
        if data.endswith(b"\r"):
            # Maybe the first half of a CRLF: decide when the next byte comes.
            data, held = data[:-1], b"\r"
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        self._pending = lines.pop() + held
        events: list[SseEvent] = []
        for line in lines:
            if not line:  # a blank line ends the event
                if self._data:
                    events.append(
                        SseEvent(
                            self._event.decode("utf-8", "replace") or "message",
                            b"\n".join(self._data).decode("utf-8", "replace"),
                        )
                    )
                    self._data = []
                self._event = b""
            elif line[0] != COLON:  # a colon first makes a comment
                name, _, value = line.partition(b":")
                if value[:1] == b" ":
                    value = value[1:]
                if name == b"data":
                    self._data.append(value)
                elif name == b"event":
                    self._event = value
                # id and retry are of no use to a relay; other fields are ignored.
        return events

    def finish(self) -> list[SseEvent]:
        """At the end of the stream: a CR held back was a line end after all."""
        if not self._pending.endswith(b"\r"):
            return []
        pending, self._pending = self._pending, b""
        return self.feed(pending[:-1] + b"\n")


async def sse_events(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """The response's events; an event the stream did not finish is dropped, per spec."""
    parser = SseParser()
    # aiter_raw skips a layer of decoders that do nothing to an uncompressed stream.
    encoding = response.headers.get("content-encoding", "").strip().lower()
    chunks = response.aiter_raw() if encoding in ("", "identity") else response.aiter_bytes()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
    for event in parser.finish():
        yield event
