"""Named scenarios of tool use and reasoning, the same in both wire formats.

Each is a function returning a fresh Scenario (scenarios are mutable), so a test can
adjust it: `upstream.add(presets.one_tool_call())`, or
`upstream.add(presets.parallel_tool_calls(chunking="hostile"))`. `PRESETS` maps the names;
the command line registers each under its name, e.g. POST /s/one_tool_call/v1/messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fake_upstream.scenarios import Round, Scenario, ToolCallSpec

# What every tool scenario answers once the results are in.
ANSWER_TOKENS = ["The ", "tool ", "says ", "so."]
TIME_ARGUMENTS = '{"timezone": "Europe/Zürich"}'
SUM_ARGUMENTS = '{"expression": "12*7+3"}'
REASONING = ["The user ", "asks for ", "the time; ", "I will ", "check."]


def _after_tools(*rounds: Round, **fields: Any) -> Scenario:
    return Scenario(rounds=[*rounds, Round(tokens=list(ANSWER_TOKENS))], **fields)


def one_tool_call(**fields: Any) -> Scenario:
    """Round 1: a few words and one call; round 2: the answer."""
    call = ToolCallSpec("current_time", TIME_ARGUMENTS)
    return _after_tools(Round(tokens=["Let me ", "check."], tool_calls=[call]), **fields)


def parallel_tool_calls(**fields: Any) -> Scenario:
    """Two calls in one round; in OpenAI's format their fragments interleave."""
    calls = [
        ToolCallSpec("current_time", TIME_ARGUMENTS),
        ToolCallSpec("calculator", SUM_ARGUMENTS),
    ]
    return _after_tools(Round(tool_calls=calls, interleave_calls=True), **fields)


def arguments_split_in_strings(**fields: Any) -> Scenario:
    """Fragments cut inside keys, values and an escape sequence."""
    fragments = ['{"expr', 'ession": "12', "*7+3", '", "note": "say \\', '"hi\\', '"', '"}']
    call = ToolCallSpec("calculator", fragments=fragments)
    return _after_tools(Round(tool_calls=[call]), **fields)


def arguments_split_in_utf8(**fields: Any) -> Scenario:
    """Multi-byte characters in the arguments, sent in hostile chunks (cut inside their
    bytes), with fragments cut between an emoji and its skin-tone modifier."""
    fragments = ['{"city": "Zü', "rich 👋", "🏽 世", '界"}']
    call = ToolCallSpec("current_time", fragments=fragments)
    return _after_tools(Round(tool_calls=[call]), **{"chunking": "hostile", **fields})


def arguments_split_in_surrogate_pair(**fields: Any) -> Scenario:
    """Arguments escaped as \\uXXXX, an emoji cut between its two UTF-16 halves."""
    fragments = ['{"icon": "', "\ud83d", '\udc4b"}']
    call = ToolCallSpec("current_time", fragments=fragments)
    return _after_tools(Round(tool_calls=[call]), **fields)


def malformed_arguments(**fields: Any) -> Scenario:
    """Arguments that are not JSON; the model answers once told."""
    call = ToolCallSpec("calculator", '{"expression": "12*7+3"')
    return _after_tools(Round(tool_calls=[call]), **fields)


def unknown_tool(**fields: Any) -> Scenario:
    """A call to a tool nobody offered."""
    call = ToolCallSpec("launch_rockets", '{"count": 3}')
    return _after_tools(Round(tool_calls=[call]), **fields)


def tools_forever(**fields: Any) -> Scenario:
    """Every round asks for the tool again, however many results came back."""
    return Scenario(rounds=[Round(tool_calls=[ToolCallSpec("current_time", "{}")])], **fields)


def reasoning_content(**fields: Any) -> Scenario:
    """Reasoning in delta.reasoning_content (DeepSeek, LiteLLM); thinking in Anthropic's."""
    return Scenario(rounds=[Round(reasoning=list(REASONING), tokens=["It is noon."])], **fields)


def reasoning_field(**fields: Any) -> Scenario:
    """Reasoning in delta.reasoning (OpenRouter, Ollama, vLLM)."""
    answer = Round(reasoning=list(REASONING), reasoning_field="reasoning", tokens=["Noon."])
    return Scenario(rounds=[answer], **fields)


def think_tags(**fields: Any) -> Scenario:
    """Reasoning inside the content between <think> tags, each tag cut across chunks."""
    answer = Round(reasoning=list(REASONING), reasoning_field="think", tokens=["Noon."])
    return Scenario(rounds=[answer], **fields)


def thinking_then_tool(**fields: Any) -> Scenario:
    """Reasoning before a call, then reasoning before the answer: Anthropic signs both
    thinking blocks and refuses round 2 unless round 1's comes back intact."""
    first = Round(reasoning=list(REASONING), tool_calls=[ToolCallSpec("current_time", "{}")])
    second = Round(reasoning=["The tool ", "answered."], tokens=list(ANSWER_TOKENS))
    return Scenario(rounds=[first, second], **fields)


def redacted_thinking(**fields: Any) -> Scenario:
    """A thinking block, an encrypted one, then a call (OpenAI streams skip the blob)."""
    first = Round(
        reasoning=["Hmm."],
        redacted_thinking=["RW5jcnlwdGVkIHRoaW5raW5n"],
        tool_calls=[ToolCallSpec("current_time", "{}")],
    )
    return _after_tools(first, **fields)


def late_usage(**fields: Any) -> Scenario:
    """Anthropic via LiteLLM: input_tokens 0 in message_start, the real count at the end."""
    return Scenario(tokens=["Hi!"], usage=(1234, 56), usage_late=True, **fields)


PRESETS: dict[str, Callable[..., Scenario]] = {
    preset.__name__: preset
    for preset in (
        one_tool_call,
        parallel_tool_calls,
        arguments_split_in_strings,
        arguments_split_in_utf8,
        arguments_split_in_surrogate_pair,
        malformed_arguments,
        unknown_tool,
        tools_forever,
        reasoning_content,
        reasoning_field,
        think_tags,
        thinking_then_tool,
        redacted_thinking,
        late_usage,
    )
}
