"""The site through each ASGI server people deploy with, on real sockets, as clients see it.

One process per server (daphne, uvicorn on uvloop + httptools, granian), shared by this
module's tests: streaming token by token, a hang-up reaching the upstream, resume, the
WebSocket, and static files.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from io import StringIO
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from websockets.asyncio.client import connect as websocket_connect

from bench.servers import SERVERS
from tests.conftest import MakeModel, settle_generations
from tests.fake_upstream import FakeUpstream, Scenario
from tests.helpers import finished_message
from tests.live_server import PROJECT_DIR, LiveServer

TOKENS = ["One", " two", " three", " 四", " 🖐"]
ANSWER = "".join(TOKENS)


@pytest.fixture(scope="module", params=SERVERS)
def served(request: pytest.FixtureRequest, django_db_setup: None) -> Iterator[LiveServer]:
    # CHAT_SERVE_STATIC: the app serves its static files itself (DEBUG is off).
    server = LiveServer(extra_env={"CHAT_SERVE_STATIC": "1"}, kind=request.param)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
async def release_connections() -> AsyncIterator[None]:
    # This test's ORM calls ran on asgiref's thread: give its database connection back.
    yield
    await settle_generations()


async def new_api_key(username: str) -> str:
    out = StringIO()
    await sync_to_async(call_command)("create_api_key", username, stdout=out)
    return out.getvalue().split()[-1]


def parse_events(body: bytes) -> list[dict[str, Any]]:
    """id, event and data of each SSE event (comments skipped)."""
    events = []
    for block in body.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and line[0] != ":")
        if "event" in fields:
            events.append(
                {"id": int(fields["id"]), "event": fields["event"], **json.loads(fields["data"])}
            )
    return events


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(event.get("token", "") for event in events if event["event"] == "token")


async def test_headers_flush_at_once_and_tokens_arrive_one_by_one(
    served: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS, ttft=0.6, token_delay=0.1))
    key = await new_api_key("curl-user")
    arrivals: list[tuple[float, bytes]] = []
    async with httpx.AsyncClient(timeout=10) as http:
        began = time.monotonic()
        async with http.stream(
            "POST",
            f"{served.url}/api/v1/chat/stream",
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
    assert arrivals[0][1].startswith(b": stream open")
    token_times = [t for t, chunk in arrivals if b"event: token" in chunk]
    assert len(token_times) == len(TOKENS)
    assert token_times[0] >= 0.6
    assert token_times[0] - headers_at >= 0.4
    assert token_times[-1] - token_times[0] >= 0.3
    body = b"".join(chunk for _, chunk in arrivals).decode()
    assert json.dumps(ANSWER, ensure_ascii=False) in body


async def test_closing_the_connection_closes_upstream_within_a_second(
    served: LiveServer, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    model = await make_model(Scenario(tokens=TOKENS, hang_after=2))
    key = await new_api_key("quitter")
    seen = b""
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream(
            "POST",
            f"{served.url}/api/v1/chat/stream",
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
    message_id = parse_events(seen)[0]["message_id"]
    saved = await finished_message(message_id)
    assert (saved.status, saved.content) == ("stopped", "One two")


async def test_a_dropped_stream_resumes_from_its_last_event_to_the_exact_text(
    served: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS, token_delay=0.1))
    key = await new_api_key("commuter")
    headers = {"Authorization": f"Bearer {key}"}
    seen = b""
    async with httpx.AsyncClient(timeout=10, headers=headers) as http:
        async with http.stream(
            "POST",
            f"{served.url}/api/v1/chat/stream",
            json={"message": "hi", "resumable": True},
        ) as response:
            async for chunk in response.aiter_raw():
                seen += chunk
                # At least two: on a busy machine two tokens can arrive in one read.
                if seen.count(b"event: token") >= 2:
                    break
        before = parse_events(seen)
        resumed = await http.get(
            f"{served.url}/api/v1/messages/{before[0]['message_id']}/events",
            headers={"Last-Event-ID": str(before[-1]["id"])},
        )
    after = parse_events(resumed.content)
    assert [event["id"] for event in before + after] == list(range(1, len(before + after) + 1))
    assert text_of(before) + text_of(after) == ANSWER
    assert (before + after)[-1]["event"] == "done"


def session_cookie(username: str) -> str:
    browser = Client()
    browser.force_login(User.objects.create_user(username))
    return f"sessionid={browser.cookies['sessionid'].value}"


async def test_the_websocket_streams_an_answer_as_tagged_events(
    served: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS))
    cookie = await sync_to_async(session_cookie)("socket-user")
    async with websocket_connect(
        f"ws://127.0.0.1:{served.port}/ws/conversations/new/",
        origin=served.url,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
        open_timeout=10,
    ) as socket:
        await socket.send(json.dumps({"type": "send", "message": "count"}))
        frames = [json.loads(await socket.recv())]
        while frames[-1]["type"] != "done":
            frames.append(json.loads(await socket.recv()))
    assert [frame["type"] for frame in frames] == ["start"] + ["token"] * 5 + ["message", "done"]
    assert "".join(frame.get("token", "") for frame in frames) == ANSWER
    saved = await finished_message(frames[0]["message_id"])
    assert (saved.status, saved.content) == ("complete", ANSWER)


async def test_static_files_are_served_when_the_app_serves_them(served: LiveServer) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{served.url}/static/chat/chat.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert response.content == (PROJECT_DIR / "static/chat/chat.js").read_bytes()
