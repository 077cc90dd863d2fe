"""Helpers shared by the provider tests: build requests, run a stream, read its events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

import pytest

from chat.providers import stream_function
from chat.providers.base import (
    ChatMessage,
    ProviderEvent,
    ProviderRequest,
    ReasoningDelta,
    ReasoningDone,
    TextDelta,
    ToolCallDone,
    ToolSpec,
    Usage,
)
from chat.providers.http import close_http_client
from tests.fake_upstream import FakeUpstream, Scenario

PROVIDERS = ["openai", "anthropic"]

TOOLS = (
    ToolSpec("current_time", "The current date and time.", {"type": "object", "properties": {}}),
    ToolSpec(
        "calculator",
        "Exact arithmetic.",
        {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    ),
)

# The network conditions every stream must survive (tests/fake_upstream/sse.py).
HOSTILE_NETWORKS = {
    "event": {"chunking": "event"},
    "hostile": {"chunking": "hostile"},
    "hostile-crlf": {"chunking": "hostile", "crlf": True},
    "crlf-nospace-comments": {"crlf": True, "no_space_after_colon": True, "comments": True},
}

Event = TypeVar("Event")


@pytest.fixture(autouse=True)
async def fresh_http_client() -> AsyncIterator[None]:
    """The pooled client belongs to the test's loop: close it with the test.

    Autouse wherever it is imported (`# noqa: F401`)."""
    yield
    await close_http_client()


def provider_request(upstream: FakeUpstream, scenario: Scenario, **fields: Any) -> ProviderRequest:
    return request_for(upstream, upstream.add(scenario), **fields)


def request_for(upstream: FakeUpstream, scenario_id: str, **fields: Any) -> ProviderRequest:
    """A request to a scenario already added (to read what it received afterwards)."""
    defaults: dict[str, Any] = {
        "model": "fake-model",
        "messages": (ChatMessage("user", "Say hello"),),
        "base_url": upstream.url(scenario_id),
        "max_tokens": 50,
    }
    return ProviderRequest(**{**defaults, **fields})


async def collect(provider: str, request: ProviderRequest) -> list[ProviderEvent]:
    return [event async for event in stream_function(provider)(request)]


def of_type(events: list[ProviderEvent], kind: type[Event]) -> list[Event]:
    return [event for event in events if isinstance(event, kind)]


def text_of(events: list[ProviderEvent]) -> str:
    return "".join(e.text for e in of_type(events, TextDelta))


def reasoning_of(events: list[ProviderEvent]) -> str:
    return "".join(e.text for e in of_type(events, ReasoningDelta))


def final_usage(events: list[ProviderEvent]) -> Usage:
    """The counts as the contract defines them: each from its last report."""
    counts: dict[str, int] = {}
    for usage in of_type(events, Usage):
        for name in ("input_tokens", "output_tokens", "reasoning_tokens"):
            if getattr(usage, name) is not None:
                counts[name] = getattr(usage, name)
    return Usage(**counts)


def answered_round(events: list[ProviderEvent], results: dict[str, str]) -> list[ChatMessage]:
    """What an engine appends after a round: the assistant message, then each result
    (`results` by tool name; a malformed call gets its error)."""
    calls = of_type(events, ToolCallDone)
    assistant = ChatMessage(
        "assistant",
        text_of(events),
        reasoning=tuple(done.block for done in of_type(events, ReasoningDone)),
        tool_calls=tuple(call.call for call in calls),
    )
    return [
        assistant,
        *(
            ChatMessage("tool", call.error, tool_call_id=call.id, is_error=True)
            if call.malformed
            else ChatMessage("tool", results.get(call.name, "ok"), tool_call_id=call.id)
            for call in calls
        ),
    ]
