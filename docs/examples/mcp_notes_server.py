"""A tiny MCP server to try MCP tools with (docs/mcp.md), built with the official SDK.

    .venv/bin/python docs/examples/mcp_notes_server.py

serves Streamable HTTP at http://127.0.0.1:8001/mcp. Notes live in memory only.
"""

from __future__ import annotations

from mcp.server.fastmcp import FastMCP

server = FastMCP("notes", port=8001)
notes: dict[str, str] = {}


@server.tool()
def add_note(title: str, text: str) -> str:
    """Saves a note under a title."""
    notes[title] = text
    return f"Saved {title!r}."


@server.tool()
def read_notes() -> dict[str, str]:
    """Returns every saved note."""
    return notes


@server.tool()
def delete_note(title: str) -> str:
    """Deletes the note with this title."""
    return "Deleted." if notes.pop(title, None) is not None else "No such note."


if __name__ == "__main__":
    server.run(transport="streamable-http")
