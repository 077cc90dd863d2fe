"""Starting generations, and finding the running ones in this process.

Stopping one by id, on whichever worker runs it, is chat.engine.stopping.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import socket
import uuid

from chat.engine import background, notices, recovery, store
from chat.engine.generation import Generation, StopReason
from chat.engine.store import Turn
from chat.eventlog import event_log
from chat.owners import Owner

# This process, as recorded on the answers it runs.
WORKER_ID = f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

# Running generations of this process, by assistant message id. A generation removes
# itself when its task ends, so nothing outlives the stream it serves.
_running: dict[str, Generation] = {}
# Announcement tasks in flight (a task nobody references can be garbage-collected).
_announcements: set[asyncio.Task[None]] = set()


def ensure_background() -> None:
    """Start this process's heartbeat, dead-worker sweep and stop listener (once)."""
    background.ensure_running(WORKER_ID, stop_here, runs_here)


async def launch(turn: Turn) -> Generation:
    """Run a prepared turn's answer as a task of its own."""
    ensure_background()
    for answer in turn.abandoned:
        await recovery.close_abandoned_log(answer)
    generation = Generation(turn, event_log())
    await generation.announce()
    # A fresh context: the task outlives the request that started it, and must not carry
    # that request's thread-sensitive context (asgiref would keep an executor for it).
    generation.task = asyncio.create_task(
        generation.run(), name=f"generation-{generation.key}", context=contextvars.Context()
    )
    _running[generation.key] = generation
    generation.task.add_done_callback(lambda _task: _running.pop(generation.key, None))
    # Fire and forget: nothing may be awaited between starting the task and returning it,
    # or a caller cancelled in between (a client hanging up) could not stop the answer.
    announcement = asyncio.create_task(
        notices.announce_started(turn.conversation_id, generation.key),
        context=contextvars.Context(),
    )
    _announcements.add(announcement)
    announcement.add_done_callback(_announcements.discard)
    return generation


async def start_generation(
    *, owner: Owner, text: str, conversation_id: uuid.UUID | None, model_name: str | None
) -> Generation:
    """Save the user's message, then answer it.

    Raises ChatError (NOT_FOUND for a foreign conversation or an unknown model) before
    anything is written.
    """
    turn = await store.prepare_turn(
        owner=owner,
        text=text,
        conversation_id=conversation_id,
        model_name=model_name,
        worker_id=WORKER_ID,
        running_here=frozenset(_running),
    )
    return await launch(turn)


async def rerun_generation(
    *, owner: Owner, message_id: uuid.UUID, text: str | None, model_name: str | None
) -> Generation:
    """Regenerate an answer, or resend an edited user message; later messages are replaced."""
    turn = await store.prepare_rerun(
        owner=owner,
        message_id=message_id,
        text=text,
        model_name=model_name,
        worker_id=WORKER_ID,
        running_here=frozenset(_running),
    )
    return await launch(turn)


def runs_here(message_id: str) -> bool:
    """Whether this process runs the answer."""
    return message_id in _running


def stop_here(message_id: str, reason: str) -> bool:
    """Stop a generation running in this process; False if it is not running here.

    The mechanism under chat.engine.stopping.stop, which transports use.
    """
    generation = _running.get(message_id)
    return generation.stop(StopReason(reason)) if generation is not None else False


def running_count() -> int:
    return len(_running)
