"""Regenerate an answer, or edit a message and resend it; later messages are replaced."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.test import override_settings

from chat.models import ApiKey, Conversation, Message
from tests.asgi import AsgiClient
from tests.conftest import MakeModel
from tests.fake_upstream import FakeUpstream, Scenario
from tests.helpers import browser

CHAT = "/api/v1/chat"


async def transcript(conversation_id: str) -> list[tuple[str, str, str]]:
    return [
        (m.role, m.content, m.status)
        async for m in Message.objects.filter(conversation_id=conversation_id).order_by("position")
    ]


async def test_regenerate_replaces_the_last_answer(
    client: AsgiClient, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    model = await make_model(Scenario(echo=True))
    first = (await client.post(CHAT, json={"message": "one"})).json()
    conversation_id = first["conversation_id"]
    second = (
        await client.post(CHAT, json={"message": "two", "conversation_id": conversation_id})
    ).json()
    response = await client.post(f"/api/v1/messages/{second['message']['id']}/regenerate")
    assert response.status == 200
    again = response.json()
    assert again["message"]["id"] != second["message"]["id"]
    assert await transcript(conversation_id) == [
        ("user", "one", "complete"),
        ("assistant", "one", "complete"),
        ("user", "two", "complete"),
        ("assistant", "two", "complete"),
    ]
    # The regenerated answer was asked with the same context as the first time.
    requests = upstream.requests(model.scenario_id)
    assert requests[-1].body["messages"] == requests[-2].body["messages"]


async def test_edit_changes_the_message_and_replaces_everything_after_it(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(echo=True))
    first = (await client.post(CHAT, json={"message": "one"})).json()
    conversation_id = first["conversation_id"]
    await client.post(CHAT, json={"message": "two", "conversation_id": conversation_id})
    user_message = await Message.objects.filter(
        conversation_id=conversation_id, role="user"
    ).afirst()
    response = await client.post(
        f"/api/v1/messages/{user_message.pk}/edit",
        json={"message": "uno", "stream": True},
    )
    assert response.events()[-1].event == "done"
    assert await transcript(conversation_id) == [
        ("user", "uno", "complete"),
        ("assistant", "uno", "complete"),
    ]
    conversation = await Conversation.objects.aget(pk=conversation_id)
    assert conversation.title == "uno"


async def test_rerun_refuses_while_an_answer_is_streaming(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(hang_after=1))
    async with client.stream("POST", "/api/v1/chat/stream", json={"message": "hi"}) as stream:
        await stream.chunks_until("event: token")
        start = stream.events()[0].data
        response = await client.post(
            f"/api/v1/messages/{start['user_message_id']}/edit", json={"message": "changed"}
        )
        assert response.status == 400
        assert "still being generated" in response.json()["error"]["message"]
        await client.post(f"/api/v1/messages/{start['message_id']}/stop")
        await stream.read_all()
    assert (await Message.objects.aget(pk=start["user_message_id"])).content == "hi"


async def test_rerun_input_errors(
    application: Any, client: AsgiClient, make_model: MakeModel, other_user: Any
) -> None:
    await make_model()
    body = (await client.post(CHAT, json={"message": "hi"})).json()
    answer_id = body["message"]["id"]
    edit_answer = await client.post(f"/api/v1/messages/{answer_id}/edit", json={"message": "x"})
    assert edit_answer.status == 400
    empty_edit = await client.post(f"/api/v1/messages/{answer_id}/edit", json={"message": ""})
    assert empty_edit.status == 400
    key = (await sync_to_async(ApiKey.issue)(other_user))[1]
    intruder = AsgiClient(application, headers={"authorization": f"Bearer {key}"})
    assert (await intruder.post(f"/api/v1/messages/{answer_id}/regenerate")).status == 404
    assert await Message.objects.acount() == 2


@override_settings(CHAT_ALLOW_ANONYMOUS=True)
async def test_anonymous_session_chats_and_sees_only_its_own_conversations(
    application: Any, make_model: MakeModel, transactional_db: None
) -> None:
    await make_model(provider="demo")

    first, second = await browser(application), await browser(application)
    response = await first.post(CHAT, json={"message": "anonymous hello"})
    assert response.status == 200, response.text
    mine = (await first.get("/api/v1/conversations")).json()["conversations"]
    assert [c["title"] for c in mine] == ["anonymous hello"]
    conversation = await Conversation.objects.aget()
    assert conversation.owner_id is None and conversation.anonymous_id

    # Another browser gets its own anonymous identity, and sees none of the first's.
    assert (await second.get("/api/v1/models")).status == 200
    assert (await second.get("/api/v1/conversations")).json()["conversations"] == []
    assert (await second.get(f"/api/v1/conversations/{mine[0]['id']}")).status == 404


async def test_anonymous_chat_is_refused_when_off(application: Any, make_model: MakeModel) -> None:
    await make_model(provider="demo")
    response = await (await browser(application)).post(CHAT, json={"message": "hi"})
    assert response.status == 401
    assert await Message.objects.acount() == 0
