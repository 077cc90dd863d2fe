"""Following an answer, for every transport: its live log, or the saved answer."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from enum import Enum
from typing import TypeVar

from chat.engine import presence, replay, runtime
from chat.engine.notices import ConversationNotices
from chat.eventlog import event_log, follow
from chat.events import Event

# A live answer's log reaches Redis within milliseconds; give it up to five seconds.
LOG_APPEAR_ATTEMPTS = 50
LOG_APPEAR_POLL_SECONDS = 0.1


class Progress(Enum):
    UNKNOWN = "unknown"  # no log: expired, never here, or its worker died
    LIVE = "live"  # the log is open
    ENDED = "ended"  # the log is closed, with events after `after`
    SEEN_ALL = "seen_all"  # the log is closed and the subscriber has every event


async def progress(message_id: str, after: int) -> Progress:
    state = await event_log().describe(message_id)
    if state is None:
        return Progress.UNKNOWN
    last_seq, closed = state
    if not closed:
        return Progress.LIVE
    return Progress.SEEN_ALL if after >= last_seq else Progress.ENDED


async def answer_events(
    message_id: str, after: int, heartbeat: float, *, client: bool = True
) -> AsyncGenerator[list[Event], None]:
    """Batches of the answer's events after `after`, until its terminal event.

    Empty batches mark `heartbeat` seconds of silence. With no log, the saved answer is
    replayed in condensed form (see chat.engine.replay), after finalising it if the
    generation that ran it is gone. `client`: this subscriber is someone reading the
    answer (counted for analytics), not the server waiting on it.
    """
    runtime.ensure_background()
    if not client:
        async for batch in _answer_events(message_id, after, heartbeat):
            yield batch
        return
    async with (
        presence.watching(message_id),
        aclosing(_answer_events(message_id, after, heartbeat)) as batches,
    ):
        async for batch in batches:
            yield batch


async def _answer_events(
    message_id: str, after: int, heartbeat: float
) -> AsyncGenerator[list[Event], None]:
    for _attempt in range(LOG_APPEAR_ATTEMPTS):
        async for batch in follow(event_log(), message_id, after, heartbeat):
            yield batch
            if batch:
                after = batch[-1].seq
                if batch[-1].terminal:
                    return
        if await progress(message_id, after) is Progress.SEEN_ALL:
            return
        events = await replay.saved_answer_events(
            message_id, after, running_here=runtime.runs_here(message_id)
        )
        if events is not None:
            yield events
            return
        # Running on a live worker, but its log is not in Redis yet: look again shortly.
        await asyncio.sleep(LOG_APPEAR_POLL_SECONDS)
    yield []


FeedItem = TypeVar("FeedItem")
# How a feed follows one answer: (message id, after) -> what the feed sends for it.
FollowAnswer = Callable[[str, int], AsyncIterator[FeedItem]]


def event_batches(heartbeat: float) -> FollowAnswer[tuple[str, list[Event]] | None]:
    """The plain way to follow one answer in a feed: (message id, batch), None when quiet."""

    async def follow_one(
        message_id: str, after: int
    ) -> AsyncIterator[tuple[str, list[Event]] | None]:
        async for batch in answer_events(message_id, after, heartbeat):
            yield (message_id, batch) if batch else None

    return follow_one


async def conversation_feed(
    conversation_id: str,
    unfinished_answers: Callable[[], Awaitable[list[str]]],
    resume: tuple[str, int] | None,
    heartbeat: float,
    follow: FollowAnswer[FeedItem],
    followed: set[str] | None = None,
) -> AsyncIterator[FeedItem | None]:
    """Every answer of a conversation as it is generated, until the subscriber leaves.

    First the answers still running (from the start, or from `resume` = (message id, seq)),
    then each answer started later, each through `follow(message id, after)` (see
    `event_batches`; the browser's feed renders HTML instead). Yields what `follow`
    yields, and None after `heartbeat` seconds with no answer running. Answers whose ids
    are in `followed` are skipped: a caller that follows some answers itself shares the
    set, and the feed adds what it follows.
    """
    # Subscribe before looking for running answers, so none can start unseen in between.
    async with ConversationNotices(conversation_id) as notices:
        queue: deque[str] = deque()
        if resume is not None:
            queue.append(resume[0])
        queue.extend(await unfinished_answers())
        if followed is None:
            followed = set()
        while True:
            if not queue:
                started = await notices.next_started(heartbeat)
                if started is None:
                    yield None
                else:
                    queue.append(started)
                continue
            message_id = queue.popleft()
            if message_id in followed:
                continue
            followed.add(message_id)
            after = resume[1] if resume is not None and resume[0] == message_id else 0
            async for item in follow(message_id, after):
                yield item
