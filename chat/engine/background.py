"""Per-process duties: prove this worker alive, finish the answers of dead workers
(chat.engine.recovery), and listen for stop commands.

Started by the first answer or subscription in a process. A worker's heartbeat is one row
(Worker.last_seen), not a write per answer.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
from collections.abc import Callable

from django.conf import settings
from django.utils import timezone

from chat.db import in_thread_pool
from chat.engine import control, recovery
from chat.loopbound import LoopBound
from chat.models import Worker
from chat.redis import redis_enabled

logger = logging.getLogger(__name__)

# This loop's heartbeat and listener tasks (empty until started).
_tasks: LoopBound[list[asyncio.Task[None]]] = LoopBound(list)


def ensure_running(
    worker_id: str, stop_local: control.StopLocal, is_running_here: Callable[[str], bool]
) -> None:
    tasks = _tasks.get()
    if tasks or not settings.CHAT_BACKGROUND_TASKS:
        return
    # Fresh contexts: these tasks outlive the request that happened to start them.
    tasks.append(
        asyncio.create_task(
            supervise(worker_id, is_running_here),
            name="worker-heartbeat",
            context=contextvars.Context(),
        )
    )
    if redis_enabled():
        tasks.append(
            asyncio.create_task(
                control.listen(stop_local), name="control-listener", context=contextvars.Context()
            )
        )


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


async def supervise(worker_id: str, is_running_here: Callable[[str], bool]) -> None:
    while True:
        try:
            await beat(worker_id)
            await recovery.sweep(is_running_here)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Worker heartbeat or sweep failed")
        # A timer, not a stand-in for an event: the heartbeat is periodic by nature.
        await asyncio.sleep(settings.CHAT_WORKER_HEARTBEAT_SECONDS)
