"""Provider adapters against a real HTTP server speaking the providers' wire formats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from django.test import override_settings

from chat.errors import ErrorCode
from chat.providers import stream_function
from chat.providers.base import (
    ChatMessage,
    Finish,
    ProviderError,
    ProviderEvent,
    ProviderRequest,
    ResponseMeta,
    TextDelta,
    Usage,
)
from chat.providers.http import close_http_client
from tests.fake_upstream import Failure, FakeUpstream, Scenario
from tests.provider_helpers import PROVIDERS, collect, provider_request, text_of

# Multi-byte characters of every width: 2 (é), 3 (世界, ✓), 4 (👋) and a ZWJ-free modifier.
TOKENS = ["héllo", " 👋🏽", " 世界", "!", " ✓ done"]


@pytest.fixture(autouse=True)
async def fresh_http_client() -> AsyncIterator[None]:
    yield
    await close_http_client()


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "network",
    [
        {"chunking": "event"},
        {"chunking": "coalesced"},
        {"chunking": "hostile"},
        {"chunking": "hostile", "crlf": True},
        {"crlf": True, "no_space_after_colon": True, "comments": True},
        {"empty_deltas": True, "comments": True, "chunking": "coalesced"},
    ],
    ids=["event", "coalesced", "hostile", "hostile-crlf", "crlf-nospace-comments", "empty"],
)
async def test_stream_yields_exact_text_whatever_the_network_does(
    upstream: FakeUpstream, provider: str, network: dict[str, Any]
) -> None:
    request = provider_request(upstream, Scenario(tokens=TOKENS, usage=(11, 5), **network))
    events = await collect(provider, request)
    assert text_of(events) == "".join(TOKENS)
    assert [e.text for e in events if isinstance(e, TextDelta)] == TOKENS
    assert Finish("stop") in events
    usage = [e for e in events if isinstance(e, Usage)]
    assert any(u.input_tokens == 11 for u in usage)
    assert any(u.output_tokens == 5 for u in usage)


async def test_openai_usage_chunk_with_empty_choices_gives_token_counts(
    upstream: FakeUpstream,
) -> None:
    events = await collect("openai", provider_request(upstream, Scenario(usage=(3, 4))))
    assert Usage(3, 4) in events


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_request_id_comes_from_the_response(upstream: FakeUpstream, provider: str) -> None:
    events = await collect(provider, provider_request(upstream, Scenario(request_id="req_42")))
    assert ResponseMeta("req_42") in events


@pytest.mark.parametrize(
    ("provider", "upstream_reason", "reason"),
    [
        ("openai", "length", "length"),
        ("anthropic", "max_tokens", "length"),
        ("anthropic", "end_turn", "stop"),
    ],
)
async def test_finish_reason_is_normalised(
    upstream: FakeUpstream, provider: str, upstream_reason: str, reason: str
) -> None:
    events = await collect(
        provider, provider_request(upstream, Scenario(finish_reason=upstream_reason))
    )
    assert Finish(reason) in events


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_connection_cut_before_end_marker_is_upstream_closed(
    upstream: FakeUpstream, provider: str
) -> None:
    request = provider_request(upstream, Scenario(tokens=TOKENS, cut_after=2))
    seen: list[ProviderEvent] = []
    with pytest.raises(ProviderError) as raised:
        async for event in stream_function(provider)(request):
            seen.append(event)
    assert raised.value.code == ErrorCode.UPSTREAM_CLOSED
    assert text_of(seen) == "".join(TOKENS[:2])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_error_event_mid_stream_raises_upstream_error(
    upstream: FakeUpstream, provider: str
) -> None:
    with pytest.raises(ProviderError) as raised:
        await collect(provider, provider_request(upstream, Scenario(error_after=1)))
    assert raised.value.code == ErrorCode.UPSTREAM_ERROR


@pytest.mark.parametrize("provider", PROVIDERS)
@override_settings(LLM_READ_TIMEOUT_SECONDS=0.3)
async def test_silent_upstream_times_out(upstream: FakeUpstream, provider: str) -> None:
    with pytest.raises(ProviderError) as raised:
        await collect(provider, provider_request(upstream, Scenario(hang_after=1)))
    assert raised.value.code == ErrorCode.UPSTREAM_TIMEOUT


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("failure", "code", "retryable", "retry_after"),
    [
        (Failure(401), ErrorCode.AUTH, False, None),
        (Failure(400, message="bad model"), ErrorCode.UPSTREAM_ERROR, False, None),
        (Failure(429, retry_after="7"), ErrorCode.RATE_LIMIT, True, 7.0),
        (Failure(429, retry_after_ms="250", retry_after="1"), ErrorCode.RATE_LIMIT, True, 0.25),
        (Failure(500), ErrorCode.UPSTREAM_ERROR, True, None),
        (Failure(503, retry_after="2"), ErrorCode.UPSTREAM_ERROR, True, 2.0),
    ],
)
async def test_error_status_maps_to_code(
    upstream: FakeUpstream,
    provider: str,
    failure: Failure,
    code: ErrorCode,
    retryable: bool,
    retry_after: float | None,
) -> None:
    with pytest.raises(ProviderError) as raised:
        await collect(provider, provider_request(upstream, Scenario(failures=[failure])))
    error = raised.value
    assert (error.code, error.retryable, error.retry_after, error.status) == (
        code,
        retryable,
        retry_after,
        failure.status,
    )
    if failure.message:
        assert failure.message in error.message


async def test_openai_request_carries_stream_options_system_and_key(
    upstream: FakeUpstream,
) -> None:
    scenario_id = upstream.add(Scenario(require_api_key="sk-test"))
    request = ProviderRequest(
        model="gpt-test",
        messages=(
            ChatMessage("user", "one"),
            ChatMessage("assistant", "two"),
            ChatMessage("user", "three"),
        ),
        system="Be brief.",
        max_tokens=64,
        temperature=0.3,
        base_url=upstream.url(scenario_id),
        api_key="sk-test",
    )
    await collect("openai", request)
    [recorded] = upstream.requests(scenario_id)
    assert recorded.path.endswith("/chat/completions")
    assert recorded.headers["authorization"] == "Bearer sk-test"
    body = recorded.body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("gpt-test", 64, 0.3)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ]


async def test_anthropic_request_has_version_key_system_and_alternating_turns(
    upstream: FakeUpstream,
) -> None:
    scenario_id = upstream.add(Scenario(require_api_key="sk-ant"))
    request = ProviderRequest(
        model="claude-test",
        # A history cut mid-way starts with an answer; a failed answer left two user turns.
        messages=(
            ChatMessage("assistant", "orphan"),
            ChatMessage("user", "a"),
            ChatMessage("user", "b"),
        ),
        system="Be brief.",
        max_tokens=64,
        base_url=upstream.url(scenario_id),
        api_key="sk-ant",
    )
    await collect("anthropic", request)
    [recorded] = upstream.requests(scenario_id)
    assert recorded.path.endswith("/v1/messages")
    assert recorded.headers["x-api-key"] == "sk-ant"
    assert recorded.headers["anthropic-version"] == "2023-06-01"
    assert recorded.body["system"] == "Be brief."
    assert recorded.body["stream"] is True
    assert recorded.body["messages"] == [{"role": "user", "content": "a\n\nb"}]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_unset_key_variable_fails_before_any_request(
    upstream: FakeUpstream, provider: str
) -> None:
    scenario_id = upstream.add(Scenario())
    request = ProviderRequest(
        model="m",
        messages=(ChatMessage("user", "hi"),),
        base_url=upstream.url(scenario_id),
        api_key="",
        api_key_env="CHAT_TEST_UNSET_KEY",
    )
    with pytest.raises(ProviderError) as raised:
        await collect(provider, request)
    assert raised.value.code == ErrorCode.AUTH
    assert "CHAT_TEST_UNSET_KEY" in raised.value.message
    assert upstream.requests(scenario_id) == []


async def test_refused_connection_is_a_retryable_upstream_error() -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = ProviderRequest(
        model="m", messages=(ChatMessage("user", "hi"),), base_url=f"http://127.0.0.1:{port}"
    )
    with pytest.raises(ProviderError) as raised:
        await collect("openai", request)
    assert (raised.value.code, raised.value.retryable) == (ErrorCode.UPSTREAM_ERROR, True)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_finished_stream_returns_its_connection_to_the_pool(
    upstream: FakeUpstream, provider: str
) -> None:
    scenario_id = upstream.add(Scenario())
    request = ProviderRequest(
        model="m", messages=(ChatMessage("user", "hi"),), base_url=upstream.url(scenario_id)
    )
    await collect(provider, request)
    await collect(provider, request)
    first, second = upstream.requests(scenario_id)
    assert first.connection_id == second.connection_id


async def test_demo_streams_markdown_echoing_the_question_within_max_tokens() -> None:
    request = ProviderRequest(model="demo", messages=(ChatMessage("user", "What is 世界?"),))
    events = await collect("demo", request)
    text = text_of(events)
    assert "What is 世界?" in text
    for feature in ("1. ", "```python", "| Feature |"):
        assert feature in text
    assert Finish("stop") in events

    short = await collect(
        "demo", ProviderRequest(model="demo", messages=request.messages, max_tokens=5)
    )
    assert len([e for e in short if isinstance(e, TextDelta)]) == 5
    assert Finish("length") in short
