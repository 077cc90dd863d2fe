"""Tests of the fake LLM upstream itself, driven by plain httpx over real sockets.

The other suites trust this fake to behave like the real OpenAI and Anthropic streaming
APIs (and to misbehave exactly as asked), so these tests pin its wire format byte for
byte and its connection handling with real TCP connections.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.fake_upstream import Failure, FakeUpstream, Scenario
from tests.fake_upstream.sse import hostile_fragments

REPO_ROOT = Path(__file__).resolve().parents[1]
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}
MULTILINGUAL_TEXT = "héllo 👋🏽 世界"

_LINE_END = re.compile(r"\r\n|\r|\n")


class SseParser:
    """A spec-following incremental SSE parser, so tests read streams like a client would."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._buffer = ""
        self._event_name: str | None = None
        self._data_lines: list[str] = []
        self.events: list[tuple[str, str]] = []
        self.comments = 0

    def feed(self, chunk: bytes) -> None:
        self._buffer += self._decoder.decode(chunk)
        while match := _LINE_END.search(self._buffer):
            if match.group() == "\r" and match.end() == len(self._buffer):
                break  # may be the first half of a "\r\n" split across reads
            line, self._buffer = self._buffer[: match.start()], self._buffer[match.end() :]
            self._take_line(line)

    def _take_line(self, line: str) -> None:
        if not line:
            if self._data_lines:
                self.events.append((self._event_name or "message", "\n".join(self._data_lines)))
            self._event_name, self._data_lines = None, []
            return
        if line.startswith(":"):
            self.comments += 1
            return
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event_name = value
        elif field == "data":
            self._data_lines.append(value)


def openai_text(events: list[tuple[str, str]]) -> str:
    pieces = []
    for _, data in events:
        if data == "[DONE]":
            continue
        for choice in json.loads(data).get("choices", []):
            pieces.append(choice["delta"].get("content") or "")
    return "".join(pieces)


def anthropic_text(events: list[tuple[str, str]]) -> str:
    return "".join(
        json.loads(data)["delta"]["text"] for name, data in events if name == "content_block_delta"
    )


def openai_request(text: str = "hi there", **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": text}],
        "stream": True,
        **extra,
    }


def anthropic_request(text: str = "hi there", **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-test",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
        "stream": True,
        **extra,
    }


