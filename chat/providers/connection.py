"""One HTTP/1.1 connection to a provider, parsed by httptools as the bytes arrive.

The relay reads thousands of small body chunks per answer. httpcore hands each read to h11
(pure Python: a regex per chunk-size line, an event object per piece) through several
layers of async generators; here llhttp (httptools, in C, the parser uvicorn uses) calls
`on_body` straight from `data_received`, and a reader waiting for the body is woken once
per network read. Sockets are plain asyncio protocols: no anyio cancel scope, no timer
per read (one lazily re-armed read-timeout timer per connection).

Errors are httpx's own exceptions, as the provider code expects from any httpx transport.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

import httptools
import httpx

# Stop reading from a socket whose unread body passes this; resume below a quarter of it.
HIGH_WATER = 256 * 1024


class _Expired(Exception):
    """A wait ran past its deadline."""


class UpstreamConnection(asyncio.Protocol):
    """A socket carrying one request at a time, and the response coming back on it."""

    def __init__(self, origin: tuple[str, str, int]) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.busy = False
        self.idle_since = 0.0
        self.error: Exception | None = None
        # The response in progress.
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.keep_alive = False
        self.framed = False  # Content-Length or chunked: an early EOF cuts the body short
        self.complete = False
        # A list, not a deque: it holds a chunk or two at a time, on every open stream.
        self.body: list[bytes] = []
        self.buffered = 0
        self.reading_paused = False
        # The one coroutine waiting for bytes, and the read-timeout timer.
        self.waiter: asyncio.Future[None] | None = None
        self.deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.writing_paused = False
        self.drained: asyncio.Future[None] | None = None

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Duck-typed, never isinstance: uvloop's TCPTransport (uvicorn's and granian's loop)
        # is no subclass of asyncio.Transport, and a failing check here is swallowed by the
        # loop, leaving a connection that never delivers a byte.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self.busy:
            # Bytes on an idle connection (or after its response): it is no longer usable.
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP response: {error}"))
            self.close()
            return
        if self.buffered > HIGH_WATER and not self.reading_paused and self.transport:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._on_end(None)
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_end(exc)
        self.cancel_timer()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    # -- httptools callbacks --

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or (
            lowered == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        # Asked now: llhttp forgets it once the message is complete.
        self.keep_alive = self.parser.should_keep_alive()
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        self.complete = True

    # -- the exchange --

    async def send(self, data: bytes, timeout: float | None) -> None:  # noqa: ASYNC109
        """Write a request; the response starts from scratch."""
        if self.closed or self.transport is None or self.transport.is_closing():
            raise httpx.WriteError("the connection is closed")
        self.busy = True
        self.transport.write(data)
        if not self.writing_paused:
            return
        drained = self.drained = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await drained
        except TimeoutError as error:
            raise httpx.WriteTimeout("timed out writing to the server") from error
        finally:
            self.drained = None
        if self.error is not None:
            raise httpx.WriteError(str(self.error))

    async def read_head(self, timeout: float | None) -> None:  # noqa: ASYNC109
        while not self.head_done:
            if self.closed:
                raise self.error or httpx.RemoteProtocolError(
                    "Server disconnected without sending a response."
                )
            await self._wait(timeout)

    async def read_body(self, timeout: float | None) -> bytes:  # noqa: ASYNC109
        """The body bytes received so far (waiting for some); b"" once the body is complete."""
        while not self.body:
            if self.complete:
                return b""
            if self.closed:
                if self.error is not None:
                    raise self.error
                if self.framed:
                    raise httpx.RemoteProtocolError(
                        "peer closed connection without sending complete message body"
                    )
                return b""  # a body delimited by the end of the connection
            await self._wait(timeout)
        data = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.body.clear()
        self.buffered = 0
        if self.reading_paused and self.transport:
            self.reading_paused = False
            self.transport.resume_reading()
        return data

    @property
    def reusable(self) -> bool:
        """The response was read to its end and the server keeps the connection open."""
        return self.complete and self.keep_alive and not self.closed

    def reset(self) -> None:
        """Ready for the next request on this connection."""
        self.parser = httptools.HttpResponseParser(self)
        self.busy = False
        self.idle_since = time.monotonic()
        self.status, self.reason, self.headers = 0, b"", []
        self.head_done = self.keep_alive = self.framed = self.complete = False

    def close(self) -> None:
        self.cancel_timer()
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True

    # -- waiting, with one read-timeout timer per connection --

    async def _wait(self, seconds: float | None) -> None:
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        if seconds is not None:
            # Push the deadline back; the timer already pending re-arms itself when it
            # fires early, so a busy stream costs one timer per `seconds`, not per read.
            self.deadline = loop.time() + seconds
            if self.timer is not None and self.timer.when() > self.deadline:
                self.cancel_timer()  # a shorter timeout than the pending timer's
            if self.timer is None:
                self.timer = loop.call_at(self.deadline, self._on_timer)
        try:
            await waiter
        except _Expired as error:
            raise httpx.ReadTimeout("timed out reading from the server") from error
        finally:
            self.waiter = None

    def _on_timer(self) -> None:
        self.timer = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self.deadline:
            self.timer = loop.call_at(self.deadline, self._on_timer)
        else:
            waiter.set_exception(_Expired())

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_end(self, exc: Exception | None) -> None:
        if exc is not None and self.error is None and self.busy:
            self.error = httpx.ReadError(str(exc) or "connection reset")
        self.closed = True
        self._wake()

    def _fail(self, error: Exception) -> None:
        self.error = error
        self._wake()
