"""A tool result as the model and the user see it: plain text, capped.

Tool output is untrusted. Text content is joined; anything else (images, audio, binary
resources) is described in words, never passed on; NUL characters, which PostgreSQL text
cannot hold, are dropped. Nothing here is HTML: whoever shows it escapes it.
"""

from __future__ import annotations

import json

from mcp import types

from chat.tools.base import ToolOutput

NO_OUTPUT = "(the tool returned no output)"


def describe_block(block: types.ContentBlock) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent):
        return f"[an image ({block.mimeType}), not shown]"
    if isinstance(block, types.AudioContent):
        return f"[an audio clip ({block.mimeType}), not played]"
    if isinstance(block, types.ResourceLink):
        return f"[a link to the resource {block.name}: {block.uri}]"
    if isinstance(block, types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, types.TextResourceContents):
            return f"[resource {resource.uri}]\n{resource.text}"
        return f"[a binary resource ({resource.mimeType or 'unknown type'}): {resource.uri}]"
    return f"[content of type {getattr(block, 'type', 'unknown')}, not shown]"


def capped(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[output cut: {len(text):,} characters, the first {limit:,} shown]"


def result_output(result: types.CallToolResult, limit: int) -> ToolOutput:
    parts = [describe_block(block) for block in result.content]
    if not parts and result.structuredContent is not None:
        parts.append(json.dumps(result.structuredContent, ensure_ascii=False))
    text = "\n\n".join(part for part in parts if part) or NO_OUTPUT
    return ToolOutput(capped(text.replace("\0", ""), limit), is_error=result.isError)
