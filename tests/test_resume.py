"""Answers outlive their connections: resume, late subscribers, second tabs."""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import sync_to_async

from chat.models import Conversation, Message, Status
from tests.asgi import AsgiClient, SseEvent, parse_sse
from tests.conftest import MakeModel
from tests.fake_upstream import FakeUpstream, Scenario
from tests.helpers import expire_log, finished_message

STREAM = "/api/v1/chat/stream"
TOKENS = [f"w{i} " for i in range(12)] + ["終わり ✅"]
ANSWER = "".join(TOKENS)


def text_of(events: list[SseEvent]) -> str:
    return "".join(e.data.get("token", "") for e in events if e.event == "token")


async def test_interrupted_client_resumes_to_exactly_the_full_text(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS, token_delay=0.01))
    async with client.stream("POST", STREAM, json={"message": "hi", "resumable": True}) as stream:
        await stream.chunks_until('"w4 "')
        first_part = stream.events()
        await stream.disconnect()
    last_seen = int(first_part[-1].id)
    message_id = first_part[0].data["message_id"]

    resumed = await client.get(f"/api/v1/messages/{message_id}/events?after={last_seen}")
    rest = resumed.events()
    assert int(rest[0].id) == last_seen + 1
    ids = [int(e.id) for e in first_part + rest]
    assert ids == list(range(1, len(ids) + 1))  # no gap, no duplicate
    assert text_of(first_part) + text_of(rest) == ANSWER
    assert rest[-1].event == "done"
    saved = await finished_message(message_id)
    assert (saved.status, saved.content, saved.reconnect_count) == ("complete", ANSWER, 1)


async def test_resume_by_last_event_id_header_as_eventsource_does(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS))
    events = (await client.post(STREAM, json={"message": "hi"})).events()
    message_id = events[0].data["message_id"]
    replay = await client.get(
        f"/api/v1/messages/{message_id}/events", headers={"last-event-id": "5"}
    )
    assert [e.id for e in replay.events()] == [e.id for e in events[5:]]


async def test_resumable_answer_survives_its_client_and_is_saved(
    client: AsgiClient, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    model = await make_model(Scenario(tokens=TOKENS, token_delay=0.01))
    async with client.stream("POST", STREAM, json={"message": "hi", "resumable": True}) as stream:
        await stream.chunks_until("event: token")
        message_id = stream.events()[0].data["message_id"]
        await stream.disconnect()
    saved = await finished_message(message_id)
    assert (saved.status, saved.content) == ("complete", ANSWER)
    assert not upstream.requests(model.scenario_id)[0].client_closed_early


async def test_finished_answer_replays_and_closes_then_says_204(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS))
    events = (await client.post(STREAM, json={"message": "hi"})).events()
    message_id = events[0].data["message_id"]
    replay = await client.get(f"/api/v1/messages/{message_id}/events")
    assert [(e.id, e.event, e.data) for e in replay.events()] == [
        (e.id, e.event, e.data) for e in events
    ]
    seen_all = await client.get(f"/api/v1/messages/{message_id}/events?after={events[-1].id}")
    assert seen_all.status == 204


async def test_expired_log_replays_the_saved_answer_condensed(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS))
    events = (await client.post(STREAM, json={"message": "hi"})).events()
    message_id = events[0].data["message_id"]
    await expire_log(message_id)

    replay = (await client.get(f"/api/v1/messages/{message_id}/events")).events()
    assert [e.event for e in replay] == ["start", "token", "message", "done"]
    assert text_of(replay) == ANSWER
    assert replay[-1].data["finish_reason"] == "stop"

    late = (await client.get(f"/api/v1/messages/{message_id}/events?after=4")).events()
    assert [(e.id, e.event) for e in late] == [("5", "message"), ("6", "done")]
    assert late[0].data["content"] == ANSWER


async def test_answer_whose_generation_is_gone_ends_interrupted_with_saved_text(
    client: AsgiClient, user: Any
) -> None:
    conversation = await sync_to_async(Conversation.objects.create)(owner=user, title="t")
    orphan = await sync_to_async(Message.objects.create)(
        conversation=conversation,
        role="assistant",
        status=Status.STREAMING,
        position=1,
        content="checkpointed text",
    )
    replay = (await client.get(f"/api/v1/messages/{orphan.pk}/events")).events()
    assert replay[-2].data == {
        "type": "message",
        "message_id": str(orphan.pk),
        "content": "checkpointed text",
        "status": "interrupted",
    }
    assert replay[-1].event == "error"
    assert replay[-1].data["partial_content_saved"] is True
    saved = await Message.objects.aget(pk=orphan.pk)
    assert (saved.status, saved.content, saved.error_code) == (
        "interrupted",
        "checkpointed text",
        "INTERNAL",
    )


