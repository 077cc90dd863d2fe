"""Answers whose generation is gone: worker liveness, finalising what a dead worker left
unfinished, closing its log, and counting the clients that come back (resumes).

Each worker proves itself alive with one row (Worker.last_seen, written by
chat.engine.background). An answer whose worker has not beaten for
CHAT_WORKER_STALE_SECONDS is finalised as interrupted (or error, without text), keeping its
checkpointed text, and its log gets the closing events so subscribers elsewhere end.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from chat.db import in_thread_pool
from chat.engine import event_builder
from chat.errors import ErrorCode
from chat.eventlog import event_log
from chat.models import UNFINISHED_STATUSES, Message, Status, Worker

logger = logging.getLogger(__name__)

ABANDONED_MESSAGE = "The server running this answer stopped; the text saved so far is kept."


def worker_alive(worker_id: str) -> bool:
    """Whether the worker beat recently (no worker id: an answer from before workers)."""
    if not worker_id:
        return False
    cutoff = timezone.now() - timedelta(seconds=settings.CHAT_WORKER_STALE_SECONDS)
    return Worker.objects.filter(pk=worker_id, last_seen__gte=cutoff).exists()


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


@in_thread_pool
def abandoned_answer_ids(stale_seconds: float) -> list[str]:
    """Unfinished answers whose worker has not beaten for `stale_seconds`."""
    cutoff = timezone.now() - timedelta(seconds=stale_seconds)
    alive = Worker.objects.filter(last_seen__gte=cutoff).values("id")
    rows = (
        Message.objects.filter(status__in=UNFINISHED_STATUSES, created_at__lt=cutoff)
        .exclude(worker_id__in=alive)
        .values_list("pk", flat=True)[:500]
    )
    return [str(pk) for pk in rows]


@in_thread_pool
def finalise_abandoned_answer(message_id: str) -> Message | None:
    if not finalise_abandoned(message_id):
        return None
    return Message.objects.get(pk=message_id)


async def close_abandoned_log(message: Message) -> None:
    """Append the closing events to a dead worker's log, if it still exists."""
    log = event_log()
    state = await log.describe(str(message.pk))
    if state is None or state[1]:
        return
    last_seq = state[0]
    # The log has its start already: only the closing events follow.
    await log.append_after_crash(
        str(message.pk), event_builder.condensed(message, last_seq, user_message_id=None)
    )


async def sweep(is_running_here: Callable[[str], bool]) -> int:
    """Finalise the answers of dead workers; how many this call finished."""
    finished = 0
    for message_id in await abandoned_answer_ids(settings.CHAT_WORKER_STALE_SECONDS):
        if is_running_here(message_id):
            continue
        message = await finalise_abandoned_answer(message_id)
        if message is not None:
            finished += 1
            await close_abandoned_log(message)
    return finished


@in_thread_pool
def count_reconnect(message_id: str) -> None:
    Message.objects.filter(pk=message_id).update(reconnect_count=F("reconnect_count") + 1)
