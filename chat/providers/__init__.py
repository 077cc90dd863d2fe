"""Providers: one module each, all keeping the contract in `base`."""

from __future__ import annotations

from chat.providers import anthropic, demo, openai
from chat.providers.base import StreamFunction

STREAMS: dict[str, StreamFunction] = {
    "openai": openai.stream,
    "anthropic": anthropic.stream,
    "demo": demo.stream,
}


def stream_function(provider: str) -> StreamFunction:
    return STREAMS[provider]
