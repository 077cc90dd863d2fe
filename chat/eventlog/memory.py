"""The embedded event log: one process, in memory, bounded, finished logs expiring."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from chat.eventlog.base import EventLog
from chat.events import Event


class _Compacted:
    """A finished log's events as their JSON texts.

    A log can be read for minutes after its answer ends. Kept as an Event object per token,
    a thousand finished answers are a million objects that every full garbage collection
    walks (the pauses showed up as gaps in live streams); a list of strings holds no
    references to walk. Late subscribers rebuild the events they read.
    """

    __slots__ = ("texts",)

    def __init__(self, events: list[Event]) -> None:
        self.texts = [event.json for event in events]

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, window: slice) -> list[Event]:
        first = (window.start or 0) + 1
        return [Event.from_json(first + i, text) for i, text in enumerate(self.texts[window])]


class _Log:
    __slots__ = ("events", "closed", "waiters")

    def __init__(self) -> None:
        self.events: list[Event] | _Compacted = []
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
        if log.closed or event.seq != len(log.events) + 1:
            raise ValueError(f"event {event.seq} out of order in log {key}")
        log.events.append(event)  # type: ignore[union-attr]  # open logs hold a list
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
        log.events = _Compacted(log.events)  # type: ignore[arg-type]  # still the list here
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
