"""Database work from async code: small sync functions run on the thread pool."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from channels.db import database_sync_to_async

P = ParamSpec("P")
R = TypeVar("R")


def in_thread_pool(func: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """database_sync_to_async on the executor's pool of threads.

    Not on asgiref's thread-sensitive thread: streaming requests share one such thread
    (chatsite.handlers), and thousands of answers checkpoint and finish concurrently. Each
    call is its own short transaction, so no call needs the thread of another; stale
    connections are closed around each call as database_sync_to_async does.
    """
    return database_sync_to_async(func, thread_sensitive=False)
