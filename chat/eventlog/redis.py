"""The event log in Redis Streams, so any worker can replay and follow any answer.

The worker running an answer keeps it in memory too: its own subscribers (almost always
the client that asked) read there, with no Redis round trip on the relay's path. Every
event is also mirrored to a stream (`XADD` with id `0-<seq>`) by one writer task per
process that pipelines whatever has piled up; subscribers on other workers read the
stream with a blocking `XREAD`. A finished stream expires after the TTL.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from chat.eventlog.base import EventLog
from chat.eventlog.memory import MemoryEventLog
from chat.events import Event
from chat.loopbound import LoopBound
from chat.redis import redis_client, redis_key

logger = logging.getLogger(__name__)

DATA_FIELD = b"e"
# XREAD/XRANGE page size; an answer has a few thousand events at most.
READ_COUNT = 2000
WRITE_TIMEOUT_SECONDS = 10.0


def stream_key(key: str) -> str:
    return redis_key("log", key)


def seq_of(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[1])


def events_of(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list[Event]:
    return [
        Event.from_json(seq_of(entry_id), fields[DATA_FIELD].decode())
        for entry_id, fields in entries
    ]


class _Mirror:
    """Copies events to Redis in pipelined batches, in order, off the relay's path.

    One per event loop (its queue, wake-up and task belong to the loop).
    """

    def __init__(self, ttl_seconds: float, max_life_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_life_seconds = max_life_seconds
        # (key, event) to write; (key, None) to set the short TTL of a finished log; a
        # future to resolve once everything queued before it has been written.
        self._queue: deque[tuple[str, Event | None] | asyncio.Future[None]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _enqueue(self, item: tuple[str, Event | None] | asyncio.Future[None]) -> None:
        self._queue.append(item)
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="event-log-mirror")

    def put(self, key: str, event: Event | None) -> None:
        """Queue an event, or None to mark the end of the key's log."""
        self._enqueue((key, event))

    async def flush(self) -> None:
        """Wait until everything queued so far has reached Redis (or failed to)."""
        done = asyncio.get_running_loop().create_future()
        self._enqueue(done)
        await asyncio.shield(done)

    async def closed(self, key: str) -> None:
        """Mark the key's log finished and wait until it, and its events, reached Redis."""
        self.put(key, None)
        await self.flush()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch = list(self._queue)
            self._queue.clear()
            writes = [item for item in batch if isinstance(item, tuple)]
            if writes:
                try:
                    async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                        await self._write(writes)
                except Exception:
                    # Other workers miss these events (resume falls back to the
                    # database); the answer and its local subscribers are unaffected.
                    logger.exception("Could not mirror %d events to Redis", len(writes))
            for item in batch:
                if isinstance(item, asyncio.Future) and not item.done():
                    item.set_result(None)

    async def _write(self, batch: list[tuple[str, Event | None]]) -> None:
        async with redis_client().pipeline(transaction=False) as pipe:
            for key, event in batch:
                name = stream_key(key)
                if event is None:
                    pipe.expire(name, int(self.ttl_seconds) or 1)
                    continue
                pipe.xadd(name, {DATA_FIELD: event.json.encode()}, id=f"0-{event.seq}")
                if event.seq == 1:
                    # A worker that dies never sets the short TTL: bound the stream anyway.
                    pipe.expire(name, int(self.max_life_seconds))
            await pipe.execute()


class RedisEventLog(EventLog):
    def __init__(self, ttl_seconds: float, max_finished: int, max_life_seconds: float) -> None:
        self.local = MemoryEventLog(ttl_seconds=ttl_seconds, max_finished=max_finished)
        self._mirrors = LoopBound(lambda: _Mirror(ttl_seconds, max_life_seconds))

    @property
    def mirror(self) -> _Mirror:
        return self._mirrors.get()

    def __len__(self) -> int:
        """Logs held in this process's memory."""
        return len(self.local)

    async def append(self, key: str, event: Event) -> None:
        await self.local.append(key, event)
        self.mirror.put(key, event)

    async def close(self, key: str) -> None:
        await self.local.close(key)
        await self.mirror.closed(key)

    async def append_after_crash(self, key: str, events: list[Event]) -> None:
        # The writer was another worker: write to its stream, not to a local log.
        for event in events:
            self.mirror.put(key, event)
        await self.mirror.closed(key)

    async def describe(self, key: str) -> tuple[int, bool] | None:
        local = await self.local.describe(key)
        if local is not None:
            return local
        entries = await redis_client().xrevrange(stream_key(key), count=1)
        if not entries:
            return None
        [last] = events_of(entries)
        return last.seq, last.terminal

    async def read(self, key: str, after: int, wait: float) -> list[Event] | None:
        if await self.local.describe(key) is not None:
            return await self.local.read(key, after, wait)
        return await self._read_remote(key, after, wait)

    async def _read_remote(self, key: str, after: int, wait: float) -> list[Event] | None:
        client = redis_client()
        name = stream_key(key)
        entries = await client.xrange(name, min=f"(0-{after}", count=READ_COUNT)
        if entries:
            return events_of(entries)
        state = await self.describe(key)
        if state is None or (state[1] and after >= state[0]):
            return None
        found = await client.xread({name: f"0-{after}"}, count=READ_COUNT, block=int(wait * 1000))
        return events_of(found[0][1]) if found else []
