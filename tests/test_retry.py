"""Retries happen before the first visible part only, bounded, honouring Retry-After."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from django.test import override_settings

from chat.errors import ErrorCode
from chat.providers import stream_function
from chat.providers.base import (
    VISIBLE_EVENTS,
    ChatMessage,
    ProviderError,
    ProviderRequest,
    TextDelta,
)
from chat.providers.http import close_http_client
from chat.providers.retry import stream_with_retries
from tests.fake_upstream import Failure, FakeUpstream, Round, Scenario, ToolCallSpec

pytestmark = pytest.mark.parametrize("provider", ["openai", "anthropic"])


@pytest.fixture(autouse=True)
async def fresh_http_client() -> AsyncIterator[None]:
    yield
    await close_http_client()


async def run(upstream: FakeUpstream, provider: str, scenario_id: str) -> str:
    request = ProviderRequest(
        model="m", messages=(ChatMessage("user", "hi"),), base_url=upstream.url(scenario_id)
    )
    text = ""
    async for event in stream_with_retries(stream_function(provider), request):
        if isinstance(event, TextDelta):
            text += event.text
    return text


async def test_503_then_success_is_retried_and_answered_once(
    upstream: FakeUpstream, provider: str
) -> None:
    scenario_id = upstream.add(Scenario(failures=[Failure(503)]))
    text = await run(upstream, provider, scenario_id)
    assert text == "Hello, world!"
    assert [r.status for r in upstream.requests(scenario_id)] == [503, 200]


async def test_retry_after_is_honoured(upstream: FakeUpstream, provider: str) -> None:
    scenario_id = upstream.add(Scenario(failures=[Failure(429, retry_after="1")]))
    began = time.monotonic()
    text = await run(upstream, provider, scenario_id)
    assert text == "Hello, world!"
    first, second = upstream.requests(scenario_id)
    assert second.opened_at - first.opened_at >= 1.0
    assert time.monotonic() - began >= 1.0


@override_settings(LLM_MAX_RETRIES=2)
async def test_retries_are_bounded(upstream: FakeUpstream, provider: str) -> None:
    scenario_id = upstream.add(Scenario(failures=[Failure(500)] * 5))
    with pytest.raises(ProviderError) as raised:
        await run(upstream, provider, scenario_id)
    assert raised.value.code == ErrorCode.UPSTREAM_ERROR
    # The first try and two retries, then the error goes to the client.
    assert [r.status for r in upstream.requests(scenario_id)] == [500, 500, 500]


async def test_no_retry_after_the_first_token(upstream: FakeUpstream, provider: str) -> None:
    for scenario in (Scenario(cut_after=1), Scenario(error_after=1)):
        scenario_id = upstream.add(scenario)
        request = ProviderRequest(
            model="m", messages=(ChatMessage("user", "hi"),), base_url=upstream.url(scenario_id)
        )
        with pytest.raises(ProviderError):
            async for _event in stream_with_retries(stream_function(provider), request):
                pass
        assert len(upstream.requests(scenario_id)) == 1


async def test_client_errors_are_not_retried(upstream: FakeUpstream, provider: str) -> None:
    scenario_id = upstream.add(Scenario(failures=[Failure(401), Failure(400)]))
    with pytest.raises(ProviderError):
        await run(upstream, provider, scenario_id)
    assert len(upstream.requests(scenario_id)) == 1


@override_settings(LLM_RETRY_MAX_WAIT_SECONDS=5)
async def test_retry_after_longer_than_the_cap_goes_to_the_client(
    upstream: FakeUpstream, provider: str
) -> None:
    scenario_id = upstream.add(Scenario(failures=[Failure(429, retry_after="30")]))
    with pytest.raises(ProviderError) as raised:
        await run(upstream, provider, scenario_id)
    assert (raised.value.code, raised.value.retry_after) == (ErrorCode.RATE_LIMIT, 30.0)
    assert len(upstream.requests(scenario_id)) == 1


async def test_no_retry_once_reasoning_or_a_tool_call_was_shown(
    upstream: FakeUpstream, provider: str
) -> None:
    # Anthropic's mid-stream "overloaded" would be retried before anything was shown.
    shown_first = [
        Round(reasoning=["Let me think."], tokens=["Hi"]),
        Round(tool_calls=[ToolCallSpec("current_time", '{"timezone": "UTC"}')]),
    ]
    for answer in shown_first:
        scenario_id = upstream.add(Scenario(rounds=[answer], error_after=1))
        request = ProviderRequest(
            model="m", messages=(ChatMessage("user", "hi"),), base_url=upstream.url(scenario_id)
        )
        shown = []
        with pytest.raises(ProviderError):
            async for event in stream_with_retries(stream_function(provider), request):
                shown.append(event)
        assert any(isinstance(event, VISIBLE_EVENTS) for event in shown)
        assert len(upstream.requests(scenario_id)) == 1