async def test_second_tab_sees_the_answer_stream_live(
    client: AsgiClient, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    await make_model(Scenario(tokens=TOKENS, token_delay=0.01))
    conversation_id = (await client.post("/api/v1/chat", json={"message": "first"})).json()[
        "conversation_id"
    ]
    async with client.stream(
        "GET", f"/api/v1/conversations/{conversation_id}/events"
    ) as second_tab:
        await second_tab.next_chunk()  # the opening comment: subscribed
        sent = await client.post(
            STREAM, json={"message": "second", "conversation_id": conversation_id}
        )
        message_id = sent.events()[0].data["message_id"]
        await second_tab.chunks_until("event: done")
    seen = parse_sse(second_tab.text)
    assert seen[0].event == "start"
    assert {e.data["message_id"] for e in seen} == {message_id}
    assert [e.data["seq"] for e in seen] == list(range(1, len(seen) + 1))
    assert seen[0].id == f"{message_id}:1"
    assert text_of(seen) == ANSWER


async def test_tab_opened_mid_answer_gets_it_from_the_start(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS, hang_after=3))
    async with client.stream("POST", STREAM, json={"message": "hi"}) as sender:
        await sender.chunks_until('"w2 "')
        start = sender.events()[0].data
        async with client.stream(
            "GET", f"/api/v1/conversations/{start['conversation_id']}/events"
        ) as late_tab:
            await late_tab.chunks_until('"w2 "')
            assert text_of(parse_sse(late_tab.text)) == "w0 w1 w2 "
        await client.post(f"/api/v1/messages/{start['message_id']}/stop")
        await sender.read_all()


async def test_feed_resumes_from_its_last_event_id(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS, hang_after=5))
    async with client.stream("POST", STREAM, json={"message": "hi"}) as sender:
        await sender.chunks_until('"w4 "')
        start = sender.events()[0].data
        feed_url = f"/api/v1/conversations/{start['conversation_id']}/events"
        async with client.stream(
            "GET", feed_url, headers={"last-event-id": f"{start['message_id']}:3"}
        ) as feed:
            await feed.chunks_until('"w4 "')
            resumed = parse_sse(feed.text)
        assert [e.data["seq"] for e in resumed] == [4, 5, 6]
        await client.post(f"/api/v1/messages/{start['message_id']}/stop")
        await sender.read_all()


async def test_other_users_cannot_follow_an_answer_or_a_conversation(
    application: Any, client: AsgiClient, make_model: MakeModel, other_user: Any
) -> None:
    from chat.models import ApiKey

    await make_model()
    body = (await client.post("/api/v1/chat", json={"message": "mine"})).json()
    key = (await sync_to_async(ApiKey.issue)(other_user))[1]
    intruder = AsgiClient(application, headers={"authorization": f"Bearer {key}"})
    for url in (
        f"/api/v1/messages/{body['message']['id']}/events",
        f"/api/v1/conversations/{body['conversation_id']}/events",
    ):
        response = await intruder.get(url)
        assert response.status == 404


async def test_bad_resume_point_is_a_400(client: AsgiClient, make_model: MakeModel) -> None:
    await make_model()
    message_id = (await client.post("/api/v1/chat", json={"message": "hi"})).json()["message"]["id"]
    response = await client.get(f"/api/v1/messages/{message_id}/events?after=-3")
    assert response.status == 400


async def test_many_subscribers_all_get_the_same_events_live_or_late(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS, hang_after=0, ttft=0))
    async with client.stream("POST", STREAM, json={"message": "hi"}) as sender:
        await sender.chunks_until("event: start")
        message_id = sender.events()[0].data["message_id"]
        followers = [
            asyncio.create_task(client.get(f"/api/v1/messages/{message_id}/events"))
            for _ in range(5)
        ]
        await client.post(f"/api/v1/messages/{message_id}/stop")
        await sender.read_all()
    results = await asyncio.gather(*followers)
    expected = [(e.id, e.data) for e in sender.events()]
    for response in results:
        assert [(e.id, e.data) for e in response.events()] == expected
