"""Drive the real ASGI application in-process, one message at a time.

Unlike httpx's ASGITransport (which buffers the whole body), this shows each body chunk as
the application sends it, and can disconnect mid-response the way a server reports a
client that went away.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from asgiref.testing import ApplicationCommunicator
from httpx_sse._decoders import SSEDecoder, SSELineDecoder

TIMEOUT = 10.0


@dataclass
class SseEvent:
    id: str
    event: str
    data: dict[str, Any]


def parse_sse(text: str) -> list[SseEvent]:
    """Parse an event-stream body with an independent decoder (httpx-sse's)."""
    lines = SSELineDecoder()
    decoder = SSEDecoder()
    events = []
    for line in [*lines.decode(text), *lines.flush()]:
        sse = decoder.decode(line)
        # The spec dispatches nothing for an empty data buffer (after a comment, say);
        # httpx-sse does, once an id has been seen.
        if sse is not None and sse.data:
            events.append(SseEvent(sse.id, sse.event, json.loads(sse.data)))
    return events


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    chunks: list[bytes] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()

    def events(self) -> list[SseEvent]:
        return parse_sse(self.text)


class Stream:
    """A request sent to the application: await its response, read chunks, or hang up."""

    def __init__(
        self,
        communicator: ApplicationCommunicator,
        on_start: Callable[[Stream], None] | None = None,
    ) -> None:
        self._communicator = communicator
        self.on_start = on_start
        self.status = 0
        self.raw_headers: list[tuple[str, str]] = []
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.started = False
        self.finished = False

    async def response_start(self, timeout: float = TIMEOUT) -> None:
        if self.started:
            return
        start = await self._communicator.receive_output(timeout)
        assert start["type"] == "http.response.start", start
        self.status = start["status"]
        self.raw_headers = [(k.decode().lower(), v.decode()) for k, v in start["headers"]]
        self.headers = dict(self.raw_headers)
        self.started = True
        if self.on_start is not None:
            self.on_start(self)

    async def next_chunk(self, timeout: float = TIMEOUT) -> bytes | None:
        await self.response_start(timeout)
        if self.finished:
            return None
        message = await self._communicator.receive_output(timeout)
        assert message["type"] == "http.response.body", message
        chunk = message.get("body", b"")
        self.chunks.append(chunk)
        if not message.get("more_body", False):
            self.finished = True
        return chunk

    async def chunks_until(self, marker: str, timeout: float = TIMEOUT) -> str:
        """Read until the text so far contains `marker`; returns all text so far."""
        while marker not in self.text:
            if await self.next_chunk(timeout) is None:
                break
        return self.text

    async def read_all(self, timeout: float = TIMEOUT) -> str:
        while await self.next_chunk(timeout) is not None:
            pass
        return self.text

    async def disconnect(self) -> None:
        """Report the client gone, as a server does when the socket closes."""
        await self._communicator.send_input({"type": "http.disconnect"})
        await self._communicator.wait(TIMEOUT)
        self.finished = True

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode()

    def events(self) -> list[SseEvent]:
        return parse_sse(self.text)


class AsgiClient:
    """Keeps cookies the application sets, as a browser would."""

    def __init__(self, application: Any, headers: dict[str, str] | None = None) -> None:
        self.application = application
        self.default_headers = headers or {}
        self.cookies: dict[str, str] = {}

    def remember_cookies(self, stream: Stream) -> None:
        for name, value in stream.raw_headers:
            if name == "set-cookie":
                cookie = SimpleCookie()
                cookie.load(value)
                for key, morsel in cookie.items():
                    self.cookies[key] = morsel.value

    def _scope(self, method: str, url: str, headers: dict[str, str]) -> dict[str, Any]:
        parts = urlsplit(url)
        merged = {"host": "testserver", **self.default_headers, **headers}
        if self.cookies:
            jar = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            merged["cookie"] = f"{merged['cookie']}; {jar}" if "cookie" in merged else jar
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": parts.path,
            "raw_path": parts.path.encode(),
            "query_string": parts.query.encode(),
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in merged.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }

    @staticmethod
    def _body(json_body: Any, body: bytes | str | None, headers: dict[str, str]) -> bytes:
        if json_body is not None:
            headers.setdefault("content-type", "application/json")
            return json.dumps(json_body).encode()
        if isinstance(body, str):
            return body.encode()
        return body or b""

    @asynccontextmanager
    async def send(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> AsyncIterator[Stream]:
        """Send a request without waiting for the response to start."""
        headers = dict(headers or {})
        payload = self._body(json, body, headers)
        communicator = ApplicationCommunicator(self.application, self._scope(method, url, headers))
        await communicator.send_input({"type": "http.request", "body": payload, "more_body": False})
        stream = Stream(communicator, on_start=self.remember_cookies)
        try:
            yield stream
        finally:
            if not stream.finished:
                await stream.disconnect()
            else:
                await communicator.wait(TIMEOUT)

    @asynccontextmanager
    async def stream(self, method: str, url: str, **kwargs: Any) -> AsyncIterator[Stream]:
        """Send a request and wait for the response to start."""
        async with self.send(method, url, **kwargs) as stream:
            await stream.response_start()
            yield stream

    async def request(self, method: str, url: str, **kwargs: Any) -> Response:
        async with self.stream(method, url, **kwargs) as stream:
            await stream.read_all()
        return Response(stream.status, stream.headers, b"".join(stream.chunks), stream.chunks)

    async def get(self, url: str, **kwargs: Any) -> Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Response:
        return await self.request("POST", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> Response:
        return await self.request("DELETE", url, **kwargs)
