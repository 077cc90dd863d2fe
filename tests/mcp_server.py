"""A real MCP server for the tests, built with the official SDK (FastMCP), over Streamable HTTP.

    python -m tests.mcp_server --fd N        serve on a listening socket the parent opened

Its tools cover what a client must survive: a quick one, a slow one (for Stop and
timeouts), one that raises, one with a huge output, and one that waits until a
slow call started or saw its cancellation. With MCP_TEST_TOKEN set, every request must carry the
header `X-Test-Token: <that value>` or is refused with 401; with MCP_TEST_LIST_DELAY, listing
the tools takes that many seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
from typing import Any

import uvicorn
from mcp.server.fastmcp import FastMCP

TOKEN_HEADER = "X-Test-Token"
HUGE_OUTPUT_CHARS = 1_000_000


class TestServer(FastMCP):
    async def list_tools(self) -> Any:
        # MCP_TEST_LIST_DELAY: a server that opens sessions but is slow to list its tools.
        await asyncio.sleep(float(os.environ.get("MCP_TEST_LIST_DELAY", "0")))
        return await super().list_tools()


server = TestServer("chatsite-test-server", log_level="WARNING")
# Slow calls by tag: which started, and which the client's cancellation reached.
slow_call_events: dict[tuple[str, str], asyncio.Event] = {}


def slow_call_event(state: str, tag: str) -> asyncio.Event:
    return slow_call_events.setdefault((state, tag), asyncio.Event())


@server.tool(description="Adds two numbers. <b>Bold</b> in a description is only text.")
def add(a: float, b: float) -> str:
    return str(a + b)


@server.tool(description="Returns the text it was given.")
def echo(text: str) -> str:
    return text


@server.tool(description="Sleeps for `seconds`, unless the client cancels the call first.")
async def slow(seconds: float, tag: str = "") -> str:
    slow_call_event("started", tag).set()
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        slow_call_event("cancelled", tag).set()
        raise
    return f"slept {seconds:g} s"


@server.tool(description="Fails every time.")
def fails() -> str:
    raise ValueError("the tool broke <script>alert(1)</script>")


@server.tool(description="Returns a million characters.")
def huge() -> str:
    return "x" * HUGE_OUTPUT_CHARS


@server.tool(description="Waits until the slow call `tag` has `state` (started, cancelled).")
async def slow_call_reached(tag: str, state: str, timeout: float = 5.0) -> bool:
    try:
        async with asyncio.timeout(timeout):
            await slow_call_event(state, tag).wait()
    except TimeoutError:
        return False
    return True


def require_token(app: Any, token: str) -> Any:
    """An ASGI wrapper answering 401 to any HTTP request without the token header."""
    expected = token.encode()

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"x-test-token") != expected:
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"missing or wrong token"})
            return
        await app(scope, receive, send)

    return guarded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fd", type=int, required=True, help="a listening socket to serve on")
    args = parser.parse_args()
    app = server.streamable_http_app()
    if token := os.environ.get("MCP_TEST_TOKEN"):
        app = require_token(app, token)
    sock = socket.socket(fileno=args.fd)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    ReadyServer(config).run(sockets=[sock])


class ReadyServer(uvicorn.Server):
    """Says "ready" on stdout once it serves, so the fixture waits for that, not a sleep."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        print("ready", flush=True)


if __name__ == "__main__":
    main()
