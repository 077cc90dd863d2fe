"""Requests per owner per minute, counted in the cache (shared through Redis when set)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

from chat.errors import ChatError, ErrorCode
from chat.owners import Owner

WINDOW_SECONDS = 60


async def enforce_rate_limit(owner: Owner) -> None:
    limit = settings.CHAT_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    key = f"chat:rate:{owner.key}:{window}"
    # add() creates the counter only if missing, so incr() below is atomic across workers.
    await cache.aadd(key, 0, timeout=WINDOW_SECONDS + 5)
    count = await cache.aincr(key)
    if count > limit:
        retry_after = round(WINDOW_SECONDS - (now % WINDOW_SECONDS), 1)
        raise ChatError(
            ErrorCode.RATE_LIMIT,
            f"Too many requests: the limit is {limit} per minute.",
            retry_after=retry_after,
        )
