"""The incremental parsers behind the providers, cut at every point (Hypothesis), and the
quirks of servers the fake upstream does not imitate."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.errors import ErrorCode
from chat.providers.anthropic import EventParser
from chat.providers.base import (
    ChatMessage,
    Finish,
    ProviderError,
    ProviderEvent,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallDone,
    ToolCallStart,
)
from chat.providers.history import MISSING_RESULT, paired_tool_results
from chat.providers.openai import ChunkParser
from chat.providers.sse import SseParser
from chat.providers.think_tags import CLOSE_TAG, OPEN_TAG, ThinkTagSplitter

# -- <think> tags -------------------------------------------------------------------------


def split_think_tags(content: str) -> tuple[str, str]:
    """(reasoning, answer) of a whole content: what the splitter must give however cut."""
    stripped = content.lstrip()
    if not stripped.startswith(OPEN_TAG):
        return "", content
    inside = stripped[len(OPEN_TAG) :]
    end = inside.find(CLOSE_TAG)
    if end < 0:
        return inside, ""
    return inside[:end], inside[end + len(CLOSE_TAG) :].lstrip()


def run_splitter(chunks: list[str]) -> tuple[str, str]:
    splitter = ThinkTagSplitter()
    pieces = [piece for chunk in chunks for piece in splitter.feed(chunk)] + splitter.finish()
    assert all(text for _, text in pieces)
    reasoning = "".join(text for is_reasoning, text in pieces if is_reasoning)
    answer = "".join(text for is_reasoning, text in pieces if not is_reasoning)
    return reasoning, answer


def cut(text: str, points: list[int]) -> list[str]:
    bounds = [0, *sorted({p for p in points if 0 < p < len(text)}), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


CONTENTS = [
    "<think>Let me see.</think>\n\nNoon.",
    "  \n<think>a<b</thin</think>answer <think>x</think>",
    "<think>never closed",
    "<thin",
    "<think",
    "   ",
    "Plain answer with </think> in it.",
    "<think></think>",
    "<think>\n</think>Answer",
    "x<think>y</think>",
]


def test_think_tags_split_the_same_at_every_single_cut() -> None:
    for content in CONTENTS:
        for point in range(len(content) + 1):
            assert run_splitter(cut(content, [point])) == split_think_tags(content), (
                content,
                point,
            )


# Text made of tag fragments, so tags and near-tags come up often.
think_text = st.lists(
    st.sampled_from(
        ["<think>", "</think>", "<", "/", "think", ">", "<thi", "nk>", "a", " ", "\n", "é👋"]
    ),
    max_size=12,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(content=think_text, points=st.lists(st.integers(0, 120), max_size=8))
def test_think_tags_split_the_same_however_the_content_is_cut(
    content: str, points: list[int]
) -> None:
    assert run_splitter(cut(content, points)) == split_think_tags(content)


@settings(max_examples=200, deadline=None)
@given(reasoning=st.text(alphabet="ab </>thinké", max_size=30))
def test_reasoning_streams_without_waiting_for_the_close_tag(reasoning: str) -> None:
    """Inside the block, at most a possible start of </think> is ever held back."""
    splitter = ThinkTagSplitter()
    splitter.feed(OPEN_TAG)
    fed = shown = ""
    for character in reasoning.replace(CLOSE_TAG, ""):
        fed += character
        shown += "".join(text for is_reasoning, text in splitter.feed(character) if is_reasoning)
        assert fed.startswith(shown)
        assert len(fed) - len(shown) < len(CLOSE_TAG)


# -- tool call fragments ----------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
arguments_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)


@st.composite
def interleaved_calls(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Calls with their arguments cut in pieces, and an order that keeps each call's own."""
    objects = draw(st.lists(arguments_objects, min_size=1, max_size=3))
    calls, queues = [], []
    for index, value in enumerate(objects):
        text = json.dumps(value, ensure_ascii=draw(st.booleans()))
        calls.append(
            {"id": f"call_{index}", "name": f"tool_{index}", "arguments": text, "value": value}
        )
        queues.append(cut(text, draw(st.lists(st.integers(0, len(text)), max_size=6))))
    order: list[tuple[int, str]] = []
    while any(queues):
        index = draw(st.sampled_from([i for i, q in enumerate(queues) if q]))
        order.append((index, queues[index].pop(0)))
    return calls, order


