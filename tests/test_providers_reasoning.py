"""Reasoning, thinking signatures, usage, images: both providers over real HTTP."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chat.errors import ErrorCode
from chat.providers.base import (
    ChatMessage,
    Finish,
    ImagePart,
    ProviderError,
    ReasoningBlock,
    ReasoningDelta,
    ReasoningDone,
    TextDelta,
    TextPart,
    ToolCall,
    Usage,
)
from tests.fake_upstream import FakeUpstream, Scenario, presets, thinking_signature
from tests.provider_helpers import (
    HOSTILE_NETWORKS,
    PROVIDERS,
    TOOLS,
    answered_round,
    collect,
    final_usage,
    fresh_http_client,  # noqa: F401
    of_type,
    provider_request,
    reasoning_of,
    request_for,
    text_of,
)

REASONING_TEXT = "".join(presets.REASONING)
QUESTION = ChatMessage("user", "What time is it?")


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "preset", [presets.reasoning_content, presets.reasoning_field, presets.think_tags]
)
@pytest.mark.parametrize("network", HOSTILE_NETWORKS.values(), ids=HOSTILE_NETWORKS.keys())
async def test_reasoning_streams_apart_from_the_answer_and_before_it(
    upstream: FakeUpstream, provider: str, preset: Any, network: dict[str, Any]
) -> None:
    events = await collect(provider, provider_request(upstream, preset(**network)))
    assert reasoning_of(events) == REASONING_TEXT
    [done] = of_type(events, ReasoningDone)
    assert done.block.text == REASONING_TEXT
    assert "think>" not in text_of(events)
    assert text_of(events) in ("It is noon.", "Noon.")
    first_text = events.index(of_type(events, TextDelta)[0])
    assert events.index(of_type(events, ReasoningDelta)[-1]) < events.index(done) < first_text
    assert events[-1] == Finish("stop")


@pytest.mark.parametrize("network", HOSTILE_NETWORKS.values(), ids=HOSTILE_NETWORKS.keys())
@pytest.mark.parametrize(
    "tokens",
    [
        ["<", "think", ">Hm", "m.</", "think", ">\n\nNoon."],
        ["\n<think>", "Hmm.", "<", "/think>", "Noon."],
        ["<think>Hmm.</think>Noon."],
        ["<thin", "k>Hmm.</thin", "k>", "\n", "\n", "Noon."],
    ],
    ids=["tags-in-pieces", "leading-newline", "one-chunk", "cut-before-last-letter"],
)
async def test_openai_think_tags_cut_anywhere_are_taken_out_of_the_answer(
    upstream: FakeUpstream, network: dict[str, Any], tokens: list[str]
) -> None:
    events = await collect("openai", provider_request(upstream, Scenario(tokens=tokens, **network)))
    assert (reasoning_of(events), text_of(events)) == ("Hmm.", "Noon.")


async def test_openai_think_tag_later_in_an_answer_is_just_text(upstream: FakeUpstream) -> None:
    tokens = ["Use ", "<think>", " tags", " like </think> this."]
    events = await collect("openai", provider_request(upstream, Scenario(tokens=tokens)))
    assert (reasoning_of(events), text_of(events)) == ("", "".join(tokens))


async def test_anthropic_thinking_is_signed_and_goes_back_intact_in_the_tool_loop(
    upstream: FakeUpstream,
) -> None:
    scenario_id = upstream.add(presets.thinking_then_tool())
    request = request_for(
        upstream,
        scenario_id,
        messages=(QUESTION,),
        tools=TOOLS,
        thinking_budget_tokens=2048,
        max_tokens=4096,
    )
    first = await collect("anthropic", request)
    [done] = of_type(first, ReasoningDone)
    assert done.block == ReasoningBlock(REASONING_TEXT, thinking_signature(REASONING_TEXT))

    history = (QUESTION, *answered_round(first, {"current_time": "noon"}))
    second = await collect("anthropic", replace(request, messages=history))
    # The fake checks the signature and the block's place, as the real API does.
    assert text_of(second) == "".join(presets.ANSWER_TOKENS)
    assert reasoning_of(second) == "The tool answered."
    assistant = upstream.bodies(scenario_id)[1]["messages"][1]
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": REASONING_TEXT,
        "signature": thinking_signature(REASONING_TEXT),
    }
    assert assistant["content"][1]["type"] == "tool_use"


async def test_anthropic_refuses_a_tool_loop_whose_thinking_was_altered(
    upstream: FakeUpstream,
) -> None:
    # What the contract protects against: the fake answers as the real API does.
    scenario_id = upstream.add(presets.thinking_then_tool())
    altered = ReasoningBlock("I changed my mind.", thinking_signature(REASONING_TEXT))
    history = (
        QUESTION,
        ChatMessage(
            "assistant",
            "",
            reasoning=(altered,),
            tool_calls=(ToolCall("toolu_1", "current_time", "{}"),),
        ),
        ChatMessage("tool", "noon", tool_call_id="toolu_1"),
    )
    request = request_for(
        upstream,
        scenario_id,
        messages=history,
        tools=TOOLS,
        thinking_budget_tokens=2048,
        max_tokens=4096,
    )
    with pytest.raises(ProviderError) as raised:
        await collect("anthropic", request)
    assert raised.value.code == ErrorCode.UPSTREAM_ERROR
    assert "signature" in raised.value.message


async def test_anthropic_redacted_thinking_is_kept_and_sent_back(upstream: FakeUpstream) -> None:
    scenario_id = upstream.add(presets.redacted_thinking())
    request = request_for(
        upstream,
        scenario_id,
        messages=(QUESTION,),
        tools=TOOLS,
        thinking_budget_tokens=1024,
        max_tokens=2048,
    )
    first = await collect("anthropic", request)
    blocks = [done.block for done in of_type(first, ReasoningDone)]
    assert blocks == [
        ReasoningBlock("Hmm.", thinking_signature("Hmm.")),
        ReasoningBlock(redacted_data="RW5jcnlwdGVkIHRoaW5raW5n"),
    ]
    history = (QUESTION, *answered_round(first, {"current_time": "noon"}))
    await collect("anthropic", replace(request, messages=history))
    content = upstream.bodies(scenario_id)[1]["messages"][1]["content"]
    assert [block["type"] for block in content] == ["thinking", "redacted_thinking", "tool_use"]
    assert content[1]["data"] == "RW5jcnlwdGVkIHRoaW5raW5n"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_unsigned_reasoning_never_goes_back_upstream(
    upstream: FakeUpstream, provider: str
) -> None:
    # OpenAI-compatible reasoning has no signature; DeepSeek refuses it in the history.
    history = (
        QUESTION,
        ChatMessage("assistant", "Noon.", reasoning=(ReasoningBlock("secret musings"),)),
        ChatMessage("user", "Thanks"),
    )
    scenario_id = upstream.add(Scenario())
    await collect(
        provider,
        request_for(
            upstream, scenario_id, messages=history, thinking_budget_tokens=1024, max_tokens=2048
        ),
    )
    [body] = upstream.bodies(scenario_id)
    assert "secret musings" not in str(body)
    assert body["messages"][-2]["content"] == "Noon."


async def test_anthropic_thinking_settings_follow_the_api_rules(upstream: FakeUpstream) -> None:
    scenario_id = upstream.add(Scenario())
    base = request_for(upstream, scenario_id, temperature=0.2, tools=TOOLS, tool_choice="required")
    await collect("anthropic", replace(base, thinking_budget_tokens=2000, max_tokens=1000))
    await collect("anthropic", replace(base, thinking_budget_tokens=100, max_tokens=8000))
    await collect("anthropic", base)
    big_budget, small_budget, off = upstream.bodies(scenario_id)
    assert big_budget["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    # max_tokens must exceed the budget: the answer's own 1000 come on top.
    assert big_budget["max_tokens"] == 3000
    # Thinking takes neither a temperature nor a forced tool.
    assert "temperature" not in big_budget and "tool_choice" not in big_budget
    assert small_budget["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert small_budget["max_tokens"] == 8000
    assert "thinking" not in off
    assert (off["temperature"], off["tool_choice"]) == (0.2, {"type": "any"})


async def test_openai_reasoning_effort_is_sent_only_when_set(upstream: FakeUpstream) -> None:
    scenario_id = upstream.add(Scenario())
    await collect("openai", request_for(upstream, scenario_id, reasoning_effort="high"))
    await collect("openai", request_for(upstream, scenario_id))
    with_effort, without = upstream.bodies(scenario_id)
    assert with_effort["reasoning_effort"] == "high"
    assert "reasoning_effort" not in without


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_usage_counts_are_the_last_reported(upstream: FakeUpstream, provider: str) -> None:
    # Behind LiteLLM, Anthropic's message_start says 0 input tokens; the end has the count.
    events = await collect(provider, provider_request(upstream, presets.late_usage()))
    assert final_usage(events) == Usage(1234, 56)
    if provider == "anthropic":
        assert of_type(events, Usage)[0].input_tokens == 0


async def test_openai_usage_carries_reasoning_tokens(upstream: FakeUpstream) -> None:
    scenario = presets.reasoning_content(usage=(10, 20), reasoning_tokens=7)
    events = await collect("openai", provider_request(upstream, scenario))
    assert final_usage(events) == Usage(10, 20, 7)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_images_are_sent_in_each_wire_format(upstream: FakeUpstream, provider: str) -> None:
    image = ImagePart("image/png", "iVBORw0KGgo=")
    question = ChatMessage("user", (TextPart("What is this?"), image))
    scenario_id = upstream.add(Scenario())
    events = await collect(provider, request_for(upstream, scenario_id, messages=(question,)))
    assert text_of(events) == "Hello, world!"
    [body] = upstream.bodies(scenario_id)
    if provider == "openai":
        image_json = {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
        }
    else:
        source = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
        image_json = {"type": "image", "source": source}
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, image_json]}
    ]
