"""The Redis backend: streams other workers can read, TTLs, control, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from django.test import override_settings

from chat.engine import control
from chat.eventlog import follow
from chat.eventlog.redis import RedisEventLog, stream_key
from chat.events import Event
from chat.redis import close_redis_client, redis_client
from tests import services
from tests.helpers import eventually

# Far longer than any test here: an event that arrives in time was woken up for.
FAR_HEARTBEAT = 60.0
PROMPTLY = 1.0


@pytest.fixture
async def redis_settings() -> AsyncIterator[None]:
    services.require("Redis")
    prefix = f"chat-test-{uuid.uuid4().hex[:8]}"
    with override_settings(REDIS_URL=services.REDIS_URL, CHAT_REDIS_PREFIX=prefix):
        yield
        client = redis_client()
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await close_redis_client()


def new_log() -> RedisEventLog:
    return RedisEventLog(ttl_seconds=60, max_finished=10, max_life_seconds=600)


def events(count: int) -> list[Event]:
    tokens = [Event(seq, "token", {"token": f"t{seq} ", "done": False}) for seq in range(1, count)]
    return [*tokens, Event(count, "done", {"done": True})]


async def test_redis_client_propagates_cancellation(redis_settings: None) -> None:
    """redis-py 8.0/8.1 swallowed CancelledError in commands (pinned to 7.4.1): a client
    disconnect must reach the view, so this guards any upgrade."""
    client = redis_client()
    swallowed = 0
    for attempt in range(60):
        task = asyncio.create_task(client.xread({"chat-test-nothing": "0-0"}, block=200))
        await asyncio.sleep(0.0005 * (attempt % 10))
        requested = task.cancel()
        try:
            await task
            swallowed += requested
        except asyncio.CancelledError:
            pass
    assert swallowed == 0


async def test_another_worker_replays_and_follows_the_stream(redis_settings: None) -> None:
    writer, other_worker = new_log(), new_log()
    key = uuid.uuid4().hex
    all_events = events(6)
    for event in all_events[:3]:
        await writer.append(key, event)

    async def read_all() -> list[Event]:
        seen: list[Event] = []
        async for batch in follow(other_worker, key, 0, heartbeat=FAR_HEARTBEAT):
            seen.extend(batch)
        return seen

    reader = asyncio.create_task(read_all())
    for event in all_events[3:]:
        await writer.append(key, event)
    await writer.close(key)
    seen = await asyncio.wait_for(reader, 5)
    assert [(e.seq, e.json) for e in seen] == [(e.seq, e.json) for e in all_events]
    assert await other_worker.describe(key) == (6, True)
    assert await other_worker.read(key, 6, wait=0.1) is None


async def blocked_in_xread() -> int:
    """How many Redis clients wait in a blocking XREAD (a follower on another worker)."""
    clients = await redis_client().client_list()
    return sum(c.get("cmd") == "xread" and "b" in c.get("flags", "") for c in clients)


async def test_a_follower_on_another_worker_is_woken_by_each_append(redis_settings: None) -> None:
    writer, other_worker = new_log(), new_log()
    key = uuid.uuid4().hex
    first, *rest = events(3)
    await writer.append(key, first)
    await writer.mirror.flush()
    batches = follow(other_worker, key, 1, heartbeat=FAR_HEARTBEAT)

    async def follower_waits(before: int) -> None:
        # Other processes share this Redis: if their clients hide ours, append anyway.
        async def more() -> bool:
            return await blocked_in_xread() > before

        with contextlib.suppress(AssertionError):
            await eventually(more, timeout=2)

    for event in rest:
        waiting_before = await blocked_in_xread()
        next_batch = asyncio.ensure_future(anext(batches))
        await follower_waits(waiting_before)
        await writer.append(key, event)
        # Only the mirror and XREAD's wake-up deliver in time: the heartbeat is a minute off.
        batch = await asyncio.wait_for(next_batch, PROMPTLY)
        assert [(e.seq, e.json) for e in batch] == [(event.seq, event.json)]
    await writer.close(key)


async def test_finished_stream_expires(redis_settings: None) -> None:
    log = RedisEventLog(ttl_seconds=5, max_finished=10, max_life_seconds=600)
    key = uuid.uuid4().hex
    for event in events(3):
        await log.append(key, event)
    await log.mirror.flush()
    assert 590 < await redis_client().ttl(stream_key(key)) <= 600
    await log.close(key)
    assert 0 < await redis_client().ttl(stream_key(key)) <= 5


async def test_unknown_stream_is_none_for_other_workers(redis_settings: None) -> None:
    assert await new_log().read(uuid.uuid4().hex, 0, wait=0.1) is None
    assert await new_log().describe(uuid.uuid4().hex) is None


async def test_a_dead_writers_log_is_closed_by_another_worker(redis_settings: None) -> None:
    dead, survivor = new_log(), new_log()
    key = uuid.uuid4().hex
    for event in events(6)[:3]:
        await dead.append(key, event)
    await dead.mirror.flush()  # the dead worker's writes had landed
    closing = [Event(4, "message", {"content": "t1 t2 t3 "}), Event(5, "error", {"done": True})]
    await survivor.append_after_crash(key, closing)
    assert [e.type for e in await new_log().read(key, 0, wait=0.1)] == [
        "token",
        "token",
        "token",
        "message",
        "error",
    ]


async def test_stop_published_on_one_worker_reaches_the_one_running_it(
    redis_settings: None,
) -> None:
    stopped: list[tuple[str, str]] = []
    subscribed, delivered = asyncio.Event(), asyncio.Event()

    def stop_local(message_id: str, reason: str) -> bool:
        stopped.append((message_id, reason))
        delivered.set()
        return True

    listener = asyncio.create_task(control.listen(stop_local, subscribed))
    await asyncio.wait_for(subscribed.wait(), 5)
    assert await control.request_stop("abc", "stopped", lambda _m, _r: False) is True
    await asyncio.wait_for(delivered.wait(), 5)
    listener.cancel()
    assert stopped == [("abc", "stopped")]
