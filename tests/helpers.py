"""Small helpers shared by the API tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from chat.models import Message
from tests.asgi import AsgiClient


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 5.0, interval: float = 0.01
) -> Any:
    """Await `check()` until it returns something truthy: for state written by another task."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def finished_message(message_id: str, timeout: float = 5.0) -> Message:
    """The message once its generation has written the final state."""

    async def final() -> Message | None:
        message = await Message.objects.aget(pk=message_id)
        return message if message.finished_at is not None else None

    return await eventually(final, timeout)


async def expire_log(message_id: str) -> None:
    """Make an answer's event log gone, as after its TTL, in whichever backend is in use."""
    from chat.eventlog import event_log
    from chat.eventlog.redis import stream_key
    from chat.redis import redis_client, redis_enabled

    if redis_enabled():
        await redis_client().delete(stream_key(message_id))
    event_log.cache_clear()


def browser_cookies(user: User | None = None) -> dict[str, str]:
    """A browser's cookies: signed in as `user` (or anonymous), with the CSRF cookie."""
    browser = Client()
    if user is not None:
        browser.force_login(user)
    browser.get("/admin/login/")  # any page that sets the CSRF cookie
    return {name: morsel.value for name, morsel in browser.cookies.items()}


async def browser(application: Any, user: User | None = None, *, csrf: bool = True) -> AsgiClient:
    """A browser session (signed in as `user`, or anonymous); with `csrf`, its requests
    carry the CSRF token as the page's script sends it."""
    cookies = await sync_to_async(browser_cookies)(user)
    headers = {"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    if csrf:
        headers |= {"x-csrftoken": cookies["csrftoken"], "origin": "http://testserver"}
    return AsgiClient(application, headers=headers)


def websocket(
    application: Any, path: str, cookie: str, origin: str = "http://testserver"
) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, path, headers=[(b"origin", origin.encode()), (b"cookie", cookie.encode())]
    )
