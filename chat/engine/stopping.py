"""Ending answers on request: the one stop, wherever the answer runs.

Every path that ends an answer by its id goes through `stop`: the Stop button (API and
WebSocket), deleting a conversation (API and pages), and the coming tool cancellations.
It stops the answer in this process, or with Redis publishes the command that every
worker running answers listens to (chat.engine.control).
"""

from __future__ import annotations

import asyncio
import uuid

from chat import conversations
from chat.engine import control, runtime
from chat.engine.generation import StopReason
from chat.engine.subscribe import answer_events
from chat.models import UNFINISHED_STATUSES, Message, Status
from chat.owners import Owner

# How long a stop request waits for the generation to write its final state.
STOP_WAIT_SECONDS = 5.0


async def stop(message_id: str, reason: StopReason = StopReason.USER) -> bool:
    """Stop an answer here or on any worker. True if the command went out."""
    return await control.request_stop(message_id, reason, runtime.stop_here)


async def stop_and_wait(owner: Owner, message_id: uuid.UUID) -> tuple[bool, Message]:
    """Stop the owner's answer and wait (boundedly) for its final write.

    True if the answer was running and is now stopped; the message as saved.
    """
    message = await conversations.aowned_message(owner, message_id)
    if message.status not in UNFINISHED_STATUSES:
        return False, message
    key = str(message_id)
    if await stop(key):
        try:
            async with asyncio.timeout(STOP_WAIT_SECONDS):
                async for _batch in answer_events(
                    key, 0, heartbeat=STOP_WAIT_SECONDS, client=False
                ):
                    pass
        except TimeoutError:
            pass
    message = await conversations.aowned_message(owner, message_id)
    return message.status == Status.STOPPED, message


async def delete_conversation_and_stop(owner: Owner, conversation_id: uuid.UUID) -> None:
    """Delete the owner's conversation; its answers still running are stopped everywhere."""
    for message_id in await conversations.adelete_conversation(owner, conversation_id):
        await stop(message_id)
