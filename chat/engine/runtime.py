"""Starting generations, and finding the running ones in this process to stop them."""

from __future__ import annotations

import asyncio
import contextvars
import uuid

from chat.engine import store
from chat.engine.generation import Generation, StopReason
from chat.eventlog import event_log

# Running generations of this process, by assistant message id. A generation removes
# itself when its task ends, so nothing outlives the stream it serves.
_running: dict[str, Generation] = {}


async def start_generation(
    *, user_id: int, text: str, conversation_id: uuid.UUID | None, model_name: str | None
) -> Generation:
    """Save the user's message, then run the answer as a task of its own.

    Raises ChatError (NOT_FOUND for a foreign conversation or an unknown model) before
    anything is written.
    """
    turn = await store.prepare_turn(
        user_id=user_id, text=text, conversation_id=conversation_id, model_name=model_name
    )
    generation = Generation(turn, event_log())
    await generation.announce()
    # A fresh context: the task outlives the request that started it, and must not carry
    # that request's thread-sensitive context (asgiref would keep an executor for it).
    generation.task = asyncio.create_task(
        generation.run(), name=f"generation-{generation.key}", context=contextvars.Context()
    )
    _running[generation.key] = generation
    generation.task.add_done_callback(lambda _task: _running.pop(generation.key, None))
    return generation


def running(message_id: str) -> Generation | None:
    return _running.get(message_id)


def stop(message_id: str, reason: StopReason = StopReason.USER) -> bool:
    """Stop a generation running in this process; False if it is not running here."""
    generation = _running.get(message_id)
    return generation.stop(reason) if generation is not None else False


def running_count() -> int:
    return len(_running)
