"""The provider client's asyncio transport (chat/providers/transport.py) on real sockets.

Each test runs on asyncio's loop and on uvloop's (see conftest.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from chat.providers import http as provider_http
from chat.providers import transport as transport_module
from chat.providers.transport import HIGH_WATER, AsyncioTransport, ConnectionPool
from tests.tls_proxy import self_signed_certificate

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(
    handler: Handler, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[str, list[int]]]:
    """A raw HTTP(S) server on 127.0.0.1; yields its URL and a list counting connections."""
    accepted: list[int] = []

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", accepted
    finally:
        server.close()
        await server.wait_closed()


async def read_head(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


def client(read_timeout: float = 5.0) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=10)
    return httpx.AsyncClient(
        transport=AsyncioTransport(limits=limits), timeout=httpx.Timeout(5.0, read=read_timeout)
    )


async def test_the_provider_client_runs_on_our_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connects: list[str] = []
    original = ConnectionPool.connect

    async def counting(
        self: ConnectionPool, origin: tuple[str, str, int], timeout: float
    ) -> object:
        connects.append(origin[1])
        return await original(self, origin, timeout)

    monkeypatch.setattr(ConnectionPool, "connect", counting)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    async with serving(answer) as (url, _accepted):
        response = await provider_http.http_client().get(url)
        await provider_http.close_http_client()
    assert response.text == "ok"
    assert connects == ["127.0.0.1"]


async def test_a_pooled_connection_the_server_closed_is_not_reused() -> None:
    async def one_answer_then_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
        await writer.drain()
        # Keep-alive was promised, but the server drops the idle connection.

    async with serving(one_answer_then_close) as (url, accepted), client() as http:
        assert (await http.get(url)).text == "first"
        await asyncio.sleep(0.05)
        assert (await http.get(url)).text == "first"
    assert len(accepted) == 2


async def test_silence_past_the_read_timeout_is_a_read_timeout() -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await writer.drain()
        await reader.read()  # silent until the client gives up and hangs up

    received = b""
    async with (
        serving(stall) as (url, _accepted),
        client(read_timeout=0.2) as http,
        http.stream("GET", url) as response,
    ):
        with pytest.raises(httpx.ReadTimeout):
            async for chunk in response.aiter_raw():
                received += chunk
    assert received == b"abc"


async def test_a_body_cut_short_is_a_protocol_error() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        await writer.drain()

    async with serving(cut) as (url, _accepted), client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(url)


async def test_a_large_body_read_slowly_arrives_whole() -> None:
    # Several times the buffer limit, so reading from the socket pauses and resumes.
    body = bytes(range(256)) * (HIGH_WATER * 4 // 256)

    async def large(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        writer.write(body)
        await writer.drain()

    async with serving(large) as (url, _accepted), client() as http:
        digest = hashlib.sha256()
        async with http.stream("GET", url) as response:
            async for chunk in response.aiter_raw():
                digest.update(chunk)
                await asyncio.sleep(0.001)
    assert digest.hexdigest() == hashlib.sha256(body).hexdigest()


async def test_refused_connection_is_a_connect_error() -> None:
    async with serving(read_head) as (url, _accepted):
        pass  # closed: nothing listens there any more
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url)


async def test_https_answers_arrive_whole_over_one_pooled_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    monkeypatch.setattr(
        transport_module.httpx,
        "create_ssl_context",
        lambda: ssl.create_default_context(cafile=str(cert)),
    )

    async def two_chunked_answers(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        for _ in range(2):
            await read_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (b"s\xc3\xa9", b"cure"):
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async with serving(two_chunked_answers, server_tls) as (url, accepted), client() as http:
        assert (await http.get(url)).text == "sécure"
        assert (await http.get(url)).text == "sécure"
    assert len(accepted) == 1


async def test_requests_beyond_the_connection_limit_wait_for_one_to_be_free() -> None:
    release = asyncio.Event()

    async def slow_then_fast(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for body in (b"first", b"second"):
            await read_head(reader)
            if body == b"first":
                await release.wait()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    transport = AsyncioTransport(limits=limits)
    async with (
        serving(slow_then_fast) as (url, accepted),
        httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0, pool=0.2)) as http,
    ):
        first = asyncio.create_task(http.get(url))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await http.get(url)
        second = asyncio.create_task(http.get(url))
        await asyncio.sleep(0.05)
        release.set()
        assert (await first).text == "first"
        assert (await second).text == "second"
    assert len(accepted) == 1
