"""httpx's client over our own HTTP/1.1 connections: the provider client's wire, cheaper per chunk.

httpx stays the API (requests, timeouts, headers, the Response the providers read); this
transport replaces httpcore underneath. Per streamed chunk, httpcore costs an h11 parse
in Python plus several layers of async generators, and (on its default backend) an anyio
cancel scope, a timer and two epoll calls: most of what the relay spent per token beyond
our own code (docs/benchmarks.md). `chat.providers.connection` parses with httptools
(llhttp, in C) from `data_received`.

The pool keeps idle keep-alive connections per origin (scheme, host, port), at most
`max_keepalive_connections` of them, each for `keepalive_expiry` seconds, and opens at most
`max_connections` in all; a request waits up to the pool timeout for a free one.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator

import httpx

from chat.providers.connection import HIGH_WATER, UpstreamConnection

__all__ = ["HIGH_WATER", "AsyncioTransport", "ConnectionPool"]

Origin = tuple[str, str, int]
# Headers we write ourselves: the body is sent whole, with its length.
FRAMING = {b"content-length", b"transfer-encoding"}


class ConnectionPool:
    def __init__(
        self, *, max_connections: int, max_keepalive: int, keepalive_expiry: float
    ) -> None:
        # Made with the pool, so a test can trust its own certificate authority.
        self.ssl_context = httpx.create_ssl_context()
        self.max_connections = max_connections
        self.max_keepalive = max_keepalive
        self.keepalive_expiry = keepalive_expiry
        self.idle: dict[Origin, list[UpstreamConnection]] = {}
        self.open = 0
        self.waiting: deque[asyncio.Future[None]] = deque()

    async def acquire(
        self, origin: Origin, timeouts: dict[str, float | None]
    ) -> UpstreamConnection:
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                connection = await self._wait_for_room(origin)
        except TimeoutError as error:
            raise httpx.PoolTimeout("no free connection to the provider") from error
        if connection is not None:
            return connection
        self.open += 1
        try:
            return await self.connect(origin, timeouts.get("connect"))
        except BaseException:
            self._freed()
            raise

    async def _wait_for_room(self, origin: Origin) -> UpstreamConnection | None:
        """An idle connection to `origin`, or None once there is room to open one."""
        while True:
            connection = self._idle_connection(origin)
            if connection is not None:
                return connection
            if self.open < self.max_connections or self._close_one_idle():
                return None
            waiter = asyncio.get_running_loop().create_future()
            self.waiting.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken, then cancelled: the room goes to the next one
                raise
            finally:
                if waiter in self.waiting:
                    self.waiting.remove(waiter)

    def _idle_connection(self, origin: Origin) -> UpstreamConnection | None:
        idle = self.idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self.keepalive_expiry:
                return connection
            self.discard(connection)
        return None

    def _close_one_idle(self) -> bool:
        """At the limit, an idle connection to another provider makes room for this one."""
        for idle in self.idle.values():
            if idle:
                self.discard(idle.pop(0))
                return True
        return False

    async def connect(self, origin: Origin, timeout: float | None) -> UpstreamConnection:  # noqa: ASYNC109
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls = self.ssl_context if scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                _transport, connection = await loop.create_connection(
                    lambda: UpstreamConnection(origin),
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls else None,
                )
        except TimeoutError as error:
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}") from error
        except (OSError, ssl.SSLError) as error:
            raise httpx.ConnectError(str(error)) from error
        return connection

    def release(self, connection: UpstreamConnection) -> None:
        """A connection whose response has ended: kept for the next request, or closed."""
        idle = self.idle.setdefault(connection.origin, [])
        if connection.reusable and len(idle) < self.max_keepalive:
            connection.reset()
            idle.append(connection)
            self._wake_one()
        else:
            self.discard(connection)

    def discard(self, connection: UpstreamConnection) -> None:
        connection.close()
        self._freed()

    def _freed(self) -> None:
        self.open -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        for idle in self.idle.values():
            for connection in idle:
                connection.close()
        self.idle.clear()


class ResponseBody(httpx.AsyncByteStream):
    """The body as it arrives; closing it early closes the connection (a stop upstream)."""

    def __init__(
        self, pool: ConnectionPool, connection: UpstreamConnection, read_timeout: float | None
    ) -> None:
        self.pool = pool
        self.connection: UpstreamConnection | None = connection
        self.read_timeout = read_timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self.connection
        while connection is not None:
            chunk = await connection.read_body(self.read_timeout)
            if not chunk:
                break
            yield chunk
        await self.aclose()

    async def aclose(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            if connection.complete:
                self.pool.release(connection)
            else:
                self.pool.discard(connection)


def request_head(request: httpx.Request, body: bytes) -> bytes:
    target = request.url.raw_path
    lines = [request.method.encode() + b" " + target + b" HTTP/1.1"]
    lines += [
        name + b": " + value for name, value in request.headers.raw if name.lower() not in FRAMING
    ]
    if body or request.method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n"


class AsyncioTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 to providers on `UpstreamConnection`s, for `httpx.AsyncClient(transport=…)`."""

    def __init__(self, *, limits: httpx.Limits) -> None:
        self.pool = ConnectionPool(
            max_connections=limits.max_connections or 100_000,
            max_keepalive=limits.max_keepalive_connections or 0,
            keepalive_expiry=limits.keepalive_expiry or 0.0,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        body = await request.aread()
        connection = await self.pool.acquire(origin, timeouts)
        try:
            await connection.send(request_head(request, body) + body, timeouts.get("write"))
            await connection.read_head(timeouts.get("read"))
        except BaseException:
            self.pool.discard(connection)
            raise
        return httpx.Response(
            connection.status,
            headers=connection.headers,
            stream=ResponseBody(self.pool, connection, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": connection.reason},
        )

    async def aclose(self) -> None:
        self.pool.close()
