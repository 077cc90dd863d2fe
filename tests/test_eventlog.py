"""The in-memory event log: replay from any point, follow live, end, expire."""

from __future__ import annotations

import asyncio

import pytest

from chat.eventlog import follow
from chat.eventlog.memory import MemoryEventLog
from chat.events import Event
from tests.helpers import eventually

# Far longer than any test here: an event that arrives in time was woken up for.
FAR_HEARTBEAT = 60.0
PROMPTLY = 1.0


def token(seq: int, text: str) -> Event:
    return Event(seq, "token", {"token": text, "done": False})


def done(seq: int) -> Event:
    return Event(seq, "done", {"done": True})


async def parked(log: MemoryEventLog, key: str) -> bool:
    """Whether a subscriber is waiting on the key's log (so an append must wake it)."""
    return bool(log._logs[key].waiters)


async def collect(log: MemoryEventLog, key: str, after: int) -> list[Event]:
    events: list[Event] = []
    async for batch in follow(log, key, after, heartbeat=FAR_HEARTBEAT):
        events.extend(batch)
    return events


async def test_subscriber_replays_after_any_sequence_number_then_ends_at_terminal() -> None:
    log = MemoryEventLog(ttl_seconds=60, max_finished=10)
    for seq, text in enumerate(["a", "b", "c"], start=1):
        await log.append("g", token(seq, text))
    await log.append("g", done(4))
    await log.close("g")

    assert [e.seq for e in await collect(log, "g", 0)] == [1, 2, 3, 4]
    assert [e.seq for e in await collect(log, "g", 2)] == [3, 4]
    assert await collect(log, "g", 4) == []


async def test_live_subscriber_receives_events_appended_after_it_subscribed() -> None:
    log = MemoryEventLog(ttl_seconds=60, max_finished=10)
    await log.append("g", token(1, "a"))
    batches = follow(log, "g", 1, heartbeat=FAR_HEARTBEAT)
    for event in (token(2, "b"), done(3)):
        next_batch = asyncio.ensure_future(anext(batches))
        await eventually(lambda: parked(log, "g"))
        await log.append("g", event)
        # Only a wake-up delivers in time: the subscriber's heartbeat is a minute away.
        batch = await asyncio.wait_for(next_batch, PROMPTLY)
        assert [(e.seq, e.json) for e in batch] == [(event.seq, event.json)]
    await log.close("g")


async def test_closing_a_log_wakes_its_subscribers() -> None:
    log = MemoryEventLog(ttl_seconds=60, max_finished=10)
    await log.append("g", token(1, "a"))
    waiting = asyncio.create_task(log.read("g", 1, wait=FAR_HEARTBEAT))
    await eventually(lambda: parked(log, "g"))
    await log.close("g")
    assert await asyncio.wait_for(waiting, PROMPTLY) is None


async def test_idle_log_yields_empty_batch_for_heartbeat() -> None:
    log = MemoryEventLog(ttl_seconds=60, max_finished=10)
    await log.append("g", token(1, "a"))
    batches = follow(log, "g", 1, heartbeat=0.01)
    assert await anext(batches) == []
    await batches.aclose()


async def test_unknown_log_ends_subscription_at_once() -> None:
    log = MemoryEventLog(ttl_seconds=60, max_finished=10)
    assert await log.read("missing", 0, wait=5) is None


async def test_out_of_order_append_is_refused() -> None:
    log = MemoryEventLog(ttl_seconds=60, max_finished=10)
    await log.append("g", token(1, "a"))
    with pytest.raises(ValueError):
        await log.append("g", token(3, "c"))


async def test_finished_logs_expire_and_are_bounded() -> None:
    log = MemoryEventLog(ttl_seconds=0.01, max_finished=2)
    for key in ("a", "b", "c"):
        await log.append(key, done(1))
        await log.close(key)
    # The bound dropped the oldest at once.
    assert await log.read("a", 0, wait=0) is None
    assert len(log) == 2
    await asyncio.sleep(0.05)  # the TTL timer is what is under test here
    assert len(log) == 0


def test_event_json_repeats_type_and_keeps_unicode() -> None:
    event = Event(7, "token", {"token": "世界 👋", "done": False})
    assert event.json == '{"type":"token","token":"世界 👋","done":false}'
    again = Event.from_json(7, event.json)
    assert (again.type, again.data) == ("token", {"token": "世界 👋", "done": False})


async def test_a_finished_log_replays_the_same_events_after_compaction() -> None:
    log = MemoryEventLog(ttl_seconds=60, max_finished=10)
    written = [token(1, "héllo "), token(2, "世界"), Event(3, "done", {"done": True, "x": [1]})]
    for event in written:
        await log.append("g", event)
    await log.close("g")
    replayed = await collect(log, "g", 1)
    assert [(e.seq, e.type, e.data, e.json) for e in replayed] == [
        (e.seq, e.type, e.data, e.json) for e in written[1:]
    ]
    with pytest.raises(ValueError):
        await log.append("g", token(4, "late"))
