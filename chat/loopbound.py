"""State that belongs to one asyncio event loop."""

from __future__ import annotations

import asyncio


class LoopBound:
    """Rebuilds its loop-owned state (events, futures, tasks) when used from another loop.

    A server runs one loop for its life; tests run a loop per test, and a process-wide
    object must not carry one test's futures into the next.
    """

    _loop: asyncio.AbstractEventLoop | None = None

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._reset()

    def _reset(self) -> None:
        raise NotImplementedError
