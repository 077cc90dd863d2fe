"""What is saved, when, and exactly once, whatever the outcome."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from chat.engine import runtime, store
from chat.engine.store import FinalState
from chat.models import Conversation, Message, Status
from chat.owners import Owner
from tests.asgi import AsgiClient
from tests.conftest import MakeModel
from tests.fake_upstream import FakeUpstream, Scenario
from tests.helpers import eventually, finished_message

CHAT = "/api/v1/chat"
STREAM = "/api/v1/chat/stream"


async def test_user_message_is_saved_before_the_upstream_call_and_answer_exists_from_start(
    client: AsgiClient, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    model = await make_model(Scenario(hang_after=0))
    async with client.stream("POST", STREAM, json={"message": "persist me"}) as stream:
        await stream.chunks_until("event: start")
        start = stream.events()[0].data
        await asyncio.to_thread(upstream.wait_for_requests, model.scenario_id, 1)
        user_message = await Message.objects.aget(pk=start["user_message_id"])
        answer = await Message.objects.aget(pk=start["message_id"])
        assert (user_message.role, user_message.content, user_message.status) == (
            "user",
            "persist me",
            "complete",
        )
        assert (answer.role, answer.status, answer.position) == ("assistant", "pending", 1)
        assert answer.model_name == model.name
    saved = await finished_message(start["message_id"])
    assert saved.status == "stopped"


async def test_partial_text_is_checkpointed_while_streaming(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=["first ", "second"], hang_after=1))
    async with client.stream("POST", STREAM, json={"message": "hi"}) as stream:
        await stream.chunks_until('"first "')
        message_id = stream.events()[0].data["message_id"]

        async def checkpointed() -> Message | None:
            message = await Message.objects.aget(pk=message_id)
            return message if message.status == "streaming" else None

        message = await eventually(checkpointed)
        assert message.content == "first "


@override_settings(CHAT_FLUSH_INTERVAL_SECONDS=0.2)
async def test_checkpoints_are_bounded_not_per_token(
    client: AsgiClient, make_model: MakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[dict[uuid.UUID, str]] = []
    real_save_partials = store.save_partials

    async def counting_save_partials(contents: dict[uuid.UUID, str]) -> None:
        batches.append(dict(contents))
        await real_save_partials(contents)

    monkeypatch.setattr(store, "save_partials", counting_save_partials)
    await make_model(Scenario(tokens=["t "] * 100, token_delay=0.005))
    response = await client.post(STREAM, json={"message": "hi"})
    assert response.events()[-1].event == "done"
    # 100 tokens over ~0.5 s with a 0.2 s interval: the first token, then about two more.
    assert 1 <= len(batches) <= 5
    assert next(iter(batches[0].values())) == "t "


@override_settings(CHAT_FLUSH_INTERVAL_SECONDS=0.2)
async def test_checkpoints_of_concurrent_answers_share_one_write(
    client: AsgiClient, make_model: MakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[set[uuid.UUID]] = []
    real_save_partials = store.save_partials

    async def recording_save_partials(contents: dict[uuid.UUID, str]) -> None:
        batches.append(set(contents))
        await real_save_partials(contents)

    monkeypatch.setattr(store, "save_partials", recording_save_partials)
    await make_model(Scenario(tokens=["t "] * 60, token_delay=0.01))
    await asyncio.gather(*(client.post(STREAM, json={"message": "hi"}) for _ in range(4)))
    assert max(len(batch) for batch in batches) == 4
    assert len(batches) <= 8  # four answers of ~0.6 s: a few batches, not one per answer


async def test_final_state_is_written_exactly_once(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model()
    done = (await client.post(STREAM, json={"message": "hi"})).events()[-1]
    message_id = uuid.UUID(done.data["message_id"])
    overwrite = FinalState(
        status=Status.ERROR,
        content="overwritten",
        finish_reason="error",
        input_tokens=None,
        output_tokens=None,
        ttft_ms=None,
        duration_ms=0,
    )
    assert await store.finalise_message(message_id, overwrite) is False
    await store.save_partials({message_id: "late checkpoint"})
    saved = await Message.objects.aget(pk=message_id)
    assert (saved.status, saved.content) == ("complete", "Hello, world!")


async def test_metrics_are_recorded_on_the_answer(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(ttft=0.1, usage=(7, 4), request_id="req-abc"))
    done = (await client.post(STREAM, json={"message": "hi"})).events()[-1]
    saved = await Message.objects.aget(pk=done.data["message_id"])
    assert (saved.input_tokens, saved.output_tokens) == (7, 4)
    assert saved.ttft_ms >= 100 and saved.duration_ms >= saved.ttft_ms
    assert saved.upstream_request_id == "req-abc"
    assert saved.finished_at is not None
    assert done.data["ttft_ms"] == saved.ttft_ms


async def test_context_is_system_prompt_last_history_limit_messages_and_the_new_one(
    client: AsgiClient, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    model = await make_model(Scenario(echo=True), system_prompt="You are terse.", history_limit=2)
    first = (await client.post(CHAT, json={"message": "one"})).json()
    conversation_id = first["conversation_id"]
    await client.post(CHAT, json={"message": "two", "conversation_id": conversation_id})
    third = await client.post(CHAT, json={"message": "three", "conversation_id": conversation_id})
    assert third.json()["message"]["content"] == "three"

    last_request = upstream.requests(model.scenario_id)[-1]
    assert last_request.body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ]
    positions = [
        (m.position, m.role)
        async for m in Message.objects.filter(conversation_id=conversation_id).order_by("position")
    ]
    assert positions == [(i, "user" if i % 2 == 0 else "assistant") for i in range(6)]


async def test_conversation_title_is_the_start_of_its_first_message(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(provider="demo")
    text = "How do I stream tokens from Django over ASGI without buffering the response?"
    body = (await client.post(CHAT, json={"message": text})).json()
    conversation = await Conversation.objects.aget(pk=body["conversation_id"])
    assert text.startswith(conversation.title.rstrip("…"))
    assert conversation.title.endswith("…") and len(conversation.title) <= 61


async def test_non_streaming_chat_returns_the_whole_answer(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=["Hi", " 世界"], usage=(3, 2)))
    response = await client.post(CHAT, json={"message": "hi"})
    assert response.status == 200
    body: dict[str, Any] = response.json()
    assert set(body) == {"conversation_id", "message", "usage", "response_time"}
    assert body["message"]["content"] == "Hi 世界"
    assert body["message"]["role"] == "assistant"
    assert (body["message"]["status"], body["message"]["finish_reason"]) == ("complete", "stop")
    assert body["usage"] == {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}
    assert isinstance(body["response_time"], float)
    saved = await Message.objects.aget(pk=body["message"]["id"])
    assert str(saved.conversation_id) == body["conversation_id"]


async def test_non_streaming_upstream_failure_is_a_502_with_the_saved_message(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=["partial ", "rest"], cut_after=1))
    response = await client.post(CHAT, json={"message": "hi"})
    assert response.status == 502
    body = response.json()
    assert body["error"]["code"] == "UPSTREAM_CLOSED"
    assert body["message"]["status"] == "interrupted"
    assert body["message"]["content"] == "partial "


async def test_non_streaming_client_that_hangs_up_stops_the_generation(
    client: AsgiClient, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    model = await make_model(Scenario(hang_after=1))
    async with client.send("POST", CHAT, json={"message": "hi"}) as request:
        await asyncio.to_thread(upstream.wait_for_requests, model.scenario_id, 1)
        await request.disconnect()
    await upstream.await_closed(model.scenario_id, timeout=1.0)
    answer = await Message.objects.filter(role="assistant").aget()
    saved = await finished_message(str(answer.pk))
    assert (saved.status, saved.finish_reason) == ("stopped", "client_gone")


async def test_stop_before_the_relay_starts_still_finalises_once(
    make_model: MakeModel, user: Any
) -> None:
    await make_model(Scenario(hang_after=0))
    generation = await runtime.start_generation(
        owner=Owner.user(user.pk), text="hi", conversation_id=None, model_name=None
    )
    # Stop before the task had a chance to run: nothing may be left pending.
    assert generation.stop(runtime.StopReason.USER)
    assert generation.task is not None
    await asyncio.wait_for(generation.task, 5)
    saved = await Message.objects.aget(pk=generation.key)
    assert (saved.status, saved.finish_reason, saved.content) == ("stopped", "stopped", "")


async def test_provider_refusing_the_server_key_is_a_502_not_the_callers_401(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(require_api_key="right-key"))
    response = await client.post(CHAT, json={"message": "hi"})
    assert response.status == 502
    assert response.json()["error"]["code"] == "AUTH"
    assert response.json()["message"]["status"] == "error"


async def test_answer_records_whether_a_client_was_still_connected_at_the_end(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=["a ", "b ", "c"], token_delay=0.01))
    streamed = (await client.post(STREAM, json={"message": "hi"})).events()
    waited = (await client.post(CHAT, json={"message": "hi"})).json()
    async with client.stream("POST", STREAM, json={"message": "hi", "resumable": True}) as stream:
        await stream.chunks_until("event: token")
        abandoned_id = stream.events()[0].data["message_id"]
        await stream.disconnect()
    async with client.stream("POST", STREAM, json={"message": "hi"}) as stream:
        await stream.chunks_until("event: token")
        gone_id = stream.events()[0].data["message_id"]
        await stream.disconnect()

    outcomes = {
        "streamed": await finished_message(streamed[0].data["message_id"]),
        "waited": await finished_message(waited["message"]["id"]),
        "abandoned": await finished_message(abandoned_id),
        "gone": await finished_message(gone_id),
    }
    assert {name: m.client_connected for name, m in outcomes.items()} == {
        "streamed": True,
        "waited": True,
        "abandoned": False,
        "gone": False,
    }
    assert outcomes["abandoned"].status == "complete"
    assert (outcomes["gone"].status, outcomes["gone"].finish_reason) == ("stopped", "client_gone")


async def test_a_new_message_while_an_answer_runs_is_refused_and_writes_nothing(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(hang_after=1))
    async with client.stream("POST", STREAM, json={"message": "first"}) as stream:
        await stream.chunks_until("event: token")
        start = stream.events()[0].data
        response = await client.post(
            CHAT, json={"message": "second", "conversation_id": start["conversation_id"]}
        )
        assert response.status == 400
        assert "still being generated" in response.json()["error"]["message"]
        assert await Message.objects.filter(content="second").acount() == 0
        await client.post(f"/api/v1/messages/{start['message_id']}/stop")
        await stream.read_all()


async def test_an_answer_left_by_a_dead_worker_does_not_block_its_conversation(
    client: AsgiClient, make_model: MakeModel, user: Any
) -> None:
    await make_model()
    conversation = await sync_to_async(Conversation.objects.create)(owner=user, title="t")
    await sync_to_async(Message.objects.create)(
        conversation=conversation, role="user", content="q", position=0
    )
    orphan = await sync_to_async(Message.objects.create)(
        conversation=conversation,
        role="assistant",
        status=Status.STREAMING,
        position=1,
        content="half an answ",
        worker_id="a-worker-that-died",
    )
    response = await client.post(
        CHAT, json={"message": "again", "conversation_id": str(conversation.pk)}
    )
    assert response.status == 200
    assert response.json()["message"]["status"] == "complete"
    orphan = await Message.objects.aget(pk=orphan.pk)
    assert (orphan.status, orphan.content, orphan.error_code) == (
        "interrupted",
        "half an answ",
        "INTERNAL",
    )
