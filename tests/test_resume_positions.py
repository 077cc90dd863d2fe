"""Positions and ids a client names (Last-Event-ID, ?after, WebSocket resume, regenerate and
edit) reach a replay or a subscription only if they name the caller's own answer, of the
conversation asked for; a bad one is refused before any stream starts."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import override_settings

from chat.models import ApiKey, Message
from tests.asgi import AsgiClient
from tests.conftest import MakeModel, settle_generations
from tests.fake_upstream import Scenario
from tests.helpers import browser, browser_cookies, finished_message, websocket

CHAT = "/api/v1/chat"
SECRET = ["Their", " secret", " answer"]
FEEDS = {
    "json": "/api/v1/conversations/{}/events",
    "html": "/c/{}/events/",
}

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture(params=["api-key", "session", "anonymous-session"])
async def intruder(request: pytest.FixtureRequest, application: Any) -> AsyncIterator[AsgiClient]:
    """Someone other than the victim (`client`), each way a caller can be someone."""
    mallory = await User.objects.acreate(username="mallory")
    if request.param == "api-key":
        key = (await sync_to_async(ApiKey.issue)(mallory))[1]
        yield AsgiClient(application, headers={"authorization": f"Bearer {key}"})
    else:
        yield await browser(application, mallory if request.param == "session" else None)
    await settle_generations()


async def victims_answer(client: AsgiClient) -> tuple[str, str]:
    """(conversation id, answer id) of the victim's finished answer."""
    body = (await client.post(CHAT, json={"message": "my private question"})).json()
    await finished_message(body["message"]["id"])
    return body["conversation_id"], body["message"]["id"]


async def question_in(conversation_id: str) -> Message:
    return await Message.objects.filter(conversation_id=conversation_id, role="user").aget()


async def own_conversation(caller: AsgiClient) -> tuple[str, str]:
    response = await caller.post(CHAT, json={"message": "mine"})
    assert response.status == 200, response.text
    body = response.json()
    return body["conversation_id"], body["message"]["id"]


async def read_until_idle(caller: AsgiClient, url: str, last_event_id: str) -> str:
    """The feed from its start until its first heartbeat (nothing was running to send)."""
    async with caller.stream("GET", url, headers={"Last-Event-ID": last_event_id}) as feed:
        assert feed.status == 200
        await feed.chunks_until(": ping")
    return feed.text


@override_settings(CHAT_ALLOW_ANONYMOUS=True, CHAT_HEARTBEAT_SECONDS=0.05)
@pytest.mark.parametrize("feed", FEEDS)
async def test_resuming_a_feed_at_someone_elses_answer_shows_nothing_of_it(
    client: AsgiClient, intruder: AsgiClient, make_model: MakeModel, feed: str
) -> None:
    await make_model(Scenario(tokens=SECRET))
    their_conversation, their_answer = await victims_answer(client)
    mine, _ = await own_conversation(intruder)

    for seq in (0, 1):
        seen = await read_until_idle(intruder, FEEDS[feed].format(mine), f"{their_answer}:{seq}")
        for secret in (their_answer, their_conversation, "secret", "private"):
            assert secret not in seen


@override_settings(CHAT_HEARTBEAT_SECONDS=0.05)
@pytest.mark.parametrize("feed", FEEDS)
async def test_a_position_outside_the_conversation_starts_the_feed_afresh(
    client: AsgiClient, make_model: MakeModel, feed: str
) -> None:
    await make_model(Scenario(tokens=SECRET))
    first, first_answer = await own_conversation(client)
    second, _ = await own_conversation(client)
    for position in (f"{first_answer}:1", f"{uuid.uuid4()}:1"):
        # Another conversation's answer, or none at all (deleted by a regenerate, made up).
        seen = await read_until_idle(client, FEEDS[feed].format(second), position)
        assert first_answer not in seen and first not in seen


