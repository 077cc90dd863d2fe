"""How many clients are following an answer, so its final state can record whether
anyone was still connected at the end (analytics)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from chat.redis import redis_client, redis_enabled, redis_key

logger = logging.getLogger(__name__)

_local: Counter[str] = Counter()
# A crashed worker never decrements: the count expires with the answer.
REDIS_COUNT_TTL_SECONDS = 3600


def count_key(message_id: str) -> str:
    return redis_key("watchers", message_id)


@asynccontextmanager
async def watching(message_id: str) -> AsyncIterator[None]:
    _local[message_id] += 1
    remote = redis_enabled()
    if remote:
        await _add(message_id, 1)
    try:
        yield
    finally:
        _local[message_id] -= 1
        if _local[message_id] <= 0:
            del _local[message_id]
        if remote:
            await _add(message_id, -1)


async def _add(message_id: str, delta: int) -> None:
    try:
        async with redis_client().pipeline(transaction=False) as pipe:
            pipe.incrby(count_key(message_id), delta)
            pipe.expire(count_key(message_id), REDIS_COUNT_TTL_SECONDS)
            await pipe.execute()
    except Exception:
        # Only the analytics flag suffers.
        logger.warning("Could not count watchers of %s", message_id, exc_info=True)


async def anyone_watching(message_id: str) -> bool:
    if _local.get(message_id, 0) > 0:
        return True
    if not redis_enabled():
        return False
    try:
        return int(await redis_client().get(count_key(message_id)) or 0) > 0
    except Exception:
        logger.warning("Could not read watchers of %s", message_id, exc_info=True)
        return False
