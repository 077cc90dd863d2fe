"""The WebSocket transport: the same events, plus send / stop / resume commands."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from chat.models import Conversation, Message
from tests.conftest import MakeModel
from tests.fake_upstream import FakeUpstream, Scenario
from tests.helpers import finished_message, websocket

TOKENS = ["Ein", " zwei", " 三", " 🎲"]
ANSWER = "".join(TOKENS)


async def frames_until(socket: WebsocketCommunicator, event_type: str) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1]["type"] != event_type:
        frames.append(json.loads(await socket.receive_from(timeout=5)))
    return frames


def text_of(frames: list[dict[str, Any]]) -> str:
    return "".join(f.get("token", "") for f in frames if f["type"] == "token")


async def test_send_on_a_new_conversation_streams_tagged_events(
    application: Any, cookie: str, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS))
    socket = websocket(application, "/ws/conversations/new/", cookie)
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to({"type": "send", "message": "count"})
    frames = await frames_until(socket, "done")
    await socket.disconnect()
    assert [f["type"] for f in frames] == ["start"] + ["token"] * 4 + ["message", "done"]
    message_id = frames[0]["message_id"]
    assert all(f["message_id"] == message_id for f in frames)
    assert [f["seq"] for f in frames] == list(range(1, 8))
    assert text_of(frames) == ANSWER
    saved = await Message.objects.aget(pk=message_id)
    assert (saved.status, saved.content) == ("complete", ANSWER)


async def test_stop_command_cancels_the_upstream_request(
    application: Any, cookie: str, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    model = await make_model(Scenario(tokens=TOKENS, hang_after=2))
    socket = websocket(application, "/ws/conversations/new/", cookie)
    await socket.connect()
    await socket.send_json_to({"type": "send", "message": "hi"})
    frames = [json.loads(await socket.receive_from(timeout=5)) for _ in range(3)]
    stop_sent = time.monotonic()
    await socket.send_json_to({"type": "stop", "message_id": frames[0]["message_id"]})
    closed = await upstream.await_closed(model.scenario_id, timeout=1.0)
    assert closed.closed_at - stop_sent < 1.0
    frames += await frames_until(socket, "done")
    await socket.disconnect()
    assert frames[-2]["status"] == "stopped" and frames[-2]["content"] == "Ein zwei"
    assert frames[-1]["finish_reason"] == "stopped"


async def test_second_socket_sees_the_answer_live_and_closing_does_not_stop_it(
    application: Any, cookie: str, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS, token_delay=0.02))
    conversation = await sync_to_async(Conversation.objects.create)(
        owner=await User.objects.aget(username="alice"), title="shared"
    )
    path = f"/ws/conversations/{conversation.pk}/"
    first, second = websocket(application, path, cookie), websocket(application, path, cookie)
    await first.connect()
    await second.connect()
    await first.send_json_to({"type": "send", "message": "hi"})
    start = json.loads(await first.receive_from(timeout=5))
    await first.disconnect()  # the sender leaves at once
    watched = await frames_until(second, "done")
    await second.disconnect()
    assert watched[0]["message_id"] == start["message_id"]
    assert text_of(watched) == ANSWER
    saved = await finished_message(start["message_id"])
    assert (saved.status, saved.content) == ("complete", ANSWER)


async def test_resume_command_replays_after_n(
    application: Any, cookie: str, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS))
    socket = websocket(application, "/ws/conversations/new/", cookie)
    await socket.connect()
    await socket.send_json_to({"type": "send", "message": "hi"})
    frames = await frames_until(socket, "done")
    await socket.send_json_to({"type": "resume", "message_id": frames[0]["message_id"], "after": 3})
    replayed = await frames_until(socket, "done")
    await socket.disconnect()
    assert replayed == frames[3:]


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ("not json", "BAD_REQUEST"),
        ({"type": "dance"}, "BAD_REQUEST"),
        ({"type": "send", "message": "  "}, "BAD_REQUEST"),
        ({"type": "send", "message": "hi", "model": "nope"}, "NOT_FOUND"),
        ({"type": "stop", "message_id": "zzz"}, "BAD_REQUEST"),
        ({"type": "stop", "message_id": "00000000-0000-4000-8000-000000000000"}, "NOT_FOUND"),
        ({"type": "resume", "message_id": "00000000-0000-4000-8000-000000000000"}, "NOT_FOUND"),
    ],
)
async def test_bad_commands_get_command_error_and_the_socket_stays_open(
    application: Any, cookie: str, make_model: MakeModel, command: Any, code: str
) -> None:
    await make_model(provider="demo")
    socket = websocket(application, "/ws/conversations/new/", cookie)
    await socket.connect()
    await socket.send_to(text_data=command if isinstance(command, str) else json.dumps(command))
    reply = json.loads(await socket.receive_from(timeout=5))
    assert (reply["type"], reply["error_code"]) == ("command_error", code)
    await socket.send_json_to({"type": "send", "message": "still here"})
    assert (await frames_until(socket, "done"))[-1]["done"] is True
    await socket.disconnect()
    assert await Message.objects.filter(content="  ").acount() == 0


async def test_socket_refuses_strangers_foreign_conversations_and_other_origins(
    application: Any, cookie: str, other_user: User
) -> None:
    anonymous = websocket(application, "/ws/conversations/new/", "")
    connected, code = await anonymous.connect()
    assert (connected, code) == (False, 4401)

    theirs = await sync_to_async(Conversation.objects.create)(owner=other_user, title="theirs")
    foreign = websocket(application, f"/ws/conversations/{theirs.pk}/", cookie)
    connected, code = await foreign.connect()
    assert (connected, code) == (False, 4404)

    cross_site = websocket(
        application, "/ws/conversations/new/", cookie, origin="https://evil.example"
    )
    connected, _ = await cross_site.connect()
    assert connected is False
