"""The worker's MCP connections: one per server per event loop, reused by every answer."""

from __future__ import annotations

import asyncio

from chat.loopbound import LoopBound
from chat.tools.mcp.connection import McpConnection, ServerConfig


class ConnectionPool:
    """One event loop's connections (their sessions and tasks belong to that loop)."""

    def __init__(self) -> None:
        self._connections: dict[str, McpConnection] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def connection(self, config: ServerConfig) -> McpConnection:
        """The server's connection; a new one when staff changed its settings."""
        current = self._connections.get(config.name)
        if current is not None and current.config == config:
            return current
        if current is not None:
            closing = asyncio.create_task(current.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        self._connections[config.name] = connection = McpConnection(config)
        return connection

    async def close_all(self) -> None:
        connections, self._connections = list(self._connections.values()), {}
        await asyncio.gather(*(c.close() for c in connections), *self._closing)


connections: LoopBound[ConnectionPool] = LoopBound(ConnectionPool)
