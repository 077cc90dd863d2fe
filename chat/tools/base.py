"""The contract every tool keeps, built-in or from an MCP server.

A tool is a name, a description and a JSON schema for its arguments (what the model is
shown), and one coroutine that runs a call. Whatever goes wrong inside a call (bad
arguments, a failure, a timeout) comes back as an error result for the model, so the
answer goes on: `run` returns a ToolOutput with `is_error` rather than raising. The engine
enforces `timeout_seconds` and cancels a call on Stop; a tool must let CancelledError
through.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from chat.owners import Owner


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who the call is for: tools that read data read only the caller's own."""

    owner: Owner
    conversation_id: uuid.UUID
    message_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """A call's result as the model and the user see it: plain, untrusted text."""

    text: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class ToolSettings:
    """How the engine runs a tool's calls (per tool, set by staff for MCP tools)."""

    timeout_seconds: float = 30.0
    requires_approval: bool = False
    # Where the tool comes from, for admin and analytics: "" for built-in, else a server's name.
    source: str = ""
    # Extra keys a tool wants to keep about itself (never sent to the model).
    extra: dict[str, Any] = field(default_factory=dict)


class Tool(Protocol):
    @property
    def name(self) -> str:
        """The name the model calls it by: unique among the tools one model may use."""

    @property
    def description(self) -> str: ...

    @property
    def parameters(self) -> dict[str, Any]:
        """JSON schema of the arguments object."""

    @property
    def settings(self) -> ToolSettings: ...

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutput: ...
