"""Models, conversations, stop, and who may see or touch what."""

from __future__ import annotations

import time
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from chat.models import ApiKey, Conversation, Message
from tests.asgi import AsgiClient
from tests.conftest import MakeModel
from tests.fake_upstream import FakeUpstream, Scenario
from tests.helpers import browser, finished_message

CHAT = "/api/v1/chat"
STREAM = "/api/v1/chat/stream"


async def test_models_lists_enabled_models_without_connection_details(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(provider="demo", name="demo", display_name="Demo (offline)")
    await make_model(name="gpt", default=False, api_key_env="OPENAI_API_KEY")
    await make_model(name="hidden", default=False, enabled=False)
    body = (await client.get("/api/v1/models")).json()
    names = [m["name"] for m in body["models"]]
    assert sorted(names) == ["demo", "gpt"]
    demo = next(m for m in body["models"] if m["name"] == "demo")
    assert demo == {
        "name": "demo",
        "display_name": "Demo (offline)",
        "provider": "demo",
        "default": True,
        "offline": True,
    }
    assert "base_url" not in str(body) and "OPENAI_API_KEY" not in str(body)


async def test_conversations_list_is_newest_first_and_only_mine(
    client: AsgiClient, make_model: MakeModel, other_user: User
) -> None:
    await make_model(provider="demo")
    await sync_to_async(Conversation.objects.create)(owner=other_user, title="not mine")
    ids = [
        (await client.post(CHAT, json={"message": f"chat {i}"})).json()["conversation_id"]
        for i in range(3)
    ]
    body = (await client.get("/api/v1/conversations")).json()
    assert [c["id"] for c in body["conversations"]] == ids[::-1]
    assert body["has_more"] is False
    page = (await client.get("/api/v1/conversations?limit=2")).json()
    assert (len(page["conversations"]), page["has_more"]) == (2, True)
    assert (await client.get("/api/v1/conversations?limit=abc")).status == 400


async def test_conversation_detail_has_messages_with_status_and_metrics(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(usage=(5, 4)))
    conversation_id = (await client.post(CHAT, json={"message": "hi"})).json()["conversation_id"]
    body = (await client.get(f"/api/v1/conversations/{conversation_id}")).json()
    assert body["id"] == conversation_id and body["title"] == "hi"
    user_message, answer = body["messages"]
    assert (user_message["role"], user_message["content"]) == ("user", "hi")
    assert answer["role"] == "assistant" and answer["status"] == "complete"
    assert answer["content"] == "Hello, world!"
    assert answer["usage"] == {"input_tokens": 5, "output_tokens": 4, "total_tokens": 9}
    assert answer["ttft_ms"] is not None and answer["duration_ms"] is not None
    assert answer["finish_reason"] == "stop" and answer["error"] is None


async def test_delete_removes_the_conversation_and_its_messages(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(provider="demo")
    conversation_id = (await client.post(CHAT, json={"message": "hi"})).json()["conversation_id"]
    assert (await client.delete(f"/api/v1/conversations/{conversation_id}")).status == 204
    assert (await client.get(f"/api/v1/conversations/{conversation_id}")).status == 404
    assert await Message.objects.acount() == 0


async def test_stop_cancels_upstream_request_and_keeps_partial_answer(
    client: AsgiClient, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    model = await make_model(Scenario(tokens=["kept ", "never"], hang_after=1))
    async with client.stream("POST", STREAM, json={"message": "hi"}) as stream:
        await stream.chunks_until('"kept "')
        message_id = stream.events()[0].data["message_id"]
        stop_sent_at = time.monotonic()
        response = await client.post(f"/api/v1/messages/{message_id}/stop")
        closed = await upstream.await_closed(model.scenario_id, timeout=1.0)
        assert closed.closed_at - stop_sent_at < 1.0
        await stream.read_all()
    assert response.status == 200
    body = response.json()
    assert body["stopped"] is True
    assert (body["message"]["status"], body["message"]["content"]) == ("stopped", "kept ")
    assert body["message"]["finish_reason"] == "stopped"
    *_, message, done = stream.events()
    assert (message.data["status"], done.event, done.data["finish_reason"]) == (
        "stopped",
        "done",
        "stopped",
    )


async def test_stop_of_a_finished_answer_changes_nothing(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model()
    message_id = (await client.post(CHAT, json={"message": "hi"})).json()["message"]["id"]
    body = (await client.post(f"/api/v1/messages/{message_id}/stop")).json()
    assert body["stopped"] is False
    assert body["message"]["status"] == "complete"


async def test_one_user_cannot_read_stop_or_delete_another_users_conversation(
    application: Any,
    client: AsgiClient,
    make_model: MakeModel,
    other_user: User,
    upstream: FakeUpstream,
) -> None:
    model = await make_model(Scenario(hang_after=1))
    intruder = AsgiClient(
        application,
        headers={"authorization": f"Bearer {(await sync_to_async(ApiKey.issue)(other_user))[1]}"},
    )
    async with client.stream("POST", STREAM, json={"message": "secret"}) as stream:
        await stream.chunks_until("event: token")
        start = stream.events()[0].data
        conversation_url = f"/api/v1/conversations/{start['conversation_id']}"

        for response in (
            await intruder.get(conversation_url),
            await intruder.delete(conversation_url),
            await intruder.post(f"/api/v1/messages/{start['message_id']}/stop"),
            await intruder.post(
                CHAT, json={"message": "hi", "conversation_id": start["conversation_id"]}
            ),
        ):
            assert response.status == 404
            assert response.json()["error"]["code"] == "NOT_FOUND"
        listing = (await intruder.get("/api/v1/conversations")).json()
        assert listing["conversations"] == []
        # The owner's answer is still streaming and the conversation still there.
        assert not upstream.requests(model.scenario_id)[0].closed_at
        assert await Conversation.objects.filter(pk=start["conversation_id"]).aexists()
        await client.post(f"/api/v1/messages/{start['message_id']}/stop")
        await stream.read_all()


async def test_browser_session_works_and_needs_csrf_for_writes(
    application: Any, make_model: MakeModel, user: User
) -> None:
    await make_model(provider="demo")
    without_token = await browser(application, user, csrf=False)
    assert (await without_token.get("/api/v1/models")).status == 200
    refused = await without_token.post(CHAT, json={"message": "hi"})
    assert refused.status == 403 and refused.json()["error"]["code"] == "AUTH"
    assert await Message.objects.acount() == 0

    allowed = await (await browser(application, user)).post(CHAT, json={"message": "hi"})
    assert allowed.status == 200, allowed.text


async def test_stop_waits_for_the_final_write(client: AsgiClient, make_model: MakeModel) -> None:
    await make_model(Scenario(hang_after=0))
    async with client.stream("POST", STREAM, json={"message": "hi"}) as stream:
        await stream.chunks_until("event: start")
        message_id = stream.events()[0].data["message_id"]
        body = (await client.post(f"/api/v1/messages/{message_id}/stop")).json()
        assert body["message"]["finished_at"] is not None
    assert (await finished_message(message_id)).status == "stopped"
