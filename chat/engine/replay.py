"""Answers whose event log is gone: a condensed replay from the database.

A log lives for CHAT_EVENT_LOG_TTL_SECONDS after its answer ends (and, in memory, only in
the process that ran it). After that, a subscriber gets the saved answer instead: the text
in one token, then the `message` and terminal events, built by the same event builder as
the live ones. Their sequence numbers continue from the subscriber's `after`, so a client
that already had part of the text replaces it with `message.content`.
"""

from __future__ import annotations

from chat import conversations
from chat.db import in_thread_pool
from chat.engine import event_builder, recovery
from chat.events import Event
from chat.models import UNFINISHED_STATUSES, Message


@in_thread_pool
def saved_answer_events(message_id: str, after: int, running_here: bool) -> list[Event] | None:
    """Condensed events for an answer that has no log.

    None while the answer is unfinished and still runs (here, or on a worker whose
    heartbeat is fresh: its log may not have reached Redis yet). An unfinished answer
    whose generation is gone is finalised first; a deleted one has no events.
    """
    answer = Message.objects.filter(pk=message_id).first()
    if answer is None:
        # Deleted (with its conversation, or replaced by a regenerate): nothing to replay.
        return []
    if answer.status in UNFINISHED_STATUSES:
        if running_here or recovery.worker_alive(answer.worker_id):
            return None
        recovery.finalise_abandoned(message_id)
        answer.refresh_from_db()
    question = conversations.question_before(answer) if after == 0 else None
    user_message_id = str(question.pk) if question is not None else None
    return event_builder.condensed(answer, after, user_message_id)
