"""The page's live feed: a conversation's answers as server-rendered HTML, over SSE.

The same answers as GET /api/v1/conversations/<id>/events, with the same ids
(`<message_id>:<seq>`), but instead of tokens it sends what the page should show:

- `start`: a new answer; the HTML of its question and of its (empty) bubble.
- `update`: `append` (HTML of blocks completed since the last update, each rendered once)
  and `tail` (the open block, replacing the previous tail); `reset` when the update holds
  the whole answer so far (the reader follows it from the start).
- `end`: the finished bubble, rendered from the saved message, as a reload would show it.

So the browser never parses markdown or inserts unsanitised text. Resuming after seq N
(an EventSource reconnecting with Last-Event-ID) re-reads events 1..N into the renderer
without sending them, so later updates fit what the page already has.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from chat import conversations
from chat.db import in_thread_pool
from chat.engine.subscribe import Progress, answer_events, conversation_feed, progress
from chat.errors import STATUS_BY_CODE, ChatError
from chat.events import Event, EventType
from chat.models import Message
from chat.ownership import feed_position, http_owner
from chat.rendering import StreamRenderer
from chat.sse import PING, STREAM_OPEN, encode_stream_failure, sse_event, sse_response
from chat.web.display import render_message

logger = logging.getLogger(__name__)

# EventSource waits this long before reconnecting after a drop (its default is ~3 s).
RECONNECT_MS = 1000
# How often the follower wakes while an answer is quiet, to send a tail it held back.
TICK_SECONDS = 0.1
# The tail is re-rendered at most once per len(tail) / this many seconds: rendering work
# per second stays bounded however long the open block grows (a huge code block updates
# less often instead of costing O(n²)).
TAIL_CHARS_PER_SECOND = 50_000


def page_event(message_id: str, seq: int, name: str, data: dict[str, Any]) -> bytes:
    """An event of the page's feed: tagged with the answer and its seq, like the API's."""
    body = json.dumps({"message_id": message_id, "seq": seq, **data}, ensure_ascii=False)
    return sse_event(f"{message_id}:{seq}", name, body)


@in_thread_pool
def start_html(message_id: str) -> dict[str, str]:
    """The answer's bubble and the question it answers, as the page shows them."""
    answer = Message.objects.filter(pk=message_id).first()
    if answer is None:
        return {}
    question = conversations.question_before(answer)
    html = {"answer_html": render_message(answer)}
    if question is not None:
        html["user_message_id"] = str(question.pk)
        html["user_html"] = render_message(question)
    return html


@in_thread_pool
def end_html(message_id: str) -> str:
    answer = Message.objects.filter(pk=message_id).first()
    return render_message(answer) if answer is not None else ""


class AnswerUpdates:
    """Turns one answer's events into page updates, holding back tails that come too fast."""

    def __init__(self, message_id: str, after: int) -> None:
        self.message_id = message_id
        self.after = after
        self.renderer = StreamRenderer()
        self.seq = after
        # New text the reader has not been sent yet.
        self.changed = False
        self.reset = after == 0
        self.tail_sent_at = float("-inf")

    def take(self, event: Event) -> None:
        """Read one event into the renderer; text the reader has is not sent again."""
        self.seq = max(self.seq, event.seq)
        if event.type == EventType.TOKEN:
            self.renderer.feed(event.data.get("token", ""))
            if event.seq <= self.after:
                self.renderer.skip_completed()
            else:
                self.changed = True

    def update(self, *, now: bool = False) -> bytes:
        """An `update` if there is news worth a render now (or `now`), else nothing."""
        if not self.changed:
            return b""
        append = self.renderer.take_completed_html()
        wait = len(self.renderer.tail_text) / TAIL_CHARS_PER_SECOND
        # Completed blocks always go at once; only re-rendering the tail waits.
        if not (append or now or time.monotonic() - self.tail_sent_at >= wait):
            return b""
        data = {"append": append, "tail": self.renderer.tail_html(), "reset": self.reset}
        self.reset = False
        self.changed = False
        self.tail_sent_at = time.monotonic()
        return page_event(self.message_id, self.seq, "update", data)


async def answer_updates(message_id: str, after: int) -> AsyncIterator[bytes]:
    """One answer as page updates, from after `after` until it ends; b"" while quiet."""
    replay_from = 0
    if after > 0:
        state = await progress(message_id, after)
        if state is Progress.SEEN_ALL:
            return
        # With its log gone, only the saved answer is left: the `end` says it all.
        replay_from = after if state is Progress.UNKNOWN else 0
    follower = AnswerUpdates(message_id, after)
    async for batch in answer_events(message_id, replay_from, TICK_SECONDS):
        chunks: list[bytes] = []
        for event in batch:
            if event.terminal:
                # The text held back goes out first, so the stream alone is complete.
                chunks.append(follower.update(now=True))
                data = {"status": event.type, "html": await end_html(message_id)}
                yield b"".join(chunks) + page_event(message_id, event.seq, "end", data)
                return
            follower.take(event)
            if event.type == EventType.START and event.seq > after:
                html = await start_html(message_id)
                chunks.append(page_event(message_id, event.seq, "start", html))
        chunks.append(follower.update())
        yield b"".join(chunks)


async def page_feed(
    conversation_id: str,
    unfinished_answers: Callable[[], Awaitable[list[str]]],
    resume: tuple[str, int] | None,
) -> AsyncIterator[bytes]:
    """Every answer of the conversation as page updates, for as long as the page stays."""
    yield STREAM_OPEN + f"retry: {RECONNECT_MS}\n\n".encode()
    heartbeat = settings.CHAT_HEARTBEAT_SECONDS
    last_write = time.monotonic()
    feed = conversation_feed(conversation_id, unfinished_answers, resume, heartbeat, answer_updates)
    try:
        async for chunk in feed:
            if chunk:
                last_write = time.monotonic()
                yield chunk
            # None: no answer running for a heartbeat; b"": an answer's quiet tick.
            elif chunk is None or time.monotonic() - last_write >= heartbeat:
                last_write = time.monotonic()
                yield PING
    except Exception:
        # Never silence: an error event and a clean close; the page's EventSource
        # reconnects and resumes after the last update it got.
        logger.exception("The page feed of conversation %s failed", conversation_id)
        yield encode_stream_failure()


async def page_feed_events(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponseBase:
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET"})
    try:
        owner = await http_owner(request)
        await conversations.aowned_conversation(owner, conversation_id)
        last_event_id = request.headers.get("Last-Event-ID", "")
        resume = await feed_position(owner, conversation_id, last_event_id)
    except ChatError as error:
        # Not an event stream, so EventSource gives up instead of retrying.
        return HttpResponse(
            error.message, status=STATUS_BY_CODE.get(error.code, 400), content_type="text/plain"
        )

    async def unfinished() -> list[str]:
        return await conversations.aunfinished_answer_ids(owner, conversation_id)

    return sse_response(page_feed(str(conversation_id), unfinished, resume))
