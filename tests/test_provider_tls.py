"""Providers over real HTTPS: production talks to providers with TLS, so must the tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from chat.providers import stream_function
from chat.providers import transport as transport_module
from chat.providers.base import ChatMessage, ProviderError, ProviderRequest, TextDelta
from chat.providers.http import close_http_client
from tests.fake_upstream import FakeUpstream, Scenario
from tests.tls_proxy import TlsProxy

TOKENS = ["Sécurité", " 🔒", " 安全", " ok"]


@pytest.fixture(scope="module")
def tls_proxy(upstream: FakeUpstream) -> Iterator[TlsProxy]:
    port = int(upstream.base_url.rsplit(":", 1)[1])
    with TlsProxy(port) as proxy:
        yield proxy


@pytest.fixture
async def trusting_client(
    tls_proxy: TlsProxy, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[None]:
    # The provider client trusts the proxy's certificate, exactly as it trusts a real CA.
    monkeypatch.setattr(transport_module.httpx, "create_ssl_context", tls_proxy.client_context)
    await close_http_client()
    yield
    await close_http_client()


def https_url(tls_proxy: TlsProxy, upstream: FakeUpstream, scenario_id: str) -> str:
    return upstream.url(scenario_id).replace(
        upstream.base_url, f"https://127.0.0.1:{tls_proxy.port}"
    )


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_answer_streams_over_https_exactly(
    trusting_client: None, tls_proxy: TlsProxy, upstream: FakeUpstream, provider: str
) -> None:
    scenario_id = upstream.add(Scenario(tokens=TOKENS, chunking="hostile"))
    request = ProviderRequest(
        model="m",
        messages=(ChatMessage("user", "hi"),),
        base_url=https_url(tls_proxy, upstream, scenario_id),
    )
    for _ in range(2):  # twice: the second request reuses the pooled TLS connection
        text = "".join(
            [e.text async for e in stream_function(provider)(request) if isinstance(e, TextDelta)]
        )
        assert text == "".join(TOKENS)
    first, second = upstream.requests(scenario_id)
    assert first.connection_id == second.connection_id


async def test_stopping_an_https_stream_closes_the_upstream_connection(
    trusting_client: None, tls_proxy: TlsProxy, upstream: FakeUpstream
) -> None:
    scenario_id = upstream.add(Scenario(tokens=TOKENS, hang_after=1))
    request = ProviderRequest(
        model="m",
        messages=(ChatMessage("user", "hi"),),
        base_url=https_url(tls_proxy, upstream, scenario_id),
    )

    async def consume() -> None:
        async for _event in stream_function("openai")(request):
            pass

    task = asyncio.create_task(consume())
    await asyncio.to_thread(upstream.wait_for_requests, scenario_id, 1)
    stopped_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    closed = await upstream.await_closed(scenario_id, timeout=1.0)
    assert closed.client_closed_early and closed.closed_at - stopped_at < 1.0


async def test_an_untrusted_certificate_is_refused(
    tls_proxy: TlsProxy, upstream: FakeUpstream
) -> None:
    await close_http_client()
    scenario_id = upstream.add(Scenario())
    request = ProviderRequest(
        model="m",
        messages=(ChatMessage("user", "hi"),),
        base_url=https_url(tls_proxy, upstream, scenario_id),
    )
    with pytest.raises(ProviderError) as raised:
        async for _event in stream_function("openai")(request):
            pass
    assert "certificate" in raised.value.message.lower()
    assert upstream.requests(scenario_id) == []
    await close_http_client()
