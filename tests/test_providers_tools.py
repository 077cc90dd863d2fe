"""Tool calls through both providers, over real HTTP to the fake upstream."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from chat.providers.base import (
    ChatMessage,
    Finish,
    ProviderEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallDone,
    ToolCallStart,
)
from chat.providers.history import MISSING_RESULT
from tests.fake_upstream import FakeUpstream, Round, Scenario, ToolCallSpec, presets
from tests.provider_helpers import (
    HOSTILE_NETWORKS,
    PROVIDERS,
    TOOLS,
    answered_round,
    collect,
    fresh_http_client,  # noqa: F401
    of_type,
    provider_request,
    request_for,
    text_of,
)

QUESTION = ChatMessage("user", "What time is it?")


def assert_well_formed_calls(events: list[ProviderEvent]) -> list[ToolCallDone]:
    """Each call starts once, streams its arguments after that, and ends with all of them."""
    done = of_type(events, ToolCallDone)
    for call in done:
        positions = [
            index
            for index, event in enumerate(events)
            if isinstance(event, ToolCallStart | ToolCallDelta | ToolCallDone)
            and event.id == call.id
        ]
        mine = [events[index] for index in positions]
        assert mine[0] == ToolCallStart(call.id, call.name)
        assert mine[-1] is call
        deltas = "".join(e.arguments_delta for e in mine if isinstance(e, ToolCallDelta))
        assert deltas == call.arguments
    assert len({call.id for call in done}) == len(done)
    # The calls are complete before the round says it is over.
    assert events[-1] == Finish("tool_calls")
    return done


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("network", HOSTILE_NETWORKS.values(), ids=HOSTILE_NETWORKS.keys())
async def test_a_tool_call_streams_its_name_then_arguments_then_the_whole_call(
    upstream: FakeUpstream, provider: str, network: dict[str, Any]
) -> None:
    events = await collect(
        provider, provider_request(upstream, presets.one_tool_call(**network), tools=TOOLS)
    )
    [call] = assert_well_formed_calls(events)
    assert (call.name, call.parsed_arguments) == ("current_time", {"timezone": "Europe/Zürich"})
    assert call.arguments == presets.TIME_ARGUMENTS
    assert text_of(events) == "Let me check."
    # The text said before the call comes before it.
    assert events.index(of_type(events, TextDelta)[-1]) < events.index(
        of_type(events, ToolCallStart)[0]
    )


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("chunking", ["event", "hostile"])
async def test_parallel_calls_come_out_whole_and_separate(
    upstream: FakeUpstream, provider: str, chunking: str
) -> None:
    request = provider_request(upstream, presets.parallel_tool_calls(chunking=chunking))
    events = await collect(provider, request)
    calls = assert_well_formed_calls(events)
    assert [(c.name, c.arguments) for c in calls] == [
        ("current_time", presets.TIME_ARGUMENTS),
        ("calculator", presets.SUM_ARGUMENTS),
    ]
    if provider == "openai":  # its fragments really did interleave
        ids = [e.id for e in of_type(events, ToolCallDelta)]
        assert ids[:4] == [calls[0].id, calls[1].id, calls[0].id, calls[1].id]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        (presets.arguments_split_in_strings, {"expression": "12*7+3", "note": 'say "hi"'}),
        (presets.arguments_split_in_utf8, {"city": "Zürich 👋🏽 世界"}),
        (presets.arguments_split_in_surrogate_pair, {"icon": "👋"}),
    ],
    ids=["inside-strings", "inside-utf8", "inside-surrogate-pair"],
)
async def test_arguments_cut_anywhere_are_put_back_together(
    upstream: FakeUpstream, provider: str, preset: Any, expected: dict[str, Any]
) -> None:
    events = await collect(provider, provider_request(upstream, preset()))
    [call] = assert_well_formed_calls(events)
    assert call.parsed_arguments == expected
    # Every piece can be encoded: nothing downstream meets half a character.
    for delta in of_type(events, ToolCallDelta):
        delta.arguments_delta.encode("utf-8")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_malformed_arguments_end_the_call_with_an_error_not_the_stream(
    upstream: FakeUpstream, provider: str
) -> None:
    events = await collect(provider, provider_request(upstream, presets.malformed_arguments()))
    [call] = assert_well_formed_calls(events)
    assert call.malformed
    assert call.arguments == '{"expression": "12*7+3"'
    assert "not valid JSON" in call.error


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_call_to_a_tool_nobody_offered_is_passed_on_as_is(
    upstream: FakeUpstream, provider: str
) -> None:
    events = await collect(
        provider, provider_request(upstream, presets.unknown_tool(), tools=TOOLS)
    )
    [call] = assert_well_formed_calls(events)
    assert (call.name, call.parsed_arguments) == ("launch_rockets", {"count": 3})


def openai_round_messages(call: ToolCallDone) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "What time is it?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": "current_time", "arguments": presets.TIME_ARGUMENTS},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "12:00 UTC"},
    ]


def anthropic_round_messages(call: ToolCallDone) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "What time is it?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": "current_time",
                    "input": {"timezone": "Europe/Zürich"},
                },
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "12:00 UTC"}],
        },
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_next_round_sends_the_calls_and_their_results_back_exactly(
    upstream: FakeUpstream, provider: str
) -> None:
    scenario_id = upstream.add(presets.one_tool_call())
    request = request_for(upstream, scenario_id, messages=(QUESTION,), tools=TOOLS)
    first = await collect(provider, request)
    [call] = of_type(first, ToolCallDone)
    history = (QUESTION, *answered_round(first, {"current_time": "12:00 UTC"}))
    second = await collect(provider, replace(request, messages=history))

    assert text_of(second) == "".join(presets.ANSWER_TOKENS)
    assert second[-1] == Finish("stop")
    first_body, second_body = upstream.bodies(scenario_id)
    expected = (openai_round_messages if provider == "openai" else anthropic_round_messages)(call)
    assert first_body["messages"] == expected[:1]
    assert second_body["messages"] == expected
    assert [r.round for r in upstream.requests(scenario_id)] == [0, 1]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_model_that_calls_tools_forever_asks_again_every_round(
    upstream: FakeUpstream, provider: str
) -> None:
    scenario_id = upstream.add(presets.tools_forever())
    request = request_for(upstream, scenario_id, messages=(QUESTION,), tools=TOOLS)
    history: tuple[ChatMessage, ...] = (QUESTION,)
    seen_ids: set[str] = set()
    for _ in range(3):
        events = await collect(provider, replace(request, messages=history))
        [call] = assert_well_formed_calls(events)
        assert call.id not in seen_ids
        seen_ids.add(call.id)
        history = (*history, *answered_round(events, {"current_time": "noon"}))
    assert [r.round for r in upstream.requests(scenario_id)] == [0, 1, 2]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("choice", "openai_choice", "anthropic_choice"),
    [
        ("auto", None, None),
        ("none", "none", {"type": "none"}),
        ("required", "required", {"type": "any"}),
        (
            "calculator",
            {"type": "function", "function": {"name": "calculator"}},
            {"type": "tool", "name": "calculator"},
        ),
    ],
)
async def test_tools_and_tool_choice_are_sent_in_each_format(
    upstream: FakeUpstream, provider: str, choice: str, openai_choice: Any, anthropic_choice: Any
) -> None:
    scenario_id = upstream.add(Scenario())
    await collect(
        provider,
        request_for(upstream, scenario_id, tools=TOOLS, tool_choice=choice),
    )
    [body] = upstream.bodies(scenario_id)
    schema = TOOLS[1].parameters
    if provider == "openai":
        assert body["tools"][1] == {
            "type": "function",
            "function": {
                "name": "calculator",
                "description": "Exact arithmetic.",
                "parameters": schema,
            },
        }
        assert body.get("tool_choice") == openai_choice
    else:
        assert body["tools"][1] == {
            "name": "calculator",
            "description": "Exact arithmetic.",
            "input_schema": schema,
        }
        assert body.get("tool_choice") == anthropic_choice


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_no_tools_means_no_tool_fields(upstream: FakeUpstream, provider: str) -> None:
    scenario_id = upstream.add(Scenario())
    await collect(
        provider,
        request_for(upstream, scenario_id, tool_choice="none"),
    )
    [body] = upstream.bodies(scenario_id)
    assert "tools" not in body and "tool_choice" not in body


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_history_cut_or_stopped_mid_call_still_makes_a_request_the_api_takes(
    upstream: FakeUpstream, provider: str
) -> None:
    # The window starts after a call (its result is an orphan), and an answer was
    # stopped during a call (its call has no result); the fake refuses either with a 400.
    history = (
        ChatMessage("tool", "orphan result", tool_call_id="call_gone"),
        ChatMessage("user", "What is 2+2?"),
        ChatMessage(
            "assistant",
            "",
            tool_calls=(ToolCall("call_stopped", "calculator", '{"expression": "2+2"}'),),
        ),
        ChatMessage("user", "Never mind. Hello!"),
    )
    scenario_id = upstream.add(Scenario())
    events = await collect(
        provider,
        request_for(upstream, scenario_id, messages=history, tools=TOOLS),
    )
    assert text_of(events) == "Hello, world!"
    [body] = upstream.bodies(scenario_id)
    text = json.dumps(body["messages"])
    assert "orphan result" not in text
    assert MISSING_RESULT in text


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_failed_call_is_marked_as_an_error_for_the_model(
    upstream: FakeUpstream, provider: str
) -> None:
    history = (
        QUESTION,
        ChatMessage("assistant", "", tool_calls=(ToolCall("call_1", "current_time", "{}"),)),
        ChatMessage("tool", "The tool timed out.", tool_call_id="call_1", is_error=True),
    )
    scenario_id = upstream.add(Scenario())
    await collect(
        provider,
        request_for(upstream, scenario_id, messages=history, tools=TOOLS),
    )
    [body] = upstream.bodies(scenario_id)
    if provider == "openai":
        assert body["messages"][-1] == {
            "role": "tool",
            "tool_call_id": "call_1",
            "content": "Error: The tool timed out.",
        }
    else:
        assert body["messages"][-1]["content"] == [
            {
                "type": "tool_result",
                "tool_use_id": "call_1",
                "content": "The tool timed out.",
                "is_error": True,
            }
        ]


async def test_anthropic_history_with_calls_but_no_tools_now_is_told_in_words(
    upstream: FakeUpstream,
) -> None:
    # Staff took the model's tools away; Anthropic refuses tool blocks without tools.
    history = (
        QUESTION,
        ChatMessage("assistant", "", tool_calls=(ToolCall("toolu_1", "current_time", "{}"),)),
        ChatMessage("tool", "12:00", tool_call_id="toolu_1"),
        ChatMessage("assistant", "It is noon."),
        ChatMessage("user", "Thanks!"),
    )
    scenario_id = upstream.add(Scenario())
    events = await collect("anthropic", request_for(upstream, scenario_id, messages=history))
    assert text_of(events) == "Hello, world!"
    [body] = upstream.bodies(scenario_id)
    assert body["messages"][1] == {
        "role": "assistant",
        "content": "[Called the tool current_time with {}]",
    }
    assert body["messages"][2]["content"].startswith("[Tool result: 12:00]")


@pytest.mark.parametrize(
    ("finish_reason", "rounds", "expected"),
    [
        # Ollama says "stop" after calls: there are still calls to run.
        ("stop", [Round(tool_calls=[ToolCallSpec("current_time")])], "tool_calls"),
        # "tool_calls" with no call in the stream: nothing to run, the round is over.
        ("tool_calls", [Round(tokens=["Hi"])], "stop"),
        ("length", [Round(tokens=["Hi"])], "length"),
        ("content_filter", [Round(tokens=["Hi"])], "content_filter"),
    ],
)
async def test_openai_finish_reason_says_whether_there_are_calls_to_run(
    upstream: FakeUpstream, finish_reason: str, rounds: list[Round], expected: str
) -> None:
    scenario = Scenario(rounds=rounds, finish_reason=finish_reason)
    events = await collect("openai", provider_request(upstream, scenario))
    assert events[-1] == Finish(expected)
