"""The per-generation event log: the generation appends, any number of subscribers follow."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from chat.events import Event


class EventLog(ABC):
    """A log per generation key; sequence numbers are contiguous from 1."""

    @abstractmethod
    async def append(self, key: str, event: Event) -> None: ...

    @abstractmethod
    async def read(self, key: str, after: int, wait: float) -> list[Event] | None:
        """Events with seq > after, waiting up to `wait` seconds for one to arrive.

        Returns [] when the wait ran out, and None when nothing more will ever come: the log
        is unknown (never existed, or expired) or it ended at or before `after`.
        """

    async def append_after_crash(self, key: str, events: list[Event]) -> None:
        """Close a log whose writer died, with `events` numbered after its last one."""
        for event in events:
            await self.append(key, event)
        await self.close(key)

    @abstractmethod
    async def describe(self, key: str) -> tuple[int, bool] | None:
        """(last sequence number, whether the log is closed), or None if it is unknown."""

    @abstractmethod
    async def close(self, key: str) -> None:
        """The generation ended: keep the log for late subscribers, then let it expire."""


async def follow(
    log: EventLog, key: str, after: int, heartbeat: float
) -> AsyncIterator[list[Event]]:
    """Replay the events after `after`, then follow live until the terminal event.

    Yields batches; an empty batch means `heartbeat` seconds passed with nothing new.
    """
    while True:
        batch = await log.read(key, after, heartbeat)
        if batch is None:
            return
        yield batch
        if batch:
            after = batch[-1].seq
            if batch[-1].terminal:
                return
