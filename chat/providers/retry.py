"""Retrying a provider stream before its first visible part, and never after."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator

from django.conf import settings

from chat.providers.base import (
    VISIBLE_EVENTS,
    ProviderError,
    ProviderEvent,
    ProviderRequest,
    StreamFunction,
)

logger = logging.getLogger(__name__)


def backoff_seconds(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter; a Retry-After from the provider wins."""
    if retry_after is not None:
        return retry_after
    base: float = settings.LLM_RETRY_BACKOFF_SECONDS * (2**attempt)
    return base * (0.5 + random.random() / 2)


async def stream_with_retries(
    stream: StreamFunction, request: ProviderRequest
) -> AsyncGenerator[ProviderEvent, None]:
    """Yield the provider's events, retrying connect errors, 429s and 5xx before any part.

    Once text, reasoning or a tool call has been yielded, a retry would send the client a
    second, different answer glued to the first, so a failure then is final.
    """
    attempt = 0
    while True:
        shown = False
        try:
            async for event in stream(request):
                if isinstance(event, VISIBLE_EVENTS):
                    shown = True
                yield event
            return
        except ProviderError as error:
            if shown or not error.retryable or attempt >= settings.LLM_MAX_RETRIES:
                raise
            wait = backoff_seconds(attempt, error.retry_after)
            if wait > settings.LLM_RETRY_MAX_WAIT_SECONDS:
                raise
            logger.info(
                "Retrying %s after %s (attempt %d, waiting %.2fs)",
                request.model,
                error.code,
                attempt + 1,
                wait,
            )
            attempt += 1
            await asyncio.sleep(wait)