def sse_bytes(payloads: list[str]) -> bytes:
    return b"".join(f"data: {payload}\n\n".encode() for payload in payloads)


def feed_bytes(data: bytes, points: list[int], on_event: Any) -> None:
    parser = SseParser()
    bounds = [0, *sorted({p for p in points if 0 < p < len(data)}), len(data)]
    for a, b in itertools.pairwise(bounds):
        for event in parser.feed(data[a:b]):
            on_event(event)
    for event in parser.finish():
        on_event(event)


def assert_calls_reassembled(events: list[ProviderEvent], calls: list[dict[str, Any]]) -> None:
    done = [e for e in events if isinstance(e, ToolCallDone)]
    assert [(d.id, d.name, d.arguments, d.parsed_arguments) for d in done] == [
        (c["id"], c["name"], c["arguments"] if c["arguments"].strip() else "{}", c["value"])
        for c in calls
    ]
    for call in done:
        mine = [e for e in events if getattr(e, "id", None) == call.id]
        assert mine[0] == ToolCallStart(call.id, call.name)
        assert (
            "".join(e.arguments_delta for e in mine if isinstance(e, ToolCallDelta))
            == call.arguments
        )


@settings(max_examples=150, deadline=None)
@given(calls_and_order=interleaved_calls(), points=st.lists(st.integers(0, 4000), max_size=20))
def test_openai_fragments_by_index_reassemble_however_interleaved_and_cut(
    calls_and_order: tuple[list[dict[str, Any]], list[tuple[int, str]]], points: list[int]
) -> None:
    calls, order = calls_and_order
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}]
    for index, call in enumerate(calls):  # id and name once, before any argument
        first = {"index": index, "id": call["id"], "type": "function"}
        first["function"] = {"name": call["name"], "arguments": ""}
        chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [first]}}]})
    for index, fragment in order:
        piece = {"index": index, "function": {"arguments": fragment}}
        chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [piece]}}]})
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    data = sse_bytes([json.dumps(c, ensure_ascii=False) for c in chunks])

    parser, events = ChunkParser(), []
    feed_bytes(data, points, lambda event: events.extend(parser.feed(event.data)))
    events.extend(parser.finish())
    assert_calls_reassembled(events, calls)
    assert events[-1] == Finish("tool_calls")


@settings(max_examples=150, deadline=None)
@given(calls_and_order=interleaved_calls(), points=st.lists(st.integers(0, 4000), max_size=20))
def test_anthropic_input_json_deltas_reassemble_however_cut(
    calls_and_order: tuple[list[dict[str, Any]], list[tuple[int, str]]], points: list[int]
) -> None:
    calls, order = calls_and_order
    payloads = []
    for index, call in enumerate(calls):  # blocks cannot interleave: in order, one by one
        block = {"type": "tool_use", "id": call["id"], "name": call["name"], "input": {}}
        payloads.append({"type": "content_block_start", "index": index, "content_block": block})
        for fragment in [f for i, f in order if i == index]:
            delta = {"type": "input_json_delta", "partial_json": fragment}
            payloads.append({"type": "content_block_delta", "index": index, "delta": delta})
        payloads.append({"type": "content_block_stop", "index": index})
    payloads.append({"type": "message_delta", "delta": {"stop_reason": "tool_use"}})
    payloads.append({"type": "message_stop"})
    data = sse_bytes([json.dumps(p, ensure_ascii=False) for p in payloads])

    parser, events = EventParser(), []

    def on_event(event: Any) -> None:
        payload = json.loads(event.data)
        events.extend(parser.feed(payload["type"], payload))

    feed_bytes(data, points, on_event)
    assert_calls_reassembled(events, calls)
    assert events[-1] == Finish("tool_calls")


# -- server quirks ------------------------------------------------------------------------


def openai_events(
    *deltas: dict[str, Any], finish_reason: str = "tool_calls"
) -> list[ProviderEvent]:
    parser = ChunkParser()
    events: list[ProviderEvent] = []
    for delta in deltas:
        events.extend(parser.feed(json.dumps({"choices": [{"index": 0, "delta": delta}]})))
    events.extend(
        parser.feed(
            json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]})
        )
    )
    return events + parser.finish()


