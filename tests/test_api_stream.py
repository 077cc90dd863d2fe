"""POST /api/v1/chat/stream end to end through the real ASGI application."""

from __future__ import annotations

import json
import time

import pytest
from django.test import override_settings

from chat.models import Message
from tests.asgi import AsgiClient
from tests.conftest import MakeModel
from tests.fake_upstream import Failure, FakeUpstream, Scenario
from tests.helpers import finished_message

STREAM = "/api/v1/chat/stream"
TOKENS = ["Bonjour", " 👋🏽", " 世界", ", ", "naïve", " ✓"]
ANSWER = "".join(TOKENS)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_stream_delivers_exact_text_as_typed_events_with_ids(
    client: AsgiClient, make_model: MakeModel, provider: str
) -> None:
    model = await make_model(
        Scenario(tokens=TOKENS, chunking="hostile", usage=(12, 6)), provider=provider
    )
    response = await client.post(STREAM, json={"message": "Salut 世界 🌍"})
    assert response.status == 200
    assert response.chunks[0] == b": stream open\n\n"
    events = response.events()

    assert [e.event for e in events] == ["start"] + ["token"] * len(TOKENS) + ["message", "done"]
    assert [int(e.id) for e in events] == list(range(1, len(events) + 1))
    assert all(e.data["type"] == e.event for e in events)

    start, *tokens, message, done = events
    assert start.data["model"] == model.name
    conversation_id, message_id = start.data["conversation_id"], start.data["message_id"]
    assert [t.data for t in tokens] == [
        {"type": "token", "token": t, "done": False} for t in TOKENS
    ]
    assert message.data == {
        "type": "message",
        "message_id": message_id,
        "content": ANSWER,
        "status": "complete",
    }
    assert done.data["done"] is True
    assert done.data["finish_reason"] == "stop"
    assert done.data["usage"] == {"input_tokens": 12, "output_tokens": 6}
    assert done.data["total_tokens"] == 18
    assert (done.data["conversation_id"], done.data["message_id"]) == (
        conversation_id,
        message_id,
    )
    assert done.data["ttft_ms"] >= 0 and done.data["response_time"] >= 0

    saved = await Message.objects.aget(pk=message_id)
    assert (saved.content, saved.status, saved.finish_reason) == (ANSWER, "complete", "stop")
    user_message = await Message.objects.aget(pk=start.data["user_message_id"])
    assert user_message.content == "Salut 世界 🌍"


