"""Small helpers shared by the API tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from chat.models import Message


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 5.0, interval: float = 0.01
) -> Any:
    """Await `check()` until it returns something truthy: for state written by another task."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def finished_message(message_id: str, timeout: float = 5.0) -> Message:
    """The message once its generation has written the final state."""

    async def final() -> Message | None:
        message = await Message.objects.aget(pk=message_id)
        return message if message.finished_at is not None else None

    return await eventually(final, timeout)


async def expire_log(message_id: str) -> None:
    """Make an answer's event log gone, as after its TTL, in whichever backend is in use."""
    from chat.eventlog import event_log
    from chat.eventlog.redis import stream_key
    from chat.redis import redis_client, redis_enabled

    if redis_enabled():
        await redis_client().delete(stream_key(message_id))
    event_log.cache_clear()
