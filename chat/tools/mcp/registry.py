"""Where MCP servers meet the rest of the site: a model's MCP tools, and a server's listing.

`mcp_tools_for(model_config)` is what the tool registry calls for the MCP half of "the tools
this model may use". It reads the database (call it where the ORM may run) and offers the
tools the server's last successful listing (admin's Test connection) returned and staff
allowed, so starting an answer never waits on a server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable
from typing import Any

from django.conf import settings
from mcp import types

from chat.models import McpServer, ModelConfig
from chat.tools.base import ToolSettings
from chat.tools.mcp.connection import McpConnection, ServerConfig
from chat.tools.mcp.errors import McpUnavailable
from chat.tools.mcp.names import exposed_names
from chat.tools.mcp.tool import McpTool

# The engine's own limit on a call is a backstop just past the tool's, which says it better.
ENGINE_TIMEOUT_GRACE_SECONDS = 1.0
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def server_config(server: McpServer) -> ServerConfig:
    return ServerConfig(
        name=server.name,
        url=server.url,
        header_variables=tuple(sorted(server.header_variables.items())),
        timeout_seconds=server.timeout_seconds,
        connect_timeout_seconds=min(
            settings.CHAT_MCP_CONNECT_TIMEOUT_SECONDS, server.timeout_seconds
        ),
    )


def mcp_tools_for(model_config: ModelConfig, reserved_names: Collection[str] = ()) -> list[McpTool]:
    """The MCP tools `model_config` may call; `reserved_names` are the built-in tools' names."""
    return tools_of(model_config.mcp_servers.filter(enabled=True), reserved_names)


def tools_of(servers: Iterable[McpServer], reserved_names: Collection[str] = ()) -> list[McpTool]:
    offered = [(server, tool) for server in servers for tool in server.offered_tools()]
    names = exposed_names(((s.name, t["name"]) for s, t in offered), reserved_names)
    tools = []
    for server, tool in offered:
        config = server_config(server)
        tools.append(
            McpTool(
                name=names[server.name, tool["name"]],
                description=tool.get("description") or "",
                parameters=tool.get("input_schema") or EMPTY_SCHEMA,
                settings=ToolSettings(
                    timeout_seconds=config.timeout_seconds + ENGINE_TIMEOUT_GRACE_SECONDS,
                    requires_approval=tool["name"] in server.approval_tools,
                    source=server.name,
                    extra={"mcp_server": server.name, "mcp_tool": tool["name"]},
                ),
                server=config,
                remote_name=tool["name"],
                max_output_chars=server.output_limit,
            )
        )
    return sorted(tools, key=lambda tool: tool.name)


def listed_tool(tool: types.Tool) -> dict[str, Any]:
    """How a listed tool is kept on McpServer.listed_tools."""
    schema = tool.inputSchema if isinstance(tool.inputSchema, dict) else {}
    if schema.get("type") != "object":
        schema = EMPTY_SCHEMA
    return {"name": tool.name, "description": tool.description or "", "input_schema": schema}


async def list_tools_once(config: ServerConfig) -> list[dict[str, Any]]:
    """Connect, list the server's tools and hang up (admin's Test connection).

    Raises McpUnavailable with the reason in plain words.
    """
    connection = McpConnection(config)
    limit = config.connect_timeout_seconds + config.timeout_seconds
    try:
        async with asyncio.timeout(limit):
            tools = await connection.list_tools()
    except TimeoutError:
        raise McpUnavailable(
            f"The MCP server {config.name} did not list its tools within {limit:g} seconds."
        ) from None
    finally:
        await connection.close()
    return [listed_tool(tool) for tool in tools]