async def stream_raw(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[httpx.Response, list[bytes]]:
    """POST and collect the body exactly as the network delivered it, read by read."""
    async with client.stream("POST", url, json=body, headers=headers) as response:
        reads = [piece async for piece in response.aiter_raw()]
    return response, reads


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as http:
        yield http


# -- wire format ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_openai_stream_sends_exact_chunk_bytes_in_order(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    scenario_id = upstream.add(Scenario(tokens=["Hi", " ü"], request_id="req_fixed"))

    response, reads = await stream_raw(
        client, f"{upstream.url(scenario_id)}/chat/completions", openai_request()
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.headers["x-request-id"] == "req_fixed"
    body = b"".join(reads).decode()
    first = json.loads(body.split("\n", 1)[0].removeprefix("data: "))
    assert re.fullmatch(r"chatcmpl-[A-Za-z0-9]+", first["id"])
    head = (
        f'{{"id":"{first["id"]}","object":"chat.completion.chunk","created":{first["created"]},'
        f'"model":"gpt-test","system_fingerprint":"fp_fake","choices":'
    )

    def chunk(delta: str, finish: str = "null") -> str:
        choice = f'[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}]'
        return f"data: {head}{choice}}}\n\n"

    assert body == (
        chunk('{"role":"assistant","content":""}')
        + chunk('{"content":"Hi"}')
        + chunk('{"content":" ü"}')
        + chunk("{}", '"stop"')
        + "data: [DONE]\n\n"
    )


@pytest.mark.asyncio
async def test_openai_include_usage_nulls_usage_then_sends_a_final_usage_chunk(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    scenario_id = upstream.add(Scenario(tokens=["a", "b", "c"]))
    body = openai_request("three words here", stream_options={"include_usage": True})

    _, reads = await stream_raw(client, f"{upstream.url(scenario_id)}/v1/chat/completions", body)

    parser = SseParser()
    parser.feed(b"".join(reads))
    *chunks, done = [data for _, data in parser.events]
    assert done == "[DONE]"
    parsed = [json.loads(data) for data in chunks]
    assert all(chunk["usage"] is None for chunk in parsed[:-1])
    assert parsed[-2]["choices"][0]["finish_reason"] == "stop"
    assert parsed[-1]["choices"] == []
    assert parsed[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}


@pytest.mark.asyncio
async def test_anthropic_stream_sends_exact_events_in_order(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    scenario_id = upstream.add(Scenario(tokens=["Hi", "!"], usage=(7, 2)))

    response, reads = await stream_raw(
        client,
        f"{upstream.url(scenario_id)}/v1/messages",
        anthropic_request(),
        ANTHROPIC_HEADERS,
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert re.fullmatch(r"req_[A-Za-z0-9]+", response.headers["request-id"])
    body = b"".join(reads).decode()
    message_id = re.search(r'"id":"(msg_[A-Za-z0-9]+)"', body)
    assert message_id is not None
    assert body == (
        "event: message_start\n"
        f'data: {{"type":"message_start","message":{{"id":"{message_id.group(1)}",'
        '"type":"message","role":"assistant","content":[],"model":"claude-test",'
        '"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":7,"output_tokens":1}}}\n\n'
        "event: content_block_start\n"
        'data: {"type":"content_block_start","index":0,'
        '"content_block":{"type":"text","text":""}}\n\n'
        "event: ping\n"
        'data: {"type": "ping"}\n\n'
        "event: content_block_delta\n"
        'data: {"type":"content_block_delta","index":0,'
        '"delta":{"type":"text_delta","text":"Hi"}}\n\n'
        "event: content_block_delta\n"
        'data: {"type":"content_block_delta","index":0,'
        '"delta":{"type":"text_delta","text":"!"}}\n\n'
        "event: content_block_stop\n"
        'data: {"type":"content_block_stop","index":0}\n\n'
        "event: message_delta\n"
        'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
        '"usage":{"output_tokens":2}}\n\n'
        "event: message_stop\n"
        'data: {"type":"message_stop"}\n\n'
    )


@pytest.mark.asyncio
async def test_finish_reason_and_echo_follow_the_scenario(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    scenario_id = upstream.add(Scenario(echo=True, finish_reason="length"))
    url = upstream.url(scenario_id)

    _, openai_reads = await stream_raw(client, f"{url}/chat/completions", openai_request("a  b c"))
    _, anthropic_reads = await stream_raw(
        client, f"{url}/v1/messages", anthropic_request("a  b c"), ANTHROPIC_HEADERS
    )

    openai, anthropic = SseParser(), SseParser()
    openai.feed(b"".join(openai_reads))
    anthropic.feed(b"".join(anthropic_reads))
    openai_deltas = [json.loads(d)["choices"][0]["delta"] for _, d in openai.events[1:4]]
    assert [delta["content"] for delta in openai_deltas] == ["a  ", "b ", "c"]
    assert '"finish_reason":"length"' in openai.events[-2][1]
    assert anthropic_text(anthropic.events) == "a  b c"
    assert '"stop_reason":"length"' in dict(anthropic.events)["message_delta"]


@pytest.mark.asyncio
async def test_empty_deltas_add_a_role_only_first_chunk_and_empty_content_chunks(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    scenario_id = upstream.add(Scenario(tokens=["x", "y"], empty_deltas=True))
    url = upstream.url(scenario_id)

    _, openai_reads = await stream_raw(client, f"{url}/chat/completions", openai_request())
    _, anthropic_reads = await stream_raw(
        client, f"{url}/v1/messages", anthropic_request(), ANTHROPIC_HEADERS
    )

    openai, anthropic = SseParser(), SseParser()
    openai.feed(b"".join(openai_reads))
    anthropic.feed(b"".join(anthropic_reads))
    deltas = [json.loads(data)["choices"][0]["delta"] for _, data in openai.events[:-1]]
    assert deltas[0] == {"role": "assistant"}
    assert {"content": ""} in deltas
    assert openai_text(openai.events) == "xy"
    texts = [
        json.loads(d)["delta"]["text"] for n, d in anthropic.events if n == "content_block_delta"
    ]
    assert "" in texts
    assert "".join(texts) == "xy"


def test_hostile_fragments_cut_inside_crlf_and_multibyte_characters() -> None:
    data = f"data: {MULTILINGUAL_TEXT}\r\n\r\n".encode()

    fragments = hostile_fragments(data)

    assert b"".join(fragments) == data
    assert any(fragment.endswith(b"\r") for fragment in fragments)
    undecodable = 0
    for fragment in fragments:
        try:
            fragment.decode()
        except UnicodeDecodeError:
            undecodable += 1
    assert undecodable >= 3  # é, 👋, 🏽, 世, 界 are each cut after their lead byte


@pytest.mark.asyncio
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_hostile_chunking_still_reassembles_emoji_and_cjk(
    upstream: FakeUpstream, client: httpx.AsyncClient, provider: str
) -> None:
    scenario = Scenario(
        echo=True,
        chunking="hostile",
        crlf=True,
        no_space_after_colon=True,
        comments=True,
        empty_deltas=True,
    )
    url = upstream.url(upstream.add(scenario))
    if provider == "openai":
        args = (f"{url}/chat/completions", openai_request(MULTILINGUAL_TEXT))
    else:
        args = (f"{url}/v1/messages", anthropic_request(MULTILINGUAL_TEXT), ANTHROPIC_HEADERS)

    _, reads = await stream_raw(client, *args)

    parser = SseParser()
    for piece in reads:
        parser.feed(piece)
    text = openai_text(parser.events) if provider == "openai" else anthropic_text(parser.events)
    assert text == MULTILINGUAL_TEXT
    assert parser.comments >= len(parser.events)
    assert len(reads) > len(parser.events)  # the client really saw split events
    assert b"\r\n" in b"".join(reads)
    assert b"data:{" in b"".join(reads)


@pytest.mark.asyncio
async def test_coalesced_chunking_delivers_several_events_per_read(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    scenario_id = upstream.add(Scenario(chunking="coalesced"))

    _, reads = await stream_raw(
        client, f"{upstream.url(scenario_id)}/chat/completions", openai_request()
    )

    assert max(piece.count(b"data: ") for piece in reads) >= 2
    parser = SseParser()
    parser.feed(b"".join(reads))
    assert openai_text(parser.events) == "Hello, world!"


# -- failures and validation ----------------------------------------------------------


@pytest.mark.asyncio
async def test_openai_failures_are_consumed_in_order_then_the_stream_succeeds(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    failures = [
        Failure(429, retry_after="1", retry_after_ms="1000", message="slow down"),
        Failure(503),
    ]
    scenario_id = upstream.add(Scenario(failures=failures))
    url = f"{upstream.url(scenario_id)}/chat/completions"

    rate_limited = await client.post(url, json=openai_request())
    overloaded = await client.post(url, json=openai_request())
    succeeded = await client.post(url, json=openai_request())

    assert rate_limited.status_code == 429
    assert rate_limited.headers["retry-after"] == "1"
    assert rate_limited.headers["retry-after-ms"] == "1000"
    assert rate_limited.json() == {
        "error": {
            "message": "slow down",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert overloaded.status_code == 503
    assert "retry-after" not in overloaded.headers
    assert overloaded.json()["error"]["type"] == "server_error"
    assert succeeded.status_code == 200
    assert succeeded.text.endswith("data: [DONE]\n\n")
    assert [r.status for r in upstream.requests(scenario_id)] == [429, 503, 200]


@pytest.mark.asyncio
async def test_anthropic_failures_use_anthropic_error_json(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    failures = [Failure(429, retry_after="2"), Failure(529), Failure(500)]
    scenario_id = upstream.add(Scenario(failures=failures))
    url = f"{upstream.url(scenario_id)}/v1/messages"

    responses = [
        await client.post(url, json=anthropic_request(), headers=ANTHROPIC_HEADERS)
        for _ in range(4)
    ]

    assert [r.status_code for r in responses] == [429, 529, 500, 200]
    assert responses[0].headers["retry-after"] == "2"
    assert [r.json()["error"]["type"] for r in responses[:3]] == [
        "rate_limit_error",
        "overloaded_error",
        "api_error",
    ]
    assert all(r.json()["type"] == "error" for r in responses[:3])
    assert all(r.headers["request-id"] for r in responses)


@pytest.mark.asyncio
async def test_wrong_or_missing_api_key_gets_the_providers_401(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    url = upstream.url(upstream.add(Scenario(require_api_key="sk-right")))

    openai_missing = await client.post(f"{url}/chat/completions", json=openai_request())
    openai_wrong = await client.post(
        f"{url}/chat/completions",
        json=openai_request(),
        headers={"authorization": "Bearer sk-wrong"},
    )
    openai_right = await client.post(
        f"{url}/chat/completions",
        json=openai_request(),
        headers={"authorization": "Bearer sk-right"},
    )
    anthropic_wrong = await client.post(
        f"{url}/v1/messages",
        json=anthropic_request(),
        headers={**ANTHROPIC_HEADERS, "x-api-key": "sk-wrong"},
    )
    anthropic_right = await client.post(
        f"{url}/v1/messages",
        json=anthropic_request(),
        headers={**ANTHROPIC_HEADERS, "x-api-key": "sk-right"},
    )

    assert openai_missing.status_code == 401
    assert openai_missing.json()["error"]["type"] == "invalid_request_error"
    assert openai_wrong.status_code == 401
    assert openai_wrong.json()["error"]["code"] == "invalid_api_key"
    assert openai_right.status_code == 200
    assert anthropic_wrong.status_code == 401
    assert anthropic_wrong.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    assert anthropic_right.status_code == 200


@pytest.mark.asyncio
async def test_invalid_requests_get_the_providers_400(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    url = upstream.url(upstream.add(Scenario()))

    no_model = await client.post(f"{url}/chat/completions", json={"messages": []})
    no_messages = await client.post(f"{url}/chat/completions", json={"model": "m"})
    no_version = await client.post(f"{url}/v1/messages", json=anthropic_request())
    no_max_tokens = await client.post(
        f"{url}/v1/messages",
        json={"model": "m", "messages": []},
        headers=ANTHROPIC_HEADERS,
    )
    not_json = await client.post(f"{url}/chat/completions", content=b"{nope")

    assert no_model.status_code == 400
    assert no_model.json()["error"] == {
        "message": "you must provide a model parameter",
        "type": "invalid_request_error",
        "param": "model",
        "code": None,
    }
    assert no_messages.status_code == 400
    assert no_messages.json()["error"]["param"] == "messages"
    assert no_version.status_code == 400
    assert no_version.json()["error"]["type"] == "invalid_request_error"
    assert "anthropic-version" in no_version.json()["error"]["message"]
    assert no_max_tokens.status_code == 400
    assert no_max_tokens.json()["error"]["message"] == "max_tokens: Field required"
    assert not_json.status_code == 400


@pytest.mark.asyncio
async def test_health_unknown_paths_and_unknown_scenarios(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    health = await client.get(f"{upstream.base_url}/health")
    unknown_path = await client.post(f"{upstream.base_url}/v2/whatever", json={})
    unknown_scenario = await client.post(
        f"{upstream.url('nope')}/v1/messages", json=anthropic_request(), headers=ANTHROPIC_HEADERS
    )

    assert (health.status_code, health.text) == (200, "ok")
    assert unknown_path.status_code == 404
    assert unknown_path.json()["error"]["type"] == "invalid_request_error"
    assert unknown_scenario.status_code == 404
    assert unknown_scenario.json()["error"]["type"] == "not_found_error"


# -- mid-stream faults and connection handling ----------------------------------------


@pytest.mark.asyncio
async def test_cut_after_drops_the_connection_and_httpx_raises_remote_protocol_error(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    scenario_id = upstream.add(Scenario(cut_after=2))
    parser = SseParser()

    with pytest.raises(httpx.RemoteProtocolError):
        async with client.stream(
            "POST", f"{upstream.url(scenario_id)}/chat/completions", json=openai_request()
        ) as response:
            async for piece in response.aiter_raw():
                parser.feed(piece)

    assert openai_text(parser.events) == "Hello,"
    recorded = await upstream.await_closed(scenario_id)
    assert (recorded.tokens_sent, recorded.completed) == (2, False)
    assert not recorded.client_closed_early


@pytest.mark.asyncio
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_error_after_sends_the_providers_error_event_and_ends_the_body_cleanly(
    upstream: FakeUpstream, client: httpx.AsyncClient, provider: str
) -> None:
    url = upstream.url(upstream.add(Scenario(error_after=1)))
    if provider == "openai":
        args = (f"{url}/chat/completions", openai_request())
    else:
        args = (f"{url}/v1/messages", anthropic_request(), ANTHROPIC_HEADERS)

    _, reads = await stream_raw(client, *args)

    parser = SseParser()
    parser.feed(b"".join(reads))
    name, data = parser.events[-1]
    if provider == "openai":
        assert openai_text(parser.events[:-1]) == "Hello"
        assert json.loads(data)["error"]["type"] == "server_error"
        assert all(data != "[DONE]" for _, data in parser.events)
    else:
        assert anthropic_text(parser.events) == "Hello"
        assert name == "error"
        assert json.loads(data) == {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
        }
        assert "message_stop" not in dict(parser.events)


@pytest.mark.asyncio
async def test_client_closing_a_hung_stream_is_seen_within_milliseconds(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    scenario_id = upstream.add(Scenario(hang_after=2))
    parser = SseParser()

    async with client.stream(
        "POST", f"{upstream.url(scenario_id)}/chat/completions", json=openai_request()
    ) as response:
        async for piece in response.aiter_raw():
            parser.feed(piece)
            if openai_text(parser.events) == "Hello,":
                break
        assert upstream.requests(scenario_id)[-1].closed_at is None
        closed_by_client_at = time.monotonic()
        await response.aclose()

    recorded = await upstream.await_closed(scenario_id, timeout=2.0)
    assert recorded.client_closed_early
    assert not recorded.completed
    assert recorded.tokens_sent == 2
    assert recorded.closed_at is not None
    assert recorded.closed_at - closed_by_client_at < 0.2


@pytest.mark.asyncio
async def test_client_leaving_between_tokens_stops_the_stream(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    scenario_id = upstream.add(Scenario(tokens=["a", "b", "c"], token_delay=30.0))

    async with client.stream(
        "POST",
        f"{upstream.url(scenario_id)}/v1/messages",
        json=anthropic_request(),
        headers=ANTHROPIC_HEADERS,
    ) as response:
        parser = SseParser()
        async for piece in response.aiter_raw():
            parser.feed(piece)
            if anthropic_text(parser.events) == "a":
                break
        await response.aclose()

    recorded = await upstream.await_closed(scenario_id, timeout=2.0)
    assert recorded.client_closed_early
    assert recorded.tokens_sent == 1


@pytest.mark.asyncio
async def test_sequential_requests_reuse_one_keep_alive_connection(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    scenario_id = upstream.add(Scenario())
    url = upstream.url(scenario_id)

    await stream_raw(client, f"{url}/chat/completions", openai_request())
    await stream_raw(client, f"{url}/v1/messages", anthropic_request(), ANTHROPIC_HEADERS)
    await client.post(f"{url}/chat/completions", json=openai_request(stream=False))

    await upstream.await_closed(scenario_id)
    recorded = upstream.requests(scenario_id)
    assert [r.status for r in recorded] == [200, 200, 200]
    assert all(r.completed and not r.client_closed_early for r in recorded)
    assert len({r.connection_id for r in recorded}) == 1


@pytest.mark.asyncio
async def test_ttft_and_token_delay_pace_the_tokens(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    scenario_id = upstream.add(Scenario(tokens=["a", "b", "c"], ttft=0.15, token_delay=0.05))
    arrivals: list[float] = []
    parser = SseParser()

    started = time.monotonic()
    async with client.stream(
        "POST", f"{upstream.url(scenario_id)}/chat/completions", json=openai_request()
    ) as response:
        async for piece in response.aiter_raw():
            parser.feed(piece)
            while len(arrivals) < len(openai_text(parser.events)):
                arrivals.append(time.monotonic())

    assert arrivals[0] - started >= 0.15
    assert arrivals[1] - arrivals[0] >= 0.04
    assert arrivals[2] - arrivals[1] >= 0.04


@pytest.mark.asyncio
async def test_recorded_request_keeps_headers_body_and_timing(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    scenario_id = upstream.add(Scenario(), scenario_id="named")

    await stream_raw(
        client,
        f"{upstream.url(scenario_id)}/v1/messages",
        anthropic_request(system="be brief"),
        {**ANTHROPIC_HEADERS, "X-Trace": "t1"},
    )

    [received] = upstream.wait_for_requests("named", 1)
    recorded = upstream.wait_closed("named")
    assert received.opened_at == recorded.opened_at
    assert recorded.provider == "anthropic"
    assert recorded.path == "/s/named/v1/messages"
    assert recorded.headers["x-trace"] == "t1"
    assert recorded.body["system"] == "be brief"
    assert recorded.tokens_sent == 4
    assert recorded.closed_at is not None and recorded.closed_at >= recorded.opened_at


@pytest.mark.asyncio
async def test_unprefixed_routes_use_the_default_echo_scenario(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    _, reads = await stream_raw(
        client, f"{upstream.base_url}/v1/chat/completions", openai_request("echo me")
    )

    parser = SseParser()
    parser.feed(b"".join(reads))
    assert openai_text(parser.events) == "echo me"
    assert upstream.wait_closed("default").tokens_sent == 2


# -- lifecycle ------------------------------------------------------------------------


def test_wait_for_requests_raises_timeout_error_when_nothing_arrives(
    upstream: FakeUpstream,
) -> None:
    with pytest.raises(TimeoutError):
        upstream.wait_for_requests(upstream.add(Scenario()), 1, timeout=0.05)
    with pytest.raises(TimeoutError):
        upstream.wait_closed("never", timeout=0.05)


@pytest.mark.asyncio
async def test_stop_closes_open_streams_and_leaves_no_thread_or_listener(
    client: httpx.AsyncClient,
) -> None:
    threads_before = set(threading.enumerate())
    fake = FakeUpstream()
    fake.start()
    [server_thread] = set(threading.enumerate()) - threads_before
    scenario_id = fake.add(Scenario(hang_after=1))
    base_url = fake.base_url

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        async with client.stream(
            "POST", f"{fake.url(scenario_id)}/chat/completions", json=openai_request()
        ) as response:
            async for _ in response.aiter_raw():
                await asyncio.to_thread(fake.stop)

    assert fake.requests(scenario_id)[-1].closed_at is not None
    assert not server_thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        await client.get(f"{base_url}/health")


def test_cli_prints_listening_line_serves_and_exits_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_upstream", "--port", "0", "--tokens", "3"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 10.0)
        assert ready, "the CLI never reported that it was listening"
        line = process.stdout.readline()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line

        response = httpx.post(
            f"{match.group(1)}/chat/completions", json=openai_request(), timeout=10.0
        )

        parser = SseParser()
        parser.feed(response.content)
        assert openai_text(parser.events) == "tok0 tok1 tok2 "
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10.0) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
