"""Just enough HTTP/1.1 on asyncio streams: keep-alive requests in, chunked bodies out.

The `Connection` also watches the socket while a response streams so that a client
going away is noticed at once (EOF), not at the next write: the stop-button tests rely
on that.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

MAX_HEAD_BYTES = 64 * 1024
_READ_SIZE = 64 * 1024
_HEAD_END = b"\r\n\r\n"
_TERMINATING_CHUNK = b"0\r\n\r\n"

REASONS: dict[int, str] = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Site Overloaded",
}


class BadRequest(Exception):
    """The bytes on the wire are not an HTTP/1.1 request we can answer."""


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def wants_close(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        return connection == "close" or (self.version == "HTTP/1.0" and connection != "keep-alive")


@dataclass
class Response:
    """A complete (non-streamed) response."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(
        cls, status: int, payload: Any, headers: list[tuple[str, str]] | None = None
    ) -> Response:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(status=status, body=body, headers=headers or [])


def status_line(status: int) -> bytes:
    return f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\n".encode()


def encode_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return status_line(status) + lines.encode("latin-1") + b"\r\n"


class Connection:
    """One accepted TCP connection: buffered request reading plus a close watcher."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        connection_id: int,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.connection_id = connection_id
        self.peer_closed = asyncio.Event()
        self.peer_closed_at: float | None = None
        # Bytes read ahead of time (by the watcher, or past the end of a request body).
        self._buffer = bytearray()
        self._watcher: asyncio.Task[None] | None = None
        self._pause_waiter: asyncio.Future[bool] | None = None
        sock: socket.socket | None = writer.get_extra_info("socket")
        if sock is not None:
            # Tokens must leave as they are produced, not when Nagle decides.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- reading --

    async def _fill(self) -> bool:
        data = await self.reader.read(_READ_SIZE)
        if not data:
            return False
        self._buffer += data
        return True

    async def read_request(self) -> Request | None:
        """The next request, or None if the client closed the idle connection."""
        while (head_end := self._buffer.find(_HEAD_END)) < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise BadRequest("request head too large")
            if not await self._fill():
                if self._buffer:
                    raise BadRequest("connection closed mid-request")
                return None
        received_at = time.monotonic()
        head = bytes(self._buffer[:head_end]).decode("latin-1")
        del self._buffer[: head_end + len(_HEAD_END)]
        request_line, *header_lines = head.split("\r\n")
        try:
            method, target, version = request_line.split(" ")
        except ValueError as error:
            raise BadRequest(f"malformed request line {request_line!r}") from error
        headers: dict[str, str] = {}
        for line in header_lines:
            name, colon, value = line.partition(":")
            if not colon:
                raise BadRequest(f"malformed header line {line!r}")
            key = name.strip().lower()
            # Repeated headers combine, as RFC 9110 allows for list-valued fields.
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._read_chunked_body()
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError as error:
                raise BadRequest("bad content-length") from error
            body = await self._read_exactly(length)
        return Request(method, target, version, headers, body, received_at)

    async def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not await self._fill():
                raise BadRequest("connection closed mid-body")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def _read_line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            if not await self._fill():
                raise BadRequest("connection closed mid-body")
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    async def _read_chunked_body(self) -> bytes:
        body = bytearray()
        while True:
            size_line = await self._read_line()
            try:
                size = int(size_line.split(b";", 1)[0], 16)
            except ValueError as error:
                raise BadRequest("bad chunk size") from error
            if size == 0:
                while await self._read_line():  # trailers, up to the blank line
                    pass
                return bytes(body)
            body += await self._read_exactly(size)
            await self._read_line()

    # -- watching for the client going away --

    def start_watching(self) -> None:
        """Read while a response is produced, so that EOF is seen immediately."""
        if self._watcher is None and not self.peer_closed.is_set():
            self._watcher = asyncio.create_task(self._watch())

    async def stop_watching(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None and not watcher.done():
            # Cancelling a pending read loses nothing: data only leaves the StreamReader
            # when read() returns, and then it is already in our buffer.
            watcher.cancel()
            # gather() absorbs the watcher's own cancellation but still propagates ours.
            await asyncio.gather(watcher, return_exceptions=True)

    async def _watch(self) -> None:
        try:
            while await self._fill():
                pass  # a pipelined next request: keep it for read_request()
        except ConnectionError:
            pass
        self.mark_peer_closed()

    def mark_peer_closed(self) -> None:
        if not self.peer_closed.is_set():
            self.peer_closed_at = time.monotonic()
            self.peer_closed.set()
            if self._pause_waiter is not None:
                _resolve(self._pause_waiter, True)

    async def pause(self, seconds: float) -> bool:
        """Wait `seconds`, waking early if the client leaves. True if it left.

        A bare future plus a timer rather than asyncio.wait_for(): this runs once per
        token, and wait_for would create a task each time.
        """
        if self.peer_closed.is_set():
            return True
        if seconds <= 0:
            return False
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        timer = loop.call_later(seconds, _resolve, waiter, False)
        self._pause_waiter = waiter
        try:
            return await waiter
        finally:
            timer.cancel()
            self._pause_waiter = None

    # -- writing --

    async def send(self, data: bytes) -> None:
        """Write and drain; raises ConnectionError if the client is gone."""
        if self.peer_closed.is_set() or self.writer.is_closing():
            raise ConnectionResetError("client closed the connection")
        self.writer.write(data)
        await self.writer.drain()

    async def send_chunk(self, data: bytes) -> None:
        await self.send(b"%x\r\n%b\r\n" % (len(data), data))

    async def send_last_chunk(self) -> None:
        await self.send(_TERMINATING_CHUNK)

    async def send_response(self, response: Response, *, close: bool) -> None:
        headers = [
            ("content-type", response.content_type),
            ("content-length", str(len(response.body))),
            *response.headers,
        ]
        if close:
            headers.append(("connection", "close"))
        await self.send(encode_head(response.status, headers) + response.body)

    def close_without_terminating(self) -> None:
        """End the TCP connection with the chunked body unfinished.

        A graceful FIN (not an RST) on purpose: the client then reads every byte we
        sent and reports a truncated body (httpx.RemoteProtocolError) every time,
        instead of sometimes losing data to a connection reset (httpx.ReadError).
        """
        self.writer.close()

    def abort(self) -> None:
        self.writer.transport.abort()


def _resolve(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)
