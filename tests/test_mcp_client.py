"""MCP tools against a real MCP server (tests/mcp_server.py): results, failures, Stop, sessions."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from chat.models import McpServer
from chat.owners import Owner
from chat.tools.base import ToolContext, ToolOutput
from chat.tools.mcp.connection import McpConnection, ServerConfig
from chat.tools.mcp.errors import McpUnavailable
from chat.tools.mcp.pool import connections
from chat.tools.mcp.registry import EMPTY_SCHEMA, list_tools_once, server_config, tools_of
from chat.tools.mcp.tool import McpTool
from tests.mcp_fixtures import McpTestServer, closed_port_url, running_mcp_server

# Room for a loaded machine (two cores, shared) between "should" and "did".
MARGIN_SECONDS = 0.75
CONTEXT = ToolContext(owner=Owner(user_id=1), conversation_id=uuid.uuid4(), message_id=uuid.uuid4())


@pytest.fixture(scope="module")
def mcp_server() -> Iterator[McpTestServer]:
    with running_mcp_server() as server:
        yield server


@pytest.fixture(autouse=True)
async def close_connections() -> AsyncIterator[None]:
    yield
    await connections.get().close_all()


def server_at(url: str, **fields: Any) -> McpServer:
    """An (unsaved) server offering the test server's tools."""
    listed = [{"name": name, "description": "", "input_schema": EMPTY_SCHEMA} for name in TOOLS]
    return McpServer(name=fields.pop("name", "test"), url=url, listed_tools=listed, **fields)


TOOLS = ("add", "echo", "slow", "fails", "huge", "slow_call_reached")


def tool(server: McpServer, remote_name: str) -> McpTool:
    return next(t for t in tools_of([server]) if t.remote_name == remote_name)


async def run(server: McpServer, remote_name: str, **arguments: Any) -> ToolOutput:
    return await tool(server, remote_name).run(arguments, CONTEXT)


async def reached(server: McpServer, tag: str, state: str) -> bool:
    """Whether the slow call `tag` started / saw its cancellation (the server waits for it).

    Asked over a connection of its own, with the default timeout.
    """
    watcher = server_at(server.url, name="watcher")
    return json.loads((await run(watcher, "slow_call_reached", tag=tag, state=state)).text)


async def test_listing_gives_each_tools_name_description_and_schema(
    mcp_server: McpTestServer,
) -> None:
    listed = await list_tools_once(server_config(server_at(mcp_server.url)))
    by_name = {tool["name"]: tool for tool in listed}
    assert set(TOOLS) <= set(by_name)
    assert by_name["add"]["description"].startswith("Adds two numbers.")
    assert by_name["add"]["input_schema"]["type"] == "object"
    assert set(by_name["add"]["input_schema"]["properties"]) == {"a", "b"}


async def test_a_server_slow_to_list_its_tools_is_given_up_on_time() -> None:
    with running_mcp_server(list_delay=30) as slow_lister:
        config = server_config(server_at(slow_lister.url, timeout_seconds=1.0))
        started = time.monotonic()
        with pytest.raises(McpUnavailable, match="did not list its tools within 2 seconds"):
            await list_tools_once(config)
        assert time.monotonic() - started < 2.0 + MARGIN_SECONDS


async def test_a_quick_tool_answers_the_model(mcp_server: McpTestServer) -> None:
    output = await run(server_at(mcp_server.url), "add", a=2, b=40)
    assert output == ToolOutput("42.0", is_error=False)


async def test_a_tool_that_raises_is_an_error_result(mcp_server: McpTestServer) -> None:
    output = await run(server_at(mcp_server.url), "fails")
    assert output.is_error
    assert "the tool broke" in output.text


async def test_a_huge_output_is_cut_to_the_servers_limit(mcp_server: McpTestServer) -> None:
    output = await run(server_at(mcp_server.url, max_output_chars=1000), "huge")
    assert output.text.startswith("x" * 1000)
    assert "x" * 1001 not in output.text
    assert "output cut: 1,000,000 characters" in output.text


