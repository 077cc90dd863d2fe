"""Following an answer, for every transport: its live log, or the saved answer."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import Enum

from chat.engine import replay, runtime
from chat.engine.notices import ConversationNotices
from chat.eventlog import event_log, follow
from chat.events import Event


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
    message_id: str, after: int, heartbeat: float
) -> AsyncIterator[list[Event]]:
    """Batches of the answer's events after `after`, until its terminal event.

    Empty batches mark `heartbeat` seconds of silence. With no log, the saved answer is
    replayed in condensed form (see chat.engine.replay), after finalising it if the
    generation that ran it is gone.
    """
    async for batch in follow(event_log(), message_id, after, heartbeat):
        yield batch
        if batch:
            after = batch[-1].seq
            if batch[-1].terminal:
                return
    if await progress(message_id, after) is Progress.SEEN_ALL:
        return
    events = await replay.saved_answer_events(
        message_id, after, generation_alive=runtime.generation_alive(message_id)
    )
    if events:
        yield events


async def conversation_feed(
    conversation_id: str,
    unfinished_answers: Callable[[], Awaitable[list[str]]],
    resume: tuple[str, int] | None,
    heartbeat: float,
) -> AsyncIterator[tuple[str, list[Event]] | None]:
    """Every answer of a conversation as it is generated, until the subscriber leaves.

    First the answers still running (from the start, or from `resume` = (message id, seq)),
    then each answer started later. Yields (message id, batch), or None after `heartbeat`
    seconds of silence.
    """
    # Subscribe before looking for running answers, so none can start unseen in between.
    async with ConversationNotices(conversation_id) as notices:
        queue: deque[str] = deque()
        if resume is not None:
            queue.append(resume[0])
        queue.extend(await unfinished_answers())
        followed: set[str] = set()
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
            async for batch in answer_events(message_id, after, heartbeat):
                yield (message_id, batch) if batch else None
