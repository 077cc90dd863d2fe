"""The page's live feed: a conversation's answers as server-rendered HTML, resumable."""

from __future__ import annotations

from dataclasses import dataclass, field

from chat.markdown import render_markdown
from chat.providers.demo import TOKEN_PATTERN
from tests.asgi import AsgiClient, SseEvent
from tests.conftest import MakeModel
from tests.fake_upstream import Scenario
from tests.helpers import expire_log, finished_message

STREAM = "/api/v1/chat/stream"
ANSWER = (
    "Intro paragraph.\n\n- one\n- two\n\n```python\ndef f():\n    return 1\n```\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\nThe end, with **bold**."
)
TOKENS = TOKEN_PATTERN.findall(ANSWER)


@dataclass
class Page:
    """What the browser shows of one answer, built only from the feed's HTML."""

    blocks: str = ""
    tail: str = ""
    final: str = ""
    seen: list[str] = field(default_factory=list)

    def apply(self, event: SseEvent) -> None:
        self.seen.append(event.event)
        if event.event == "update":
            self.blocks = (
                event.data["append"]
                if event.data["reset"]
                else (self.blocks + event.data["append"])
            )
            self.tail = event.data["tail"]
        elif event.event == "end":
            self.final = event.data["html"]

    @property
    def streamed(self) -> str:
        return self.blocks + self.tail


async def start_answer(client: AsgiClient, message: str = "Render this") -> tuple[str, str]:
    """Start a resumable answer and leave; it goes on. (conversation id, answer id)"""
    async with client.stream("POST", STREAM, json={"message": message, "resumable": True}) as s:
        await s.chunks_until("event: start")
        start = s.events()[0].data
    return start["conversation_id"], start["message_id"]


async def read_feed(
    client: AsgiClient, conversation_id: str, last_event_id: str = ""
) -> list[SseEvent]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    async with client.stream("GET", f"/c/{conversation_id}/events/", headers=headers) as feed:
        assert feed.status == 200
        assert feed.headers["content-type"].startswith("text/event-stream")
        await feed.chunks_until("event: end")
    return feed.events()


async def test_the_feed_sends_the_answer_as_rendered_blocks_then_the_saved_message(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS, token_delay=0.02))
    conversation_id, message_id = await start_answer(client)
    events = await read_feed(client, conversation_id)

    start = events[0]
    assert start.event == "start"
    assert start.id == f"{message_id}:1"
    assert "Render this" in start.data["user_html"]
    assert "is-streaming" in start.data["answer_html"]
    page = Page()
    for event in events:
        page.apply(event)
    assert page.seen[0] == "start" and page.seen[-1] == "end"
    assert page.seen.count("update") >= 3
    # Pieces were sent as they were written, and together they are the whole answer.
    assert page.streamed == render_markdown(ANSWER)
    assert render_markdown(ANSWER) in page.final
    assert 'data-status="complete"' in page.final
    sequence = [int(event.id.rsplit(":", 1)[1]) for event in events]
    assert sequence == sorted(sequence)
    # Only the HTML the server made: raw tokens never reach the page.
    assert all("token" not in event.data for event in events)


async def test_each_finished_block_is_sent_once(client: AsgiClient, make_model: MakeModel) -> None:
    await make_model(Scenario(tokens=TOKENS, token_delay=0.02))
    conversation_id, _ = await start_answer(client)
    events = await read_feed(client, conversation_id)
    appended = "".join(e.data["append"] for e in events if e.event == "update")
    assert appended.count("<pre") == 1
    assert appended.count("Intro paragraph.") == 1


async def test_a_reconnecting_feed_continues_after_its_last_event_id(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS, token_delay=0.05))
    conversation_id, message_id = await start_answer(client)
    async with client.stream("GET", f"/c/{conversation_id}/events/") as feed:
        while feed.text.count("event: update") < 3:
            await feed.next_chunk()
    # The connection dropped here: the page has what it got so far.
    page = Page()
    for event in feed.events():
        page.apply(event)
    last_id = feed.events()[-1].id

    resumed = await read_feed(client, conversation_id, last_event_id=last_id)
    # No start again, nothing the page already has, and it fits what the page has.
    assert resumed[0].event == "update"
    assert not resumed[0].data["reset"]
    assert int(resumed[0].id.rsplit(":", 1)[1]) > int(last_id.rsplit(":", 1)[1])
    for event in resumed:
        page.apply(event)
    assert page.streamed == render_markdown(ANSWER)
    assert (await finished_message(message_id)).content == ANSWER


async def test_after_the_log_expired_a_reconnecting_feed_gets_the_saved_message(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS))
    conversation_id, message_id = await start_answer(client)
    await finished_message(message_id)
    await expire_log(message_id)
    resumed = await read_feed(client, conversation_id, last_event_id=f"{message_id}:3")
    assert [e.event for e in resumed] == ["end"]
    assert render_markdown(ANSWER) in resumed[0].data["html"]


async def test_an_answer_started_while_watching_arrives_from_its_start(
    client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS, token_delay=0.01))
    conversation_id, first_id = await start_answer(client, "First")
    await finished_message(first_id)
    async with client.stream("GET", f"/c/{conversation_id}/events/") as feed:
        # Another tab asks a second question in the same conversation.
        async with client.stream(
            "POST",
            STREAM,
            json={"message": "Second", "conversation_id": conversation_id, "resumable": True},
        ) as other_tab:
            await other_tab.chunks_until("event: start")
        await feed.chunks_until("event: end")
    events = feed.events()
    assert events[0].event == "start"
    assert "Second" in events[0].data["user_html"]
    assert events[0].data["message_id"] != first_id


async def test_the_feed_is_only_for_the_conversations_owner(
    client: AsgiClient, anonymous_client: AsgiClient, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=TOKENS))
    conversation_id, message_id = await start_answer(client)
    await finished_message(message_id)
    assert (await anonymous_client.get(f"/c/{conversation_id}/events/")).status == 401
    other = await anonymous_client.post(STREAM, json={"message": "mine"})
    assert other.status == 401
    missing = await client.get("/c/00000000-0000-0000-0000-000000000000/events/")
    assert missing.status == 404
