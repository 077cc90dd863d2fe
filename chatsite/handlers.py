"""Django's ASGI handler, adjusted for thousands of long-lived streams (docs/benchmarks.md).

- `StreamingHandler`: no per-request thread for paths whose responses stream. Django runs
  each request in an asgiref ThreadSensitiveContext, which gives it an OS thread of its
  own until the response ends: 160 KB of RSS per open stream, a thread start per
  request. These views keep their database work (session reads included) on the thread
  pool instead (`chat.db.in_thread_pool`), and their few thread-sensitive calls (Django's
  signal receivers, the signed-in user's lookup) share the process's one thread. Pages
  and admin keep Django's per-request thread, so a slow admin page never holds up a stream.
- `BearerApiHandler`: an API call with an API key needs no session, user, CSRF or
  messages middleware, and every sync middleware hook is a round trip to a thread. It gets
  the views with no middleware (the host is still checked, in `api_endpoint`).
"""

from __future__ import annotations

import re
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response

# Responses that stream: the JSON + SSE API, and the page's live feed.
STREAMING_PATH = re.compile(r"^/api/|^/c/[0-9a-f-]+/events/$")

Scope = dict[str, Any]


class StreamingHandler(ASGIHandler):
    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP only, not {scope['type']}.")
        if STREAMING_PATH.match(scope["path"]):
            await self.handle(scope, receive, send)
            return
        async with ThreadSensitiveContext():
            await self.handle(scope, receive, send)


class BearerApiHandler(StreamingHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        # Django's load_middleware with an empty MIDDLEWARE, for this handler only.
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        self._middleware_chain = convert_exception_to_response(
            self._get_response_async  # type: ignore[attr-defined]  # Django's, not in the stubs
        )


def is_bearer_api_call(scope: Scope) -> bool:
    if not scope["path"].startswith("/api/"):
        return False
    return any(
        name == b"authorization" and value[:7].lower() == b"bearer "
        for name, value in scope.get("headers", ())
    )


class HttpApplication:
    """Bearer-key API calls to the lean handler, everything else to the full one."""

    def __init__(self) -> None:
        self.full = StreamingHandler()
        self.bearer_api = BearerApiHandler()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        handler = self.bearer_api if is_bearer_api_call(scope) else self.full
        await handler(scope, receive, send)
