"""The providers' server-sent-events parser (chat/providers/sse.py), however bytes arrive."""

from __future__ import annotations

import gzip

import httpx
import pytest

from chat.providers.sse import SseEvent, SseParser, sse_events

STREAM = (
    ": a comment\n"
    "event: content_block_delta\n"
    'data: {"text": "héllo 👋🏽 世界"}\n'
    "\n"
    "data: first line\n"
    "data:second line, no space\n"
    "id: 7\n"
    "retry: 100\n"
    "\n"
    "data: [DONE]\n"
    "\n"
).encode()
EXPECTED = [
    SseEvent("content_block_delta", '{"text": "héllo 👋🏽 世界"}'),
    SseEvent("message", "first line\nsecond line, no space"),
    SseEvent("message", "[DONE]"),
]


def parse(chunks: list[bytes]) -> list[SseEvent]:
    parser = SseParser()
    return [event for chunk in chunks for event in parser.feed(chunk)] + parser.finish()


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_events_are_the_same_however_the_bytes_are_cut(line_end: str) -> None:
    stream = STREAM.replace(b"\n", line_end.encode())
    assert parse([stream]) == EXPECTED
    # Every single cut point, including inside CRLF and inside multi-byte characters.
    for cut in range(1, len(stream)):
        assert parse([stream[:cut], stream[cut:]]) == EXPECTED, cut
    assert parse([stream[i : i + 1] for i in range(len(stream))]) == EXPECTED


def test_an_event_without_its_blank_line_is_not_dispatched() -> None:
    assert parse([b"data: one\n\ndata: unfinished\n"]) == [SseEvent("message", "one")]


def test_an_empty_data_line_still_makes_an_event_and_bare_events_do_not() -> None:
    assert parse([b"event: ping\n\ndata:\n\n"]) == [SseEvent("message", "")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert parse([b"data: \xff ok\n\n"]) == [SseEvent("message", "\ufffd ok")]


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
async def test_sse_events_reads_plain_and_compressed_responses(compressed: bool) -> None:
    body = gzip.compress(STREAM) if compressed else STREAM
    headers = {"content-type": "text/event-stream"}
    if compressed:
        headers["content-encoding"] = "gzip"
    response = httpx.Response(200, headers=headers, stream=httpx.ByteStream(body))
    assert [event async for event in sse_events(response)] == EXPECTED
