"""One Redis client per event loop, when REDIS_URL is set."""

from __future__ import annotations

import asyncio
import weakref

from django.conf import settings
from redis.asyncio import Redis

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis] = weakref.WeakKeyDictionary()


def redis_enabled() -> bool:
    return bool(settings.REDIS_URL)


def redis_client() -> Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = Redis.from_url(settings.REDIS_URL, max_connections=settings.REDIS_MAX_CONNECTIONS)
        _clients[loop] = client
    return client


async def close_redis_client() -> None:
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def key(*parts: str) -> str:
    """A Redis key under this deployment's prefix."""
    return ":".join((settings.CHAT_REDIS_PREFIX, *parts))