async def test_stream_headers_keep_it_unbuffered_and_uncompressed(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model()
    response = await client.post(
        STREAM, json={"message": "hi"}, headers={"accept-encoding": "gzip, br"}
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in response.headers
    assert "content-length" not in response.headers


async def test_client_reading_only_data_lines_and_token_field_gets_the_answer(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS))
    response = await client.post(STREAM, json={"message": "hi"})
    datas = [
        json.loads(line[len("data: ") :])
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]
    assert "".join(d.get("token", "") for d in datas) == ANSWER
    assert datas[-1]["done"] is True


async def test_chat_with_stream_true_is_the_stream_endpoint(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS))
    response = await client.post("/api/v1/chat", json={"message": "hi", "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    assert [e.event for e in response.events()][-2:] == ["message", "done"]
    assert response.events()[-2].data["content"] == ANSWER


async def test_tokens_reach_the_client_as_they_are_generated(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS, token_delay=0.05))
    arrivals: list[float] = []
    async with client.stream("POST", STREAM, json={"message": "hi"}) as stream:
        while (chunk := await stream.next_chunk()) is not None:
            if b"event: token" in chunk:
                arrivals.append(time.monotonic())
                # One token per chunk: nothing was held back and sent in a lump.
                assert chunk.count(b"event: token") == 1
    assert len(arrivals) == len(TOKENS)
    assert arrivals[-1] - arrivals[0] >= 0.05 * (len(TOKENS) - 2)


async def test_disconnect_closes_upstream_within_a_second_and_saves_partial_as_stopped(
    client: AsgiClient, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    model = await make_model(Scenario(tokens=TOKENS, hang_after=2))
    async with client.stream("POST", STREAM, json={"message": "hi"}) as stream:
        await stream.chunks_until(json.dumps(TOKENS[1], ensure_ascii=False))
        message_id = stream.events()[0].data["message_id"]
        disconnected_at = time.monotonic()
        await stream.disconnect()
    closed = await upstream.await_closed(model.scenario_id, timeout=1.0)
    assert closed.client_closed_early
    assert closed.closed_at - disconnected_at < 1.0

    saved = await finished_message(message_id)
    assert (saved.status, saved.finish_reason) == ("stopped", "client_gone")
    assert saved.content == "".join(TOKENS[:2])


@override_settings(CHAT_HEARTBEAT_SECONDS=0.05)
async def test_idle_stream_sends_ping_comments(client: AsgiClient, make_model: MakeModel) -> None:
    await make_model(Scenario(ttft=0.3))
    response = await client.post(STREAM, json={"message": "hi"})
    assert b": ping\n\n" in response.chunks
    assert response.events()[-1].event == "done"


@pytest.mark.parametrize(
    ("scenario", "code", "status", "partial"),
    [
        (Scenario(tokens=TOKENS, error_after=2), "UPSTREAM_ERROR", "interrupted", 2),
        (Scenario(tokens=TOKENS, cut_after=3), "UPSTREAM_CLOSED", "interrupted", 3),
        (Scenario(failures=[Failure(500)] * 5), "UPSTREAM_ERROR", "error", 0),
        (Scenario(failures=[Failure(401)]), "AUTH", "error", 0),
    ],
    ids=["error-event", "cut", "server-errors", "bad-key"],
)
async def test_upstream_failure_ends_with_error_event_and_keeps_partial_text(
    client: AsgiClient,
    make_model: MakeModel,
    scenario: Scenario,
    code: str,
    status: str,
    partial: int,
) -> None:
    await make_model(scenario)
    response = await client.post(STREAM, json={"message": "hi"})
    assert response.status == 200
    *_, message, error = response.events()
    expected_text = "".join(TOKENS[:partial])
    assert (message.event, message.data["status"], message.data["content"]) == (
        "message",
        status,
        expected_text,
    )
    assert error.event == "error"
    assert error.data["done"] is True
    assert error.data["error_code"] == code
    assert error.data["error"]
    assert error.data["partial_content_saved"] is bool(partial)
    saved = await Message.objects.aget(pk=error.data["message_id"])
    assert (saved.status, saved.content, saved.error_code) == (status, expected_text, code)
    assert saved.error_message == error.data["error"]


@override_settings(LLM_READ_TIMEOUT_SECONDS=0.3)
async def test_silent_upstream_ends_as_timeout_with_partial_text(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS, hang_after=1))
    response = await client.post(STREAM, json={"message": "hi"})
    error = response.events()[-1]
    assert error.data["error_code"] == "UPSTREAM_TIMEOUT"
    saved = await Message.objects.aget(pk=error.data["message_id"])
    assert (saved.status, saved.content) == ("interrupted", TOKENS[0])


@override_settings(CHAT_GENERATION_TIMEOUT_SECONDS=0.3)
async def test_answer_longer_than_generation_limit_ends_as_timeout(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=["tick "] * 50, token_delay=0.02))
    response = await client.post(STREAM, json={"message": "hi"})
    error = response.events()[-1]
    assert error.data["error_code"] == "UPSTREAM_TIMEOUT"
    saved = await Message.objects.aget(pk=error.data["message_id"])
    assert saved.status == "interrupted"
    assert 0 < len(saved.content) < len("tick ") * 50


async def test_upstream_rate_limit_reaches_client_with_retry_after(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(failures=[Failure(429, retry_after="90")]))
    error = (await client.post(STREAM, json={"message": "hi"})).events()[-1]
    assert (error.data["error_code"], error.data["retry_after"]) == ("RATE_LIMIT", 90.0)


async def test_retry_before_first_token_is_invisible_to_the_client(
    client: AsgiClient, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    model = await make_model(Scenario(tokens=TOKENS, failures=[Failure(503), Failure(502)]))
    events = (await client.post(STREAM, json={"message": "hi"})).events()
    assert [e.event for e in events].count("start") == 1
    assert events[-2].data["content"] == ANSWER
    assert [r.status for r in upstream.requests(model.scenario_id)] == [503, 502, 200]
