"""Every async test in this folder runs twice: on asyncio's own event loop and on uvloop's.

uvicorn and granian run the site on uvloop, whose transports are not asyncio's classes;
code that owns sockets (the provider client) must work on both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import uvloop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
