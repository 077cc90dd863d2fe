"""Answers whose event log is gone: a condensed replay from the database.

A log lives for CHAT_EVENT_LOG_TTL_SECONDS after its answer ends (and, in memory, only in
the process that ran it). After that, a subscriber gets the saved answer instead: the text
in one token, then the `message` and terminal events. Their sequence numbers continue from
the subscriber's `after`, so a client that already had part of the text replaces it with
`message.content`.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from chat.db import in_thread_pool
from chat.errors import ErrorCode
from chat.events import Event, EventType
from chat.models import UNFINISHED_STATUSES, Message, Status, Worker

logger = logging.getLogger(__name__)

ABANDONED_MESSAGE = "The server running this answer stopped; the text saved so far is kept."


def finalise_abandoned(message_id: uuid.UUID | str) -> bool:
    """Finish an answer whose generation is gone, keeping its checkpointed text.

    Conditional on the answer still being unfinished, so of all the workers that notice,
    exactly one writes the final state.
    """
    message = Message.objects.filter(pk=message_id, status__in=UNFINISHED_STATUSES).first()
    if message is None:
        return False
    updated = Message.objects.filter(pk=message_id, status__in=UNFINISHED_STATUSES).update(
        status=Status.INTERRUPTED if message.content else Status.ERROR,
        finish_reason="error",
        error_code=ErrorCode.INTERNAL.value,
        error_message=ABANDONED_MESSAGE,
        finished_at=timezone.now(),
    )
    if updated:
        logger.warning("Finalised abandoned answer %s", message_id)
    return bool(updated)


def condensed_events(message: Message, after: int) -> list[Event]:
    """Stand-in events for a finished answer whose log has expired."""
    key = str(message.pk)
    events: list[Event] = []
    seq = after
    if after == 0:
        seq += 1
        events.append(
            Event(
                seq,
                EventType.START,
                {
                    "conversation_id": str(message.conversation_id),
                    "message_id": key,
                    "user_message_id": None,
                    "model": message.model_name,
                },
            )
        )
        if message.content:
            seq += 1
            events.append(Event(seq, EventType.TOKEN, {"token": message.content, "done": False}))
    seq += 1
    events.append(
        Event(
            seq,
            EventType.MESSAGE,
            {"message_id": key, "content": message.content, "status": message.status},
        )
    )
    seq += 1
    if message.error_code:
        events.append(
            Event(
                seq,
                EventType.ERROR,
                {
                    "done": True,
                    "error": message.error_message,
                    "error_code": message.error_code,
                    "message_id": key,
                    "partial_content_saved": bool(message.content),
                },
            )
        )
    else:
        events.append(
            Event(
                seq,
                EventType.DONE,
                {
                    "done": True,
                    "finish_reason": message.finish_reason,
                    "usage": {
                        "input_tokens": message.input_tokens,
                        "output_tokens": message.output_tokens,
                    },
                    "total_tokens": message.total_tokens,
                    "response_time": (message.duration_ms or 0) / 1000,
                    "ttft_ms": message.ttft_ms,
                    "conversation_id": str(message.conversation_id),
                    "message_id": key,
                },
            )
        )
    return events


def worker_alive(worker_id: str) -> bool:
    """Whether the worker beat recently (no worker id: an answer from before workers)."""
    if not worker_id:
        return False
    cutoff = timezone.now() - timedelta(seconds=settings.CHAT_WORKER_STALE_SECONDS)
    return Worker.objects.filter(pk=worker_id, last_seen__gte=cutoff).exists()


@in_thread_pool
def saved_answer_events(message_id: str, after: int, running_here: bool) -> list[Event] | None:
    """Condensed events for an answer that has no log.

    None while the answer is unfinished and still runs (here, or on a worker whose
    heartbeat is fresh: its log may not have reached Redis yet). An unfinished answer
    whose generation is gone is finalised first.
    """
    message = Message.objects.get(pk=message_id)
    if message.status in UNFINISHED_STATUSES:
        if running_here or worker_alive(message.worker_id):
            return None
        finalise_abandoned(message_id)
        message.refresh_from_db()
    return condensed_events(message, after)


@in_thread_pool
def count_reconnect(message_id: str) -> None:
    Message.objects.filter(pk=message_id).update(reconnect_count=F("reconnect_count") + 1)
