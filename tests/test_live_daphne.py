"""What only daphne does: its application checker. What every server does is in
test_live_servers.py."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from tests.conftest import MakeModel
from tests.fake_upstream import Scenario
from tests.helpers import eventually
from tests.live_server import LiveServer

TOKENS = ["One", " two", " three", " 四", " 🖐"]


async def new_api_key(username: str) -> str:
    from io import StringIO

    out = StringIO()
    await sync_to_async(call_command)("create_api_key", username, stdout=out)
    return out.getvalue().split()[-1]


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
