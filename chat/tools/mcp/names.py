"""The names the model sees MCP tools by: `<server>__<tool>`, unique among a model's tools.

OpenAI and Anthropic accept tool names matching ^[a-zA-Z0-9_-]{1,64}$. A name is sanitised
to that, cut to 64 characters, and when two names still collide (after the cut, or with a
built-in tool) the later one, in a fixed order, ends in a short hash of its server and
tool instead: the same servers and tools always give the same names.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable

MAX_LENGTH = 64
SEPARATOR = "__"
HASH_LENGTH = 8
NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9_-]")


def sanitised(name: str) -> str:
    return NOT_ALLOWED.sub("_", name)[:MAX_LENGTH]


def hashed(server: str, tool: str, base: str, attempt: int) -> str:
    digest = hashlib.sha256(f"{server}\0{tool}\0{attempt}".encode()).hexdigest()[:HASH_LENGTH]
    return f"{base[: MAX_LENGTH - HASH_LENGTH - 1]}_{digest}"


def exposed_names(
    tools: Iterable[tuple[str, str]], reserved: Collection[str] = ()
) -> dict[tuple[str, str], str]:
    """(server, tool) -> the name the model sees; `reserved` are names already taken."""
    taken = set(reserved)
    names: dict[tuple[str, str], str] = {}
    for server, tool in sorted(set(tools)):
        base = sanitised(f"{server}{SEPARATOR}{tool}")
        name, attempt = base, 0
        while name in taken:
            name = hashed(server, tool, base, attempt)
            attempt += 1
        taken.add(name)
        names[server, tool] = name
    return names