async def test_a_server_that_is_down_is_an_error_result_at_once() -> None:
    started = time.monotonic()
    output = await run(server_at(closed_port_url()), "add", a=1, b=2)
    assert output.is_error
    assert "could not be reached" in output.text
    assert time.monotonic() - started < MARGIN_SECONDS


async def test_a_tool_over_its_timeout_is_an_error_result_on_time(
    mcp_server: McpTestServer,
) -> None:
    server = server_at(mcp_server.url, timeout_seconds=1.0)
    await run(server, "add", a=1, b=1)  # the session is open: the timeout is the call's alone
    started = time.monotonic()
    output = await run(server, "slow", seconds=30, tag="timeout")
    elapsed = time.monotonic() - started
    assert output.is_error
    assert "did not finish within 1 seconds" in output.text
    assert 1.0 <= elapsed < 1.0 + MARGIN_SECONDS
    # The server was told, and stopped the work.
    assert await reached(server, "timeout", "cancelled")


async def test_a_stopped_call_stops_waiting_at_once_and_the_server_stops_too(
    mcp_server: McpTestServer,
) -> None:
    server = server_at(mcp_server.url)
    call = asyncio.create_task(run(server, "slow", seconds=30, tag="stopped"))
    assert await reached(server, "stopped", "started")

    started = time.monotonic()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert time.monotonic() - started < 0.1

    assert await reached(server, "stopped", "cancelled")
    # The shared session survived the cancellation.
    assert (await run(server, "echo", text="still here")).text == "still here"
    assert connections.get().connection(server_config(server)).sessions_opened == 1


async def test_calls_share_one_session_per_server(mcp_server: McpTestServer) -> None:
    server = server_at(mcp_server.url)
    outputs = await asyncio.gather(*(run(server, "echo", text=str(n)) for n in range(5)))
    assert [output.text for output in outputs] == [str(n) for n in range(5)]
    await run(server, "add", a=1, b=1)
    assert connections.get().connection(server_config(server)).sessions_opened == 1


async def test_a_session_reopens_after_the_server_restarts() -> None:
    with running_mcp_server() as restarting:
        server = server_at(restarting.url)
        assert (await run(server, "echo", text="before")).text == "before"
        await asyncio.to_thread(restarting.restart)
        # The new server does not know the old session: the call runs on a new one.
        assert (await run(server, "echo", text="after")).text == "after"
        assert connections.get().connection(server_config(server)).sessions_opened == 2


async def test_a_session_reopens_after_the_server_was_down() -> None:
    with running_mcp_server() as restarting:
        server = server_at(restarting.url)
        assert not (await run(server, "echo", text="up")).is_error
        await asyncio.to_thread(restarting.go_down)
        down = await run(server, "echo", text="down")
        assert down.is_error and "could not be reached" in down.text
        await asyncio.to_thread(restarting.come_back)
        assert (await run(server, "echo", text="up again")).text == "up again"


async def test_header_values_come_from_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_mcp_server(token="s3cret-token") as guarded:
        server = server_at(guarded.url, header_variables={"X-Test-Token": "MCP_TEST_HEADER"})
        monkeypatch.delenv("MCP_TEST_HEADER", raising=False)
        with pytest.raises(McpUnavailable, match="MCP_TEST_HEADER is not set"):
            await list_tools_once(server_config(server))

        monkeypatch.setenv("MCP_TEST_HEADER", "s3cret-token")
        assert await list_tools_once(server_config(server))
        assert (await run(server, "echo", text="let in")).text == "let in"


def test_the_server_settings_carry_variable_names_never_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCP_TEST_HEADER", "s3cret-token")
    config = server_config(server_at("http://x/mcp", header_variables={"X-T": "MCP_TEST_HEADER"}))
    assert "s3cret-token" not in repr(config)
    assert config.headers() == {"X-T": "s3cret-token"}


def test_a_closed_connection_refuses_new_calls() -> None:
    async def main() -> None:
        connection = McpConnection(ServerConfig(name="gone", url=closed_port_url()))
        await connection.close()
        with pytest.raises(McpUnavailable, match="closed"):
            await connection.list_tools()

    asyncio.run(main())