def done_calls(events: list[ProviderEvent]) -> list[tuple[str, str]]:
    return [(e.name, e.arguments) for e in events if isinstance(e, ToolCallDone)]


def test_a_call_without_an_id_gets_one_made_up() -> None:
    events = openai_events(
        {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{}"}}]}
    )
    [done] = [e for e in events if isinstance(e, ToolCallDone)]
    assert done.id.startswith("call_") and len(done.id) > 10


def test_calls_without_an_index_or_with_an_object_for_arguments_are_read() -> None:
    whole = [
        {"id": "a", "function": {"name": "f", "arguments": {"x": 1}}},
        {"id": "b", "function": {"name": "g", "arguments": '{"y": 2}'}},
    ]
    assert done_calls(openai_events({"tool_calls": whole})) == [
        ("f", '{"x": 1}'),
        ("g", '{"y": 2}'),
    ]


def test_a_new_id_at_a_used_index_is_a_new_call() -> None:
    events = openai_events(
        {"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}]},
        {"tool_calls": [{"index": 0, "id": "b", "function": {"name": "g", "arguments": "{}"}}]},
    )
    assert done_calls(events) == [("f", "{}"), ("g", "{}")]


def test_arguments_before_the_name_wait_for_it() -> None:
    events = openai_events(
        {"tool_calls": [{"index": 0, "id": "a", "function": {"arguments": '{"x"'}}]},
        {"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": ": 1}"}}]},
    )
    kinds = [type(e).__name__ for e in events if getattr(e, "id", None) == "a"]
    assert kinds == ["ToolCallStart", "ToolCallDelta", "ToolCallDelta", "ToolCallDone"]
    assert done_calls(events) == [("f", '{"x": 1}')]


def test_a_lone_half_of_a_surrogate_pair_becomes_a_replacement_character() -> None:
    events = openai_events(
        {
            "tool_calls": [
                {"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"x": "\ud83d'}}
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '"}'}}]},
    )
    assert done_calls(events) == [("f", '{"x": "\ufffd"}')]


def test_the_same_reasoning_in_both_fields_is_read_once() -> None:
    events = openai_events(
        {"reasoning_content": "Hm.", "reasoning": "Hm."}, {"content": "Hi"}, finish_reason="stop"
    )
    assert [e.text for e in events if isinstance(e, ReasoningDelta)] == ["Hm."]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hi"]


def test_a_stream_without_a_finish_reason_still_finishes() -> None:
    parser = ChunkParser()
    parser.feed(json.dumps({"choices": [{"index": 0, "delta": {"content": "Hi"}}]}))
    assert parser.finish() == [Finish("stop")]


def test_anthropic_input_given_whole_at_the_block_start_is_the_arguments() -> None:
    parser = EventParser()
    block = {"type": "tool_use", "id": "t", "name": "f", "input": {"x": 1}}
    events = parser.feed("content_block_start", {"index": 0, "content_block": block})
    events += parser.feed("content_block_stop", {"index": 0})
    assert done_calls(events) == [("f", '{"x": 1}')]


# -- history -------------------------------------------------------------------------------


def test_history_pairs_every_call_with_one_result() -> None:
    call = ToolCall("c1", "f", "{}")
    messages = (
        ChatMessage("tool", "orphan", tool_call_id="gone"),
        ChatMessage("user", "q"),
        ChatMessage("assistant", "", tool_calls=(call, ToolCall("c2", "g", "{}"))),
        ChatMessage("tool", "one", tool_call_id="c1"),
        ChatMessage("tool", "again", tool_call_id="c1"),
        ChatMessage("user", "next"),
    )
    assert paired_tool_results(messages) == [
        ChatMessage("user", "q"),
        messages[2],
        ChatMessage("tool", "one", tool_call_id="c1"),
        ChatMessage("tool", MISSING_RESULT, tool_call_id="c2", is_error=True),
        ChatMessage("user", "next"),
    ]


def test_a_field_of_the_wrong_type_is_an_upstream_error_not_a_crash() -> None:
    with pytest.raises(ProviderError) as openai:
        ChunkParser().feed(json.dumps({"choices": 5}))
    with pytest.raises(ProviderError) as anthropic:
        EventParser().feed("content_block_delta", {"index": 0, "delta": "text"})
    assert openai.value.code == anthropic.value.code == ErrorCode.UPSTREAM_ERROR
