"""Starting and finishing many answers leaves nothing behind: memory stays flat."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

from asgiref.sync import SyncToAsync
from django.test import override_settings

from chat.engine import presence, runtime
from chat.eventlog import event_log
from chat.owners import Owner
from tests.conftest import MakeModel
from tests.helpers import eventually

GENERATIONS = 1000
BATCH = 50


async def run_batch(owner: Owner) -> None:
    generations = [
        await runtime.start_generation(
            owner=owner, text="count to three", conversation_id=None, model_name=None
        )
        for _ in range(BATCH)
    ]
    await asyncio.gather(*(g.task for g in generations if g.task is not None))


async def logs_expired() -> None:
    """Wait for the finished logs' expiry timers (TTL 0.05 s here) to release them."""

    async def empty() -> bool:
        return len(event_log()) == 0  # type: ignore[arg-type]

    await eventually(empty)


def traced_bytes() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


@override_settings(CHAT_EVENT_LOG_TTL_SECONDS=0.05, CHAT_DEMO_TOKEN_DELAY_SECONDS=0)
async def test_a_thousand_answers_leave_memory_flat(make_model: MakeModel, user: Any) -> None:
    await make_model(provider="demo", max_tokens=40)
    event_log.cache_clear()
    owner = Owner.user(user.pk)
    executors_before = len(SyncToAsync.context_to_thread_executor)

    tracemalloc.start()
    try:
        await run_batch(owner)  # warm up caches, pools and lazily built state
        await logs_expired()
        baseline = traced_bytes()
        for _ in range(GENERATIONS // BATCH - 1):
            await run_batch(owner)
        await logs_expired()
        after = traced_bytes()
    finally:
        tracemalloc.stop()

    growth_per_answer = (after - baseline) / (GENERATIONS - BATCH)
    print(
        f"\ntraced memory: {baseline / 1e6:.2f} MB after {BATCH} answers, "
        f"{after / 1e6:.2f} MB after {GENERATIONS}; {growth_per_answer:.0f} B per answer"
    )
    # Nothing about a finished answer is kept once its log expired.
    assert runtime.running_count() == 0
    assert not runtime._announcements
    assert not presence._local
    assert len(SyncToAsync.context_to_thread_executor) == executors_before
    # Flat: well under what one answer's events alone weigh (~10 KB), i.e. no leak.
    assert growth_per_answer < 500
