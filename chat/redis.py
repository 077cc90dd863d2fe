"""One Redis client per event loop, when REDIS_URL is set."""

from __future__ import annotations

from django.conf import settings
from redis.asyncio import Redis

from chat.loopbound import LoopBound


def _new_client() -> Redis:
    return Redis.from_url(settings.REDIS_URL, max_connections=settings.REDIS_MAX_CONNECTIONS)


_clients: LoopBound[Redis] = LoopBound(_new_client)


def redis_enabled() -> bool:
    return bool(settings.REDIS_URL)


def redis_client() -> Redis:
    return _clients.get()


async def close_redis_client() -> None:
    client = _clients.pop()
    if client is not None:
        await client.aclose()


def redis_key(*parts: str) -> str:
    """A Redis key under this deployment's prefix."""
    return ":".join((settings.CHAT_REDIS_PREFIX, *parts))
