"""The embedded event log: one process, in memory, bounded, finished logs expiring."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from chat.eventlog.base import EventLog
from chat.events import Event


class _Log:
    __slots__ = ("events", "closed", "waiters")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.closed = False
        self.waiters: list[asyncio.Future[None]] = []

    def wake(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters.clear()


class MemoryEventLog(EventLog):
    def __init__(self, ttl_seconds: float, max_finished: int) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_finished = max_finished
        self._logs: dict[str, _Log] = {}
        # Finished logs, oldest first, so the bound drops the oldest.
        self._finished: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._logs)

    async def append(self, key: str, event: Event) -> None:
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = _Log()
        if event.seq != len(log.events) + 1:
            raise ValueError(f"event {event.seq} out of order in log {key}")
        log.events.append(event)
        log.wake()

    async def read(self, key: str, after: int, wait: float) -> list[Event] | None:
        log = self._logs.get(key)
        if log is None:
            return None
        if len(log.events) > after:
            return log.events[after:]
        if log.closed:
            return None
        waiter = asyncio.get_running_loop().create_future()
        log.waiters.append(waiter)
        try:
            async with asyncio.timeout(wait):
                await waiter
        except TimeoutError:
            return []
        finally:
            if waiter in log.waiters:
                log.waiters.remove(waiter)
        return log.events[after:] if len(log.events) > after else None

    async def describe(self, key: str) -> tuple[int, bool] | None:
        log = self._logs.get(key)
        return None if log is None else (len(log.events), log.closed)

    async def close(self, key: str) -> None:
        log = self._logs.get(key)
        if log is None or log.closed:
            return
        log.closed = True
        log.wake()
        self._finished[key] = None
        while len(self._finished) > self.max_finished:
            oldest, _ = self._finished.popitem(last=False)
            self._logs.pop(oldest, None)
        asyncio.get_running_loop().call_later(self.ttl_seconds, self._expire, key)

    def _expire(self, key: str) -> None:
        # The bound may have dropped this log already.
        if key in self._finished:
            del self._finished[key]
            self._logs.pop(key, None)