@pytest.mark.parametrize("feed", FEEDS)
@pytest.mark.parametrize(
    "position",
    [
        "x:1",
        "::::1",
        "{answer}",
        "{answer}:",
        "{answer}:²",
        "{answer}:-1",
        "{answer}:" + "9" * 5000,
    ],
    ids=["x", "colons", "no-seq", "empty-seq", "superscript", "negative", "5000-digits"],
)
async def test_a_malformed_feed_position_is_refused_before_the_stream_starts(
    client: AsgiClient, make_model: MakeModel, feed: str, position: str
) -> None:
    await make_model(Scenario(tokens=SECRET))
    conversation_id, answer_id = await own_conversation(client)
    url = FEEDS[feed].format(conversation_id)
    response = await client.get(url, headers={"Last-Event-ID": position.format(answer=answer_id)})
    assert response.status == 400
    assert not response.headers["content-type"].startswith("text/event-stream")
    if feed == "json":
        assert response.json()["error"]["code"] == "BAD_REQUEST"


@override_settings(CHAT_ALLOW_ANONYMOUS=True)
async def test_message_events_follow_only_the_callers_own_answers(
    client: AsgiClient, intruder: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=SECRET))
    _, their_answer = await victims_answer(client)
    conversation_id, my_answer = await own_conversation(intruder)
    my_question = await question_in(conversation_id)

    for message_id in (their_answer, my_question.pk):
        response = await intruder.get(f"/api/v1/messages/{message_id}/events")
        assert response.status == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"
    events = f"/api/v1/messages/{my_answer}/events"
    for query, header in [("²", None), ("9" * 5000, None), (None, "²"), (None, "1:2")]:
        response = await intruder.get(
            events + (f"?after={query}" if query else ""),
            headers={"Last-Event-ID": header} if header else {},
        )
        assert response.status == 400
        assert response.json()["error"]["code"] == "BAD_REQUEST"


@override_settings(CHAT_ALLOW_ANONYMOUS=True)
async def test_regenerate_and_edit_of_someone_elses_message_change_nothing(
    client: AsgiClient, intruder: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=SECRET))
    conversation_id, their_answer = await victims_answer(client)
    their_question = await question_in(conversation_id)
    await own_conversation(intruder)  # an identity of their own, with a conversation
    before = [(m.pk, m.content) async for m in Message.objects.order_by("pk")]

    regenerate = await intruder.post(f"/api/v1/messages/{their_answer}/regenerate")
    edit = await intruder.post(
        f"/api/v1/messages/{their_question.pk}/edit", json={"message": "hijacked"}
    )
    assert (regenerate.status, edit.status) == (404, 404)
    assert [(m.pk, m.content) async for m in Message.objects.order_by("pk")] == before


async def test_websocket_resume_names_only_answers_of_its_own_conversation(
    application: Any, client: AsgiClient, make_model: MakeModel, other_user: User
) -> None:
    await make_model(Scenario(tokens=SECRET))
    _, their_answer = await victims_answer(client)
    mine = await browser(application, other_user)
    _, first_answer = await own_conversation(mine)
    second, second_answer = await own_conversation(mine)
    await finished_message(second_answer)

    cookies = await sync_to_async(browser_cookies)(other_user)
    ws = websocket(application, f"/ws/conversations/{second}/", f"sessionid={cookies['sessionid']}")
    assert (await ws.connect())[0]
    for command, code in [
        ({"message_id": their_answer}, "NOT_FOUND"),
        ({"message_id": first_answer}, "NOT_FOUND"),  # mine, but another conversation's
        ({"message_id": second_answer, "after": 10**12}, "BAD_REQUEST"),
        ({"message_id": second_answer, "after": "1"}, "BAD_REQUEST"),
    ]:
        await ws.send_json_to({"type": "resume", **command})
        reply = json.loads(await ws.receive_from(timeout=5))
        assert (reply["type"], reply["error_code"]) == ("command_error", code)
    # Its own conversation's answer replays.
    await ws.send_json_to({"type": "resume", "message_id": second_answer, "after": 0})
    frames = [json.loads(await ws.receive_from(timeout=5)) for _ in range(3)]
    assert {f["message_id"] for f in frames} == {second_answer}
    await ws.disconnect()
