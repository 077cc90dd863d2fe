"""A failure on our side inside any event stream ends it with an `error` event (INTERNAL,
in plain words) and a clean close: never an open, silent connection."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from chat.eventlog import event_log
from chat.events import Event
from tests.asgi import AsgiClient, SseEvent
from tests.conftest import MakeModel
from tests.fake_upstream import Scenario
from tests.helpers import finished_message, websocket

STREAM = "/api/v1/chat/stream"
TOKENS = ["one", " two", " three", " four"]


class LogBroke(Exception):
    """Stands for any bug or outage under a stream (a lookup that raises, a lost store)."""


BreakReads = Callable[[], None]


@pytest.fixture
def broken_reads(monkeypatch: pytest.MonkeyPatch) -> BreakReads:
    """Call it, and from then on reading any answer's event log fails (appending, which
    the answer does, still works)."""

    async def read(key: str, after: int, wait: float) -> list[Event] | None:
        raise LogBroke("the event log is unreachable")

    def break_reads() -> None:
        monkeypatch.setattr(event_log(), "read", read)

    return break_reads


def assert_failure_event(data: dict[str, Any]) -> None:
    assert data["type"] == "error" and data["done"] is True
    assert data["error_code"] == "INTERNAL"
    assert "LogBroke" not in data["error"] and "unreachable" not in data["error"]


def last_sse_event(events: list[SseEvent]) -> SseEvent:
    assert events, "the stream sent no event"
    return events[-1]


async def running_answer(client: AsgiClient) -> tuple[str, str]:
    """A resumable answer that keeps running (its upstream hangs): (conversation, answer)."""
    async with client.stream("POST", STREAM, json={"message": "hi", "resumable": True}) as s:
        await s.chunks_until('"one"')
        start = s.events()[0].data
    return start["conversation_id"], start["message_id"]


async def stop(client: AsgiClient, monkeypatch: pytest.MonkeyPatch, message_id: str) -> None:
    monkeypatch.undo()
    await client.post(f"/api/v1/messages/{message_id}/stop")


async def test_the_answer_stream_ends_with_an_error_event(
    client: AsgiClient, make_model: MakeModel, broken_reads: BreakReads
) -> None:
    await make_model(Scenario(tokens=TOKENS, hang_after=2))
    broken_reads()
    async with client.stream("POST", STREAM, json={"message": "hi"}) as stream:
        assert stream.status == 200
        await stream.read_all()
    event = last_sse_event(stream.events())
    assert event.event == "error"
    assert_failure_event(event.data)
    # A one-shot answer without its reader is stopped, as when its client leaves.
    saved = await finished_message(event.data["message_id"])
    assert (saved.status, saved.finish_reason) == ("stopped", "client_gone")


@pytest.mark.parametrize("feed", ["/api/v1/conversations/{}/events", "/c/{}/events/"])
async def test_a_conversation_feed_ends_with_an_error_event(
    client: AsgiClient,
    make_model: MakeModel,
    broken_reads: BreakReads,
    monkeypatch: pytest.MonkeyPatch,
    feed: str,
) -> None:
    await make_model(Scenario(tokens=TOKENS, hang_after=2))
    conversation_id, message_id = await running_answer(client)
    broken_reads()
    async with client.stream("GET", feed.format(conversation_id)) as stream:
        assert stream.status == 200
        await stream.read_all()
    event = last_sse_event(stream.events())
    assert event.event == "error" and event.id == ""
    assert_failure_event(event.data)
    # The answer itself goes on, and can be followed again once the fault is gone.
    await stop(client, monkeypatch, message_id)
    assert (await finished_message(message_id)).status == "stopped"


async def test_websocket_forwarding_ends_with_an_error_event_and_a_close(
    application: Any,
    client: AsgiClient,
    cookie: str,
    make_model: MakeModel,
    broken_reads: BreakReads,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await make_model(Scenario(tokens=TOKENS, hang_after=2))
    conversation_id, message_id = await running_answer(client)
    broken_reads()
    socket = websocket(application, f"/ws/conversations/{conversation_id}/", cookie)
    assert (await socket.connect())[0]
    # The feed forwards the running answer: reading its log fails.
    frame = json.loads(await socket.receive_from(timeout=5))
    assert_failure_event(frame)
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 1011}
    await socket.disconnect()
    await stop(client, monkeypatch, message_id)
