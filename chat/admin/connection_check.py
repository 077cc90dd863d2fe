"""'Test connection': one tiny streamed request to a model's upstream, reported in plain words."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass

from chat.admin.test_connection import on_own_loop
from chat.errors import ChatError, ErrorCode
from chat.models import ModelConfig
from chat.providers import stream_function
from chat.providers.base import ChatMessage, ProviderRequest, ResponseMeta, TextDelta
from chat.providers.http import close_http_client

logger = logging.getLogger(__name__)

PROMPT = "Reply with a one-line greeting."
MAX_TOKENS = 24
FIRST_WORDS = 12
TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    model: str
    ok: bool
    ttft_ms: int | None = None
    first_words: str = ""
    error_code: str = ""
    error: str = ""
    request_id: str = ""

    @property
    def summary(self) -> str:
        if not self.ok:
            return f"{self.model}: the connection test failed. {self.error} ({self.error_code})"
        if not self.first_words:
            return f"{self.model}: connected, but the model answered with no text."
        request = f" Upstream request id: {self.request_id}." if self.request_id else ""
        return (
            f"{self.model}: connected. First token after {self.ttft_ms} ms; "
            f"the answer began “{self.first_words}”.{request}"
        )


def probe_request(config: ModelConfig) -> ProviderRequest:
    return ProviderRequest(
        model=config.upstream_model or config.name,
        messages=(ChatMessage("user", PROMPT),),
        max_tokens=MAX_TOKENS,
        temperature=config.temperature,
        base_url=config.base_url,
        api_key=config.api_key(),
        api_key_env=config.api_key_env,
    )


async def probe(model: str, provider: str, request: ProviderRequest) -> ConnectionReport:
    """Stream until the first few words arrive (or the answer ends), then hang up."""
    started = time.monotonic()
    ttft_ms: int | None = None
    text = ""
    request_id = ""
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            # aclosing: leaving early closes the provider's stream, and so its connection.
            async with aclosing(stream_function(provider)(request)) as events:
                async for event in events:
                    if isinstance(event, ResponseMeta):
                        request_id = event.request_id
                    elif isinstance(event, TextDelta):
                        if ttft_ms is None:
                            ttft_ms = round((time.monotonic() - started) * 1000)
                        text += event.text
                        if len(text.split()) >= FIRST_WORDS:
                            break
    except ChatError as error:
        return ConnectionReport(model, ok=False, error_code=error.code.value, error=error.message)
    except TimeoutError:
        return ConnectionReport(
            model,
            ok=False,
            error_code=ErrorCode.UPSTREAM_TIMEOUT.value,
            error=f"No complete answer within {TIMEOUT_SECONDS:g} seconds.",
            ttft_ms=ttft_ms,
        )
    except Exception as error:  # a test tool reports every failure rather than crashing
        logger.exception("Connection test of %s failed unexpectedly", model)
        return ConnectionReport(
            model,
            ok=False,
            error_code=ErrorCode.INTERNAL.value,
            error=f"Unexpected {type(error).__name__}: {error}",
        )
    words = " ".join(text.split()[:FIRST_WORDS])
    return ConnectionReport(
        model, ok=True, ttft_ms=ttft_ms, first_words=words, request_id=request_id
    )


async def probe_all(configs: Sequence[ModelConfig]) -> list[ConnectionReport]:
    requests = [(c.display_name, c.provider, probe_request(c)) for c in configs]
    try:
        return await asyncio.gather(*(probe(*request) for request in requests))
    finally:
        await close_http_client()


def check_connections(configs: Sequence[ModelConfig]) -> list[ConnectionReport]:
    """Test several models at once, from a sync admin view (closing the HTTP client after)."""
    return on_own_loop(probe_all(list(configs)))
