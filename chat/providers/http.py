"""HTTP plumbing shared by the network providers: one pooled client, status and error mapping."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from django.conf import settings

from chat.errors import ErrorCode
from chat.providers.base import ProviderError
from chat.providers.sse import SseEvent, sse_events
from chat.providers.transport import AsyncioTransport

# One client per event loop: an httpx pool belongs to the loop that opened its sockets
# (tests run several loops; a server runs one).
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def http_client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        limits = httpx.Limits(
            max_connections=settings.LLM_MAX_CONNECTIONS, max_keepalive_connections=100
        )
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=settings.LLM_CONNECT_TIMEOUT_SECONDS,
                read=settings.LLM_READ_TIMEOUT_SECONDS,
                write=settings.LLM_CONNECT_TIMEOUT_SECONDS,
                pool=settings.LLM_CONNECT_TIMEOUT_SECONDS,
            ),
            limits=limits,
            # Our own HTTP/1.1 connections (httptools): a fraction of httpcore's cost per chunk.
            transport=AsyncioTransport(limits=limits),
            # Upstream URLs are configured by staff; never follow redirects to elsewhere.
            follow_redirects=False,
        )
        _clients[loop] = client
    return client


async def close_http_client() -> None:
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait, from retry-after-ms (OpenAI) or Retry-After (seconds or a date)."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - time.time())


def error_for_status(status: int, detail: str, retry_after: float | None) -> ProviderError:
    if status == 429:
        return ProviderError(
            ErrorCode.RATE_LIMIT,
            f"The model provider is rate limiting requests: {detail}",
            retryable=True,
            retry_after=retry_after,
            status=status,
        )
    if status in (401, 403):
        return ProviderError(
            ErrorCode.AUTH, f"The model provider refused the API key: {detail}", status=status
        )
    if status in (408, 504):
        return ProviderError(
            ErrorCode.UPSTREAM_TIMEOUT,
            f"The model provider timed out: {detail}",
            retryable=True,
            status=status,
        )
    return ProviderError(
        ErrorCode.UPSTREAM_ERROR,
        f"The model provider answered {status}: {detail}",
        retryable=status >= 500,
        retry_after=retry_after,
        status=status,
    )


ErrorDetail = Callable[[Any], str | None]


def describe_error_body(body: bytes, detail_from_json: ErrorDetail) -> str:
    try:
        detail = detail_from_json(json.loads(body))
    except (ValueError, TypeError, AttributeError, KeyError):
        detail = None
    if detail:
        return detail
    text = body.decode("utf-8", "replace").strip()
    return text[:300] or "no details given"


@asynccontextmanager
async def open_event_stream(
    url: str, *, json_body: dict[str, Any], headers: dict[str, str], detail_from_json: ErrorDetail
) -> AsyncIterator[tuple[httpx.Response, AsyncIterator[SseEvent]]]:
    """POST and yield the response with its server-sent events; map every failure to a code.

    Leaving the block (normally, by error or by cancellation) closes the response, which
    closes the upstream connection when the body was not read to the end: that is how a
    stop reaches the provider.
    """
    try:
        async with http_client().stream(
            "POST", url, json=json_body, headers={"Accept": "text/event-stream", **headers}
        ) as response:
            if response.status_code >= 400:
                body = await response.aread()
                raise error_for_status(
                    response.status_code,
                    describe_error_body(body, detail_from_json),
                    parse_retry_after(response.headers),
                )
            content_type = response.headers.get("content-type", "")
            if "text/event-stream" not in content_type:
                body = await response.aread()
                raise ProviderError(
                    ErrorCode.UPSTREAM_ERROR,
                    "The model provider did not answer with an event stream: "
                    + describe_error_body(body, detail_from_json),
                    status=response.status_code,
                )
            yield response, sse_events(response)
    except httpx.ConnectError as error:
        raise ProviderError(
            ErrorCode.UPSTREAM_ERROR,
            f"Could not connect to the model provider: {error}",
            retryable=True,
        ) from error
    except httpx.ConnectTimeout as error:
        raise ProviderError(
            ErrorCode.UPSTREAM_TIMEOUT,
            "Timed out connecting to the model provider.",
            retryable=True,
        ) from error
    except httpx.TimeoutException as error:
        raise ProviderError(
            ErrorCode.UPSTREAM_TIMEOUT, "The model provider stopped sending data."
        ) from error
    except (httpx.RemoteProtocolError, httpx.ReadError) as error:
        raise ProviderError(
            ErrorCode.UPSTREAM_CLOSED,
            "The model provider closed the connection before the answer was complete.",
        ) from error
    except httpx.HTTPError as error:
        raise ProviderError(
            ErrorCode.UPSTREAM_ERROR, f"Request to the model provider failed: {error}"
        ) from error


async def drain_after_end(events: AsyncIterator[SseEvent]) -> None:
    """Read the body's last bytes after the end marker so the connection goes back to the pool.

    Returning at the marker would close a connection whose body was not read to the end,
    and the next request would pay a new TCP and TLS handshake in its time to first token.
    A server that keeps the body open after its end marker gets a second, then is dropped.
    """
    try:
        async with asyncio.timeout(1.0):
            async for _ in events:
                pass
    except (TimeoutError, httpx.HTTPError):
        pass


def closed_early() -> ProviderError:
    return ProviderError(
        ErrorCode.UPSTREAM_CLOSED,
        "The model provider ended the stream before the answer was complete.",
    )
