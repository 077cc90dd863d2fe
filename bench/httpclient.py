"""Just enough HTTP/1.1 client for the load generator, on a bare asyncio Protocol.

httpx would cost the load generator more CPU per token than the relay it measures; this
parses a response as the bytes arrive (a head, then a chunked, sized or until-close body)
and hands every body piece to a sink with the time it was read, so a token's arrival is
stamped when its bytes reach the process, not when some coroutine gets round to it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

HEAD_END = b"\r\n\r\n"
CRLF = b"\r\n"
MAX_HEAD_BYTES = 64 * 1024

# Receives each piece of a response body with the perf_counter() time it was read.
BodySink = Callable[[bytes, float], None]


class HttpError(Exception):
    """The server's bytes were not an HTTP/1.1 response we understand, or it hung up."""


@dataclass
class ResponseInfo:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    head_at: float = 0.0
    ended_at: float = 0.0
    keep_alive: bool = True


def build_request(
    method: str, host: str, port: int, path: str, headers: dict[str, str], body: Any
) -> bytes:
    """A complete request; `body` is sent as JSON (None sends no body)."""
    payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buffer = bytearray()
        self._waiter: asyncio.Future[ResponseInfo] | None = None
        self._sink: BodySink | None = None
        self._info = ResponseInfo()
        self._parse: Callable[[float], None] = self._parse_idle
        self._chunk_left = 0
        self._length_left = 0

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        loop = asyncio.get_running_loop()
        _transport, connection = await loop.create_connection(cls, host, port)
        return connection

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Duck-typed: uvloop's transports are no subclass of asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # A request must leave at once, not when Nagle's algorithm decides.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self._buffer += data
        try:
            self._parse(now)
        except HttpError as error:
            self._fail(error)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._parse == self._parse_until_close:
            self._finish(time.perf_counter())
        elif self._waiter is not None:
            self._fail(HttpError(f"connection closed mid-response ({exc or 'EOF'})"))

    # -- requests --

    @property
    def reusable(self) -> bool:
        return not self.closed and self._waiter is None

    def request(self, raw: bytes, sink: BodySink | None = None) -> asyncio.Future[ResponseInfo]:
        """Send a prepared request; the future resolves once the whole body was read."""
        if not self.reusable or self.transport is None:
            raise HttpError("connection is busy or closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self._sink = sink
        self._info = ResponseInfo()
        self._parse = self._parse_head
        self.transport.write(raw)
        return self._waiter

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once, as a client giving up does."""
        if self.transport is not None and not self.closed:
            self.transport.abort()

    # -- parsing: each state consumes what it can from the buffer --

    def _parse_idle(self, now: float) -> None:
        if self._buffer:
            raise HttpError("bytes arrived with no request outstanding")

    def _parse_head(self, now: float) -> None:
        end = self._buffer.find(HEAD_END)
        if end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise HttpError("response head too large")
            return
        head = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[: end + len(HEAD_END)]
        status_line, *header_lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpError(f"bad status line {status_line!r}")
        info = self._info
        info.status = int(parts[1])
        info.head_at = now
        for line in header_lines:
            name, _, value = line.partition(":")
            info.headers[name.strip().lower()] = value.strip()
        connection = info.headers.get("connection", "").lower()
        info.keep_alive = connection != "close" and parts[0] == "HTTP/1.1"
        if "chunked" in info.headers.get("transfer-encoding", "").lower():
            self._chunk_left = -1
            self._parse = self._parse_chunked
        elif "content-length" in info.headers:
            self._length_left = int(info.headers["content-length"])
            self._parse = self._parse_sized
        else:
            info.keep_alive = False
            self._parse = self._parse_until_close
        self._parse(now)

    def _parse_sized(self, now: float) -> None:
        take = min(self._length_left, len(self._buffer))
        if take:
            self._deliver(bytes(self._buffer[:take]), now)
            del self._buffer[:take]
            self._length_left -= take
        if self._length_left == 0:
            self._finish(now)

    def _parse_until_close(self, now: float) -> None:
        if self._buffer:
            self._deliver(bytes(self._buffer), now)
            self._buffer.clear()

    def _parse_chunked(self, now: float) -> None:
        # _chunk_left: -1 waiting for a size line, >0 bytes of chunk data to come,
        # 0 the CRLF after chunk data, -2 trailers after the last chunk.
        buffer = self._buffer
        position = 0
        pieces: list[bytes] = []
        while True:
            if self._chunk_left > 0:
                take = min(self._chunk_left, len(buffer) - position)
                if take == 0:
                    break
                pieces.append(bytes(buffer[position : position + take]))
                position += take
                self._chunk_left -= take
                continue
            end = buffer.find(CRLF, position)
            if end < 0:
                break
            line = bytes(buffer[position:end])
            position = end + 2
            if self._chunk_left == 0:
                if line:
                    raise HttpError("chunk data longer than its size")
                self._chunk_left = -1
            elif self._chunk_left == -1:
                try:
                    size = int(line.split(b";", 1)[0], 16)
                except ValueError as error:
                    raise HttpError(f"bad chunk size line {line!r}") from error
                self._chunk_left = size if size else -2
            elif not line:  # the blank line ending the trailers: the body is complete
                del buffer[:position]
                if pieces:
                    self._deliver(b"".join(pieces), now)
                self._finish(now)
                return
        del buffer[:position]
        if pieces:
            self._deliver(b"".join(pieces), now)

    def _deliver(self, data: bytes, now: float) -> None:
        if self._sink is not None:
            self._sink(data, now)

    def _finish(self, now: float) -> None:
        self._info.ended_at = now
        self._parse = self._parse_idle
        waiter, self._waiter = self._waiter, None
        if not self._info.keep_alive:
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(self._info)

    def _fail(self, error: Exception) -> None:
        self._parse = self._parse_idle
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)


class Collector:
    """A whole body, for non-streaming requests."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def __call__(self, data: bytes, now: float) -> None:
        self.parts.append(data)

    @property
    def body(self) -> bytes:
        return b"".join(self.parts)
