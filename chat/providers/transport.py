"""httpx over plain asyncio protocols: the provider client's sockets, cheaper per chunk.

httpx's default backend goes through anyio, which for every read of a streamed body opens
a cancel scope, schedules and cancels a timer, and pauses then resumes the socket reader
(two epoll calls). A relayed answer is thousands of small reads, so that is most of what
the relay spends per token beyond our own code (see docs/benchmarks.md). This backend
keeps one buffer per connection, reads without touching the selector, and enforces the
read timeout with one lazily re-armed timer per connection instead of one per read.

httpcore's network-backend interface is public; httpx just has no argument to pass one,
so `AsyncioTransport` builds its connection pool itself (httpx is pinned; a version that
renames `_pool` fails tests/test_provider_transport.py, not production silently).
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any, cast

import httpcore
import httpx

# Stop reading from a socket whose unread data passes this; resume below a quarter of it.
HIGH_WATER = 256 * 1024

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class _Expired(Exception):
    """A wait ran past its deadline."""


def socket_readable(sock: socket.socket | None) -> bool:
    """True if the peer sent data or closed: for an idle pooled connection, it is done."""
    if sock is None or sock.fileno() < 0:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class _Connection(asyncio.Protocol):
    """Bytes received and not yet read, and the one reader waiting for them."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        # A list, not a deque: it holds one chunk at a time or two, and an empty deque
        # costs 600 bytes, on every open stream.
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.eof = False
        self.error: Exception | None = None
        self.reading_paused = False
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
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > HIGH_WATER and not self.reading_paused and self.transport:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        self.cancel_timer()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    # -- reading --

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_for_data(self, seconds: float | None) -> None:
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

    def take(self, max_bytes: int) -> bytes:
        data = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks.clear()
        if len(data) > max_bytes:
            self.chunks.append(data[max_bytes:])
            data = data[:max_bytes]
        self.buffered -= len(data)
        if self.reading_paused and self.buffered <= HIGH_WATER // 4 and self.transport:
            self.reading_paused = False
            self.transport.resume_reading()
        return data


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, connection: _Connection) -> None:
        self._transport = transport
        self._connection = connection
        connection.transport = transport

    # httpcore's interface passes `timeout` (hence the noqa on these signatures).
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        connection = self._connection
        while not connection.chunks:
            if connection.eof:
                if connection.error is not None:
                    raise httpcore.ReadError(str(connection.error) or "connection reset")
                return b""
            try:
                await connection.wait_for_data(timeout)
            except _Expired as error:
                raise httpcore.ReadTimeout("timed out reading from the server") from error
        return connection.take(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if not buffer:
            return
        connection = self._connection
        if connection.eof or self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        if not connection.writing_paused:
            return
        loop = asyncio.get_running_loop()
        drained = connection.drained = loop.create_future()
        try:
            async with asyncio.timeout(timeout):
                await drained
        except TimeoutError as error:
            raise httpcore.WriteTimeout("timed out writing to the server") from error
        finally:
            connection.drained = None
        if connection.error is not None:
            raise httpcore.WriteError(str(connection.error))

    async def aclose(self) -> None:
        self._connection.cancel_timer()
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._connection, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as error:
            self._transport.close()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from error
        except (OSError, ssl.SSLError) as error:
            self._transport.close()
            raise httpcore.ConnectError(str(error)) from error
        if transport is None:
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        return AsyncioStream(transport, self._connection)

    def get_extra_info(self, info: str) -> Any:
        transport = self._transport
        if info == "is_readable":
            connection = self._connection
            return (
                connection.eof
                or bool(connection.chunks)
                or socket_readable(transport.get_extra_info("socket"))
            )
        names = {
            "ssl_object": "ssl_object",
            "client_addr": "sockname",
            "server_addr": "peername",
            "socket": "socket",
        }
        return transport.get_extra_info(names[info]) if info in names else None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                transport, connection = await loop.create_connection(
                    _Connection, host, port, local_addr=local
                )
        except TimeoutError as error:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from error
        except OSError as error:
            raise httpcore.ConnectError(str(error)) from error
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(transport, connection)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, connection = await loop.create_unix_connection(_Connection, path)
        except TimeoutError as error:
            raise httpcore.ConnectTimeout(f"timed out connecting to {path}") from error
        except OSError as error:
            raise httpcore.ConnectError(str(error)) from error
        return AsyncioStream(transport, connection)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AsyncioTransport(httpx.AsyncHTTPTransport):
    """httpx's HTTP/1.1 transport with `AsyncioBackend` underneath; otherwise the same."""

    def __init__(self, *, limits: httpx.Limits) -> None:
        # Not super().__init__(): it would build a pool on anyio that we would throw away.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=AsyncioBackend(),
        )
