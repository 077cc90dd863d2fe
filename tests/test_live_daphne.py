"""The streaming API through a real daphne process and real sockets, as curl sees it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from tests.conftest import MakeModel
from tests.fake_upstream import FakeUpstream, Scenario
from tests.helpers import eventually, finished_message
from tests.live_server import LiveServer

TOKENS = ["One", " two", " three", " 四", " 🖐"]


@pytest.fixture
def daphne_server(transactional_db: None) -> Iterator[LiveServer]:
    server = LiveServer()
    yield server
    server.stop()


async def new_api_key(username: str) -> str:
    from io import StringIO

    out = StringIO()
    await sync_to_async(call_command)("create_api_key", username, stdout=out)
    return out.getvalue().split()[-1]


async def test_headers_flush_at_once_and_tokens_arrive_one_by_one(
    daphne_server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS, ttft=0.6, token_delay=0.1))
    key = await new_api_key("curl-user")
    arrivals: list[tuple[float, bytes]] = []
    async with httpx.AsyncClient(timeout=10) as http:
        began = time.monotonic()
        async with http.stream(
            "POST",
            f"{daphne_server.url}/api/v1/chat/stream",
            json={"message": "count"},
            headers={"Authorization": f"Bearer {key}", "Accept-Encoding": "gzip"},
        ) as response:
            headers_at = time.monotonic() - began
            async for chunk in response.aiter_raw():
                arrivals.append((time.monotonic() - began, chunk))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in response.headers
    # The opening comment brings the headers out long before the model's first token.
    assert headers_at < 0.5
    assert arrivals[0][1].startswith(b": stream open")
    token_times = [t for t, chunk in arrivals if b"event: token" in chunk]
    assert len(token_times) == len(TOKENS)
    assert token_times[0] >= 0.6
    assert token_times[-1] - token_times[0] >= 0.3
    body = b"".join(chunk for _, chunk in arrivals).decode()
    assert json.dumps("".join(TOKENS), ensure_ascii=False) in body


async def test_closing_the_connection_closes_upstream_within_a_second(
    daphne_server: LiveServer, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    model = await make_model(Scenario(tokens=TOKENS, hang_after=2))
    key = await new_api_key("quitter")
    seen = b""
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream(
            "POST",
            f"{daphne_server.url}/api/v1/chat/stream",
            json={"message": "hi"},
            headers={"Authorization": f"Bearer {key}"},
        ) as response,
    ):
        async for chunk in response.aiter_raw():
            seen += chunk
            if seen.count(b"event: token") == 2:
                break
        closed_at = time.monotonic()
    # Leaving the block closed the socket mid-body.
    record = await upstream.await_closed(model.scenario_id, timeout=1.0)
    assert record.client_closed_early
    assert record.closed_at - closed_at < 1.0
    message_id = json.loads(seen.split(b"data: ", 1)[1].split(b"\n", 1)[0])["message_id"]
    saved = await finished_message(message_id)
    assert (saved.status, saved.content) == ("stopped", "One two")


@pytest.fixture
def fast_pinging_server(transactional_db: None) -> Iterator[LiveServer]:
    server = LiveServer(extra_env={"CHAT_HEARTBEAT_SECONDS": "0.2"})
    yield server
    server.stop()


async def unrouted_websocket(server: LiveServer) -> None:
    """A WebSocket to a path with no consumer: the application raises, and daphne's
    application checker (which runs every second) is what logs it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        (
            "GET /ws/no-such-socket/ HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\nOrigin: http://127.0.0.1:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    # The server refuses it one way or another (a reply, or a reset).
    with contextlib.suppress(ConnectionError):
        await asyncio.wait_for(reader.read(1), 5)
    writer.close()


async def test_a_bad_resume_position_neither_hangs_its_stream_nor_breaks_the_worker(
    fast_pinging_server: LiveServer, make_model: MakeModel
) -> None:
    server = fast_pinging_server
    await make_model(Scenario(tokens=TOKENS))
    headers = {"Authorization": f"Bearer {await new_api_key('resumer')}"}
    async with httpx.AsyncClient(timeout=5) as http:
        chat = await http.post(f"{server.url}/api/v1/chat", json={"message": "hi"}, headers=headers)
        feed = f"{server.url}/api/v1/conversations/{chat.json()['conversation_id']}/events"
        for malformed in ("x:1", "::::1"):
            refused = await http.get(feed, headers={**headers, "Last-Event-ID": malformed})
            assert refused.status_code == 400
            assert refused.json()["error"]["code"] == "BAD_REQUEST"

        # Naming no answer of this conversation is no position: the feed starts afresh and
        # stays alive, past the worker's next application checks (once a second).
        unknown = f"{uuid.uuid4()}:1"
        pings = 0
        async with http.stream("GET", feed, headers={**headers, "Last-Event-ID": unknown}) as r:
            assert r.status_code == 200
            async for chunk in r.aiter_raw():
                pings += chunk.count(b": ping")
                if pings >= 8:
                    break
    assert "Exception inside application" not in server.output()

    # The worker is healthy: a later application error is still noticed and logged.
    await unrouted_websocket(server)

    async def logged() -> bool:
        return "No route found for path" in server.output()

    await eventually(logged, timeout=5)
