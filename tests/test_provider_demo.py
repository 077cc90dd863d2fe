"""The offline demo model shows reasoning and a tool round with no network."""

from __future__ import annotations

from typing import Any

import pytest

from chat.providers.base import (
    ChatMessage,
    Finish,
    ProviderRequest,
    ReasoningBlock,
    ReasoningDone,
    TextDelta,
    ToolCallDone,
    ToolCallStart,
)
from chat.providers.demo import answer_tokens
from tests.provider_helpers import TOOLS, answered_round, collect, of_type, reasoning_of, text_of


def demo_request(*messages: ChatMessage, **fields: Any) -> ProviderRequest:
    return ProviderRequest(**{"model": "demo", "messages": messages, "tools": TOOLS, **fields})


@pytest.mark.parametrize(
    ("question", "tool", "arguments"),
    [
        ("what time is it?", "current_time", {}),
        ("What is 12*7+3?", "calculator", {"expression": "12*7+3"}),
        ("and (2 + 3) * 4 ?", "calculator", {"expression": "(2 + 3) * 4"}),
    ],
)
async def test_demo_reasons_then_calls_the_tool_the_question_needs(
    question: str, tool: str, arguments: dict[str, str]
) -> None:
    events = await collect("demo", demo_request(ChatMessage("user", question)))
    [done] = of_type(events, ToolCallDone)
    assert (done.name, done.parsed_arguments) == (tool, arguments)
    assert tool in reasoning_of(events)
    assert of_type(events, ReasoningDone) == [ReasoningDone(ReasoningBlock(reasoning_of(events)))]
    # Reasoning first, then the call; no answer text in a tool round.
    assert events.index(of_type(events, ReasoningDone)[0]) < events.index(
        of_type(events, ToolCallStart)[0]
    )
    assert text_of(events) == ""
    assert events[-1] == Finish("tool_calls")


@pytest.mark.parametrize(
    ("question", "result", "expected"),
    [
        ("what time is it?", "2030-01-02 03:04 UTC", "It is **2030-01-02 03:04 UTC**"),
        ("what is 12*7+3?", "87", "`12*7+3` = **87**"),
    ],
)
async def test_demo_answers_with_the_tool_result_on_the_next_round(
    question: str, result: str, expected: str
) -> None:
    asked = ChatMessage("user", question)
    first = await collect("demo", demo_request(asked))
    history = (asked, *answered_round(first, {"current_time": result, "calculator": result}))
    second = await collect("demo", demo_request(*history))
    assert expected in text_of(second)
    assert of_type(second, ToolCallDone) == []
    assert second[-1] == Finish("stop")


async def test_demo_says_when_the_tool_failed() -> None:
    asked = ChatMessage("user", "what time is it?")
    first = await collect("demo", demo_request(asked))
    assistant, result = answered_round(first, {})
    failed = ChatMessage("tool", "timed out", tool_call_id=result.tool_call_id, is_error=True)
    events = await collect("demo", demo_request(asked, assistant, failed))
    assert "failed (timed out)" in text_of(events)


@pytest.mark.parametrize(
    "request_fields",
    [{"tools": ()}, {"tool_choice": "none"}],
    ids=["tool-not-offered", "tools-refused"],
)
async def test_demo_answers_in_text_when_it_may_not_call_the_tool(
    request_fields: dict[str, Any],
) -> None:
    events = await collect(
        "demo", demo_request(ChatMessage("user", "what time is it?"), **request_fields)
    )
    assert of_type(events, ToolCallDone) == []
    assert [e.text for e in of_type(events, TextDelta)] == answer_tokens("what time is it?")
    assert events[-1] == Finish("stop")
