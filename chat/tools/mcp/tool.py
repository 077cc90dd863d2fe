"""One tool of an MCP server, behind the tool contract (chat/tools/base.py)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from mcp.shared.exceptions import McpError

from chat.tools.base import ToolContext, ToolOutput, ToolSettings
from chat.tools.mcp.connection import ServerConfig
from chat.tools.mcp.errors import McpUnavailable
from chat.tools.mcp.output import capped, result_output
from chat.tools.mcp.pool import connections

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class McpTool:
    name: str  # what the model calls it: <server>__<tool>, made unique
    description: str
    parameters: dict[str, Any]
    settings: ToolSettings
    server: ServerConfig
    remote_name: str  # what the server calls it
    max_output_chars: int

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutput:
        server = self.server
        where = f"the MCP server {server.name}"
        try:
            # Connecting counts against the call's time: the model waits for either.
            async with asyncio.timeout(server.timeout_seconds):
                connection = connections.get().connection(server)
                result = await connection.call_tool(self.remote_name, arguments)
        except TimeoutError:
            return self.error(
                f"The tool {self.remote_name} on {where} did not finish "
                f"within {server.timeout_seconds:g} seconds."
            )
        except McpUnavailable as error:
            return self.error(str(error))
        except McpError as error:
            return self.error(f"The call was refused by {where}: {error.error.message}")
        except Exception as error:
            logger.exception("Calling %s on %s failed", self.remote_name, where)
            return self.error(f"The call to {where} failed: {type(error).__name__}.")
        return result_output(result, self.max_output_chars)

    def error(self, text: str) -> ToolOutput:
        return ToolOutput(capped(text, self.max_output_chars), is_error=True)
