"""Per-process duties: prove this worker alive, finish the answers of dead workers, and
listen for stop commands.

Started by the first answer or subscription in a process. A worker's heartbeat is one row
(Worker.last_seen), not a write per answer; an answer whose worker stopped beating for
CHAT_WORKER_STALE_SECONDS is finalised as interrupted, keeping its checkpointed text, and
its log gets the closing events so subscribers on other workers end cleanly.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
import weakref
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from chat.db import in_thread_pool
from chat.engine import control, replay
from chat.eventlog import event_log
from chat.models import UNFINISHED_STATUSES, Message, Worker
from chat.redis import redis_enabled

logger = logging.getLogger(__name__)

_started: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[asyncio.Task[None]]] = (
    weakref.WeakKeyDictionary()
)


def ensure_running(
    worker_id: str, stop_local: control.StopLocal, is_running_here: Callable[[str], bool]
) -> None:
    loop = asyncio.get_running_loop()
    if loop in _started or not settings.CHAT_BACKGROUND_TASKS:
        return
    # Fresh contexts: these tasks outlive the request that happened to start them.
    tasks = [
        asyncio.create_task(
            supervise(worker_id, is_running_here),
            name="worker-heartbeat",
            context=contextvars.Context(),
        )
    ]
    if redis_enabled():
        tasks.append(
            asyncio.create_task(
                control.listen(stop_local), name="control-listener", context=contextvars.Context()
            )
        )
    _started[loop] = tasks


@in_thread_pool
def beat(worker_id: str) -> None:
    Worker.objects.update_or_create(
        id=worker_id,
        defaults={
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "last_seen": timezone.now(),
        },
    )


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
    if not replay.finalise_abandoned(message_id):
        return None
    return Message.objects.get(pk=message_id)


async def close_abandoned_log(message: Message) -> None:
    """Append the closing events to a dead worker's log, if it still exists."""
    log = event_log()
    state = await log.describe(str(message.pk))
    if state is None or state[1]:
        return
    await log.append_after_crash(str(message.pk), replay.condensed_events(message, state[0]))


async def sweep(is_running_here: Callable[[str], bool]) -> int:
    finished = 0
    for message_id in await abandoned_answer_ids(settings.CHAT_WORKER_STALE_SECONDS):
        if is_running_here(message_id):
            continue
        message = await finalise_abandoned_answer(message_id)
        if message is not None:
            finished += 1
            await close_abandoned_log(message)
    return finished


async def supervise(worker_id: str, is_running_here: Callable[[str], bool]) -> None:
    while True:
        try:
            await beat(worker_id)
            await sweep(is_running_here)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Worker heartbeat or sweep failed")
        # A timer, not a stand-in for an event: the heartbeat is periodic by nature.
        await asyncio.sleep(settings.CHAT_WORKER_HEARTBEAT_SECONDS)
