"""The streaming API through a real daphne process and real sockets, as curl sees it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from tests.conftest import MakeModel
from tests.fake_upstream import FakeUpstream, Scenario
from tests.helpers import finished_message
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
