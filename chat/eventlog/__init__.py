"""Which event log this process uses: in memory by default, Redis Streams with REDIS_URL."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from chat.eventlog.base import EventLog, follow

__all__ = ["EventLog", "event_log", "follow"]


@cache
def event_log() -> EventLog:
    """Redis Streams when REDIS_URL is set (several workers), else memory (one process)."""
    if settings.REDIS_URL:
        from chat.eventlog.redis import RedisEventLog

        return RedisEventLog(
            ttl_seconds=settings.CHAT_EVENT_LOG_TTL_SECONDS,
            max_finished=settings.CHAT_EVENT_LOG_MAX_FINISHED,
            # No answer outlives the generation timeout; a dead worker's log goes then.
            max_life_seconds=settings.CHAT_GENERATION_TIMEOUT_SECONDS
            + settings.CHAT_EVENT_LOG_TTL_SECONDS,
        )
    from chat.eventlog.memory import MemoryEventLog

    return MemoryEventLog(
        ttl_seconds=settings.CHAT_EVENT_LOG_TTL_SECONDS,
        max_finished=settings.CHAT_EVENT_LOG_MAX_FINISHED,
    )
