"""State that belongs to one asyncio event loop: clients, queues, futures, tasks."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LoopBound(Generic[T]):
    """One T per running event loop, made on first use in that loop.

    A server runs one loop for its life; tests run a loop per test, and the admin's
    connection check runs a loop of its own in a thread beside the server's. A client's
    sockets, a future or a task belong to the loop that made them, so each loop gets its
    own; a loop's value goes with the loop.
    """

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        value = self._by_loop.get(loop)
        if value is None:
            value = self._by_loop[loop] = self._make()
        return value

    def pop(self) -> T | None:
        """Forget this loop's value (to close it); None if it had none."""
        return self._by_loop.pop(asyncio.get_running_loop(), None)
