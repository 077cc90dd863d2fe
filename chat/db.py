"""Database work from async code: small sync functions run on the thread pool."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, ParamSpec, TypeVar

from channels.db import database_sync_to_async
from django.conf import settings

P = ParamSpec("P")
R = TypeVar("R")


@cache
def sqlite_thread() -> ThreadPoolExecutor | None:
    """SQLite has one writer: calls queue on one thread instead of colliding on its lock.

    Writers that collide wait in SQLite's busy handler, which sleeps 1, 2, 5 … 100 ms
    between tries while the CPU idles; a queue in front of one connection never sleeps.
    """
    if str(settings.DATABASES["default"]["ENGINE"]).endswith("sqlite3"):
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
    return None


def in_thread_pool(func: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """database_sync_to_async off asgiref's thread-sensitive thread.

    Streaming requests share that one thread (chatsite.handlers), and thousands of answers
    checkpoint and finish concurrently. Each call is its own short transaction, so no call
    needs the thread of another: PostgreSQL calls run on the executor's pool, SQLite calls
    on SQLite's one thread. Stale connections are closed around each call as
    database_sync_to_async does.
    """
    return database_sync_to_async(func, thread_sensitive=False, executor=sqlite_thread())
