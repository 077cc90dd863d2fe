"""Checkpoints: the partial text of this process's streaming answers, written together.

An answer's text is saved at its first token and then at most once per
CHAT_FLUSH_INTERVAL_SECONDS while it changes, so a killed worker loses at most that
interval, and nothing is written per token. All answers due are written in one
transaction: with thousands of streams, one write per answer per interval was the
database's busiest work (docs/benchmarks.md). The writes are conditional, so a checkpoint
that lands after an answer's final write changes nothing.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid
from collections.abc import Callable

from django.conf import settings

from chat.engine import store
from chat.loopbound import LoopBound

logger = logging.getLogger(__name__)


class Checkpoints:
    """The answers of one event loop that are due a checkpoint, and the task writing them."""

    def __init__(self) -> None:
        self._due: dict[uuid.UUID, Callable[[], str]] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def mark(self, message_id: uuid.UUID, text: Callable[[], str]) -> None:
        """The answer's text changed; `text()` gives it whole when the batch is written."""
        if message_id in self._due:
            return
        self._due[message_id] = text
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(
                self._run(), name="checkpoints", context=contextvars.Context()
            )

    def forget(self, message_id: uuid.UUID) -> None:
        """The answer is being finalised: its final write supersedes any checkpoint."""
        self._due.pop(message_id, None)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            due, self._due = self._due, {}
            if due:
                try:
                    await store.save_partials({mid: text() for mid, text in due.items()})
                except Exception:
                    logger.exception("Checkpoint of %d answers failed", len(due))
            # A timer, not a stand-in for an event: at most one batch per interval.
            await asyncio.sleep(settings.CHAT_FLUSH_INTERVAL_SECONDS)


checkpoints: LoopBound[Checkpoints] = LoopBound(Checkpoints)
