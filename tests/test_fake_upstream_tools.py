"""The fake upstream's tool calls, reasoning and request checks, read with plain httpx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fake_upstream import FakeUpstream, Round, Scenario, ToolCallSpec, thinking_signature
from tests.fake_upstream.presets import PRESETS
from tests.test_fake_upstream import (
    ANTHROPIC_HEADERS,
    SseParser,
    anthropic_request,
    openai_request,
    stream_raw,
)

CALL = ToolCallSpec("lookup", '{"a": 1}', id="call_x")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as http:
        yield http


async def events_of(
    client: httpx.AsyncClient, url: str, body: dict[str, Any]
) -> list[tuple[str, Any]]:
    headers = ANTHROPIC_HEADERS if url.endswith("/v1/messages") else None
    response, reads = await stream_raw(client, url, body, headers)
    assert response.status_code == 200, b"".join(reads)
    parser = SseParser()
    parser.feed(b"".join(reads))
    return [(name, data if data == "[DONE]" else json.loads(data)) for name, data in parser.events]


async def test_openai_tool_call_chunks_have_openais_shape(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    scenario = Scenario(rounds=[Round(tokens=["Hi"], tool_calls=[CALL])])
    url = f"{upstream.url(upstream.add(scenario))}/chat/completions"
    events = await events_of(client, url, openai_request())
    deltas = [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for _, c in events[:-1]]
    first = {
        "index": 0,
        "id": "call_x",
        "type": "function",
        "function": {"name": "lookup", "arguments": ""},
    }
    assert deltas == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "Hi"}, None),
        ({"content": None, "tool_calls": [first]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}, None),
        ({}, "tool_calls"),
    ]
    assert events[-1] == ("message", "[DONE]")


async def test_anthropic_thinking_text_and_tool_use_blocks_have_anthropics_shape(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    scenario = Scenario(rounds=[Round(reasoning=["Hm"], tokens=["Hi"], tool_calls=[CALL])])
    url = f"{upstream.url(upstream.add(scenario))}/v1/messages"
    events = await events_of(client, url, anthropic_request())

    def summary(name: str, data: dict[str, Any]) -> tuple[Any, ...]:
        if name == "content_block_start":
            return (name, data["index"], data["content_block"])
        if name == "content_block_delta":
            return (name, data["index"], data["delta"])
        if name == "message_delta":
            return (name, data["delta"]["stop_reason"])
        return (name,)

    tool_use = {"type": "tool_use", "id": "call_x", "name": "lookup", "input": {}}
    assert [summary(name, data) for name, data in events] == [
        ("message_start",),
        ("content_block_start", 0, {"type": "thinking", "thinking": "", "signature": ""}),
        ("ping",),
        ("content_block_delta", 0, {"type": "thinking_delta", "thinking": "Hm"}),
        (
            "content_block_delta",
            0,
            {"type": "signature_delta", "signature": thinking_signature("Hm")},
        ),
        ("content_block_stop",),
        ("content_block_start", 1, {"type": "text", "text": ""}),
        ("content_block_delta", 1, {"type": "text_delta", "text": "Hi"}),
        ("content_block_stop",),
        ("content_block_start", 2, tool_use),
        ("content_block_delta", 2, {"type": "input_json_delta", "partial_json": ""}),
        ("content_block_delta", 2, {"type": "input_json_delta", "partial_json": '{"a"'}),
        ("content_block_delta", 2, {"type": "input_json_delta", "partial_json": ": 1}"}),
        ("content_block_stop",),
        ("message_delta", "tool_use"),
        ("message_stop",),
    ]


OPENAI_TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
ANTHROPIC_TOOLS = [{"name": "lookup", "input_schema": {"type": "object"}}]


def openai_history(*after_question: dict[str, Any]) -> dict[str, Any]:
    body = openai_request("q", tools=OPENAI_TOOLS)
    body["messages"].extend(after_question)
    return body


def anthropic_history(*after_question: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = anthropic_request("q", tools=ANTHROPIC_TOOLS, **extra)
    body["messages"].extend(after_question)
    return body


OPENAI_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    ],
}
OPENAI_RESULT = {"role": "tool", "tool_call_id": "c1", "content": "42"}
ANTHROPIC_CALL = {
    "role": "assistant",
    "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}],
}
ANTHROPIC_RESULT = {
    "role": "user",
    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}],
}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/chat/completions", openai_history(OPENAI_CALL, OPENAI_RESULT)),
        ("/v1/messages", anthropic_history(ANTHROPIC_CALL, ANTHROPIC_RESULT)),
    ],
    ids=["openai", "anthropic"],
)
async def test_the_round_answered_follows_the_tool_rounds_in_the_history(
    upstream: FakeUpstream, client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    scenario = Scenario(rounds=[Round(tool_calls=[CALL]), Round(tokens=["Done"])])
    scenario_id = upstream.add(scenario)
    url = f"{upstream.url(scenario_id)}{path}"
    question_only = {**body, "messages": body["messages"][:1]}
    new_question = {**body, "messages": [*body["messages"], {"role": "user", "content": "again"}]}
    if path == "/v1/messages":  # the question goes in the same turn as the results
        new_question["messages"] = [
            *body["messages"][:-1],
            {
                "role": "user",
                "content": [*ANTHROPIC_RESULT["content"], {"type": "text", "text": "again"}],
            },
        ]

    for request_body in (question_only, body, new_question):
        await events_of(client, url, request_body)

    assert [r.round for r in upstream.requests(scenario_id)] == [0, 1, 0]
    [first, _, _] = upstream.requests(scenario_id)
    assert json.loads(first.raw_body) == first.body == upstream.bodies(scenario_id)[0]


REFUSED = [
    (
        "/chat/completions",
        openai_history(OPENAI_RESULT),
        "messages with role 'tool' must be a response",
    ),
    (
        "/chat/completions",
        openai_history(OPENAI_CALL, {"role": "user", "content": "hi"}),
        "did not have response messages: c1",
    ),
    ("/chat/completions", openai_request(tool_choice="auto"), "only allowed when 'tools'"),
    ("/chat/completions", openai_request(reasoning_effort="max"), "reasoning_effort"),
    ("/v1/messages", anthropic_history(ANTHROPIC_RESULT), "unexpected `tool_use_id`"),
    (
        "/v1/messages",
        anthropic_history(ANTHROPIC_CALL, {"role": "user", "content": "hi"}),
        "`tool_use` ids were found without `tool_result` blocks",
    ),
    (
        "/v1/messages",
        {**anthropic_history(ANTHROPIC_CALL, ANTHROPIC_RESULT), "tools": []},
        "must define tools",
    ),
    (
        "/v1/messages",
        anthropic_history(
            ANTHROPIC_CALL,
            ANTHROPIC_RESULT,
            thinking={"type": "enabled", "budget_tokens": 1024},
            max_tokens=2048,
        ),
        "must start with a thinking block",
    ),
    (
        "/v1/messages",
        anthropic_history(
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "x", "signature": thinking_signature("y")},
                    *ANTHROPIC_CALL["content"],
                ],
            },
            ANTHROPIC_RESULT,
        ),
        "Invalid `signature`",
    ),
    (
        "/v1/messages",
        anthropic_request(thinking={"type": "enabled", "budget_tokens": 1024}),
        "`max_tokens` must be greater",
    ),
    (
        "/v1/messages",
        anthropic_request(
            max_tokens=4096, temperature=0.5, thinking={"type": "enabled", "budget_tokens": 1024}
        ),
        "`temperature` may only be set to 1",
    ),
    ("/v1/messages", anthropic_request(" "), "non-whitespace text"),
]


@pytest.mark.parametrize(("path", "body", "message"), REFUSED)
async def test_histories_the_real_apis_refuse_get_their_400(
    upstream: FakeUpstream, client: httpx.AsyncClient, path: str, body: dict[str, Any], message: str
) -> None:
    url = f"{upstream.url(upstream.add(Scenario()))}{path}"
    response = await client.post(url, json=body, headers=ANTHROPIC_HEADERS)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


async def test_late_usage_and_reasoning_tokens_are_where_those_servers_put_them(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    scenario_id = upstream.add(Scenario(usage=(30, 4), usage_late=True, reasoning_tokens=3))
    url = upstream.url(scenario_id)
    anthropic = dict(await events_of(client, f"{url}/v1/messages", anthropic_request()))
    openai = await events_of(
        client, f"{url}/chat/completions", openai_request(stream_options={"include_usage": True})
    )
    assert anthropic["message_start"]["message"]["usage"]["input_tokens"] == 0
    assert anthropic["message_delta"]["usage"] == {"input_tokens": 30, "output_tokens": 4}
    assert openai[-2][1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("path", ["/chat/completions", "/v1/messages"])
async def test_every_preset_streams_to_its_end_in_both_formats(
    upstream: FakeUpstream, client: httpx.AsyncClient, preset: str, path: str
) -> None:
    scenario_id = upstream.add(PRESETS[preset]())
    body = anthropic_request() if path == "/v1/messages" else openai_request()
    await events_of(client, f"{upstream.url(scenario_id)}{path}", body)
    assert upstream.wait_closed(scenario_id).completed


@pytest.mark.parametrize("path", ["/chat/completions", "/v1/messages"])
async def test_a_non_streaming_request_gets_the_calls_in_the_message(
    upstream: FakeUpstream, client: httpx.AsyncClient, path: str
) -> None:
    scenario_id = upstream.add(Scenario(rounds=[Round(tokens=["Hi"], tool_calls=[CALL])]))
    body = anthropic_request() if path == "/v1/messages" else openai_request()
    response = await client.post(
        f"{upstream.url(scenario_id)}{path}",
        json={**body, "stream": False},
        headers=ANTHROPIC_HEADERS,
    )
    payload = response.json()
    if path == "/v1/messages":
        assert payload["stop_reason"] == "tool_use"
        assert payload["content"][1] == {
            "type": "tool_use",
            "id": "call_x",
            "name": "lookup",
            "input": {"a": 1},
        }
    else:
        [choice] = payload["choices"]
        assert choice["finish_reason"] == "tool_calls"
        assert choice["message"]["tool_calls"][0]["function"] == {
            "name": "lookup",
            "arguments": '{"a": 1}',
        }
