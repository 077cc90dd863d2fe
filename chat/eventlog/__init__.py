"""Which event log this process uses: in memory by default."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from chat.eventlog.base import EventLog, follow

__all__ = ["EventLog", "event_log", "follow"]


@cache
def event_log() -> EventLog:
    from chat.eventlog.memory import MemoryEventLog

    return MemoryEventLog(
        ttl_seconds=settings.CHAT_EVENT_LOG_TTL_SECONDS,
        max_finished=settings.CHAT_EVENT_LOG_MAX_FINISHED,
    )
