"""A protocol-faithful fake LLM upstream: OpenAI Chat Completions, Anthropic Messages.

A real HTTP/1.1 server on 127.0.0.1 built on asyncio streams, for tests, benchmarks and
manual demos. Register a `Scenario`, point a model's base URL at `FakeUpstream.url(id)`,
then assert on the `RecordedRequest`s:

    with FakeUpstream() as upstream:
        scenario_id = upstream.add(Scenario(tokens=["Hi", "!"], hang_after=1))
        base_url = upstream.url(scenario_id)  # POST {base_url}/chat/completions
        ...                                   # or {base_url}/v1/messages
        recorded = upstream.wait_closed(scenario_id)
        assert recorded.client_closed_early

Un-prefixed routes (`/chat/completions`, `/v1/chat/completions`, `/v1/messages`) use the
"default" scenario: echo the last user message at a human pace. `GET /health` says ok.

Tool use and reasoning come in `Round`s (see `Scenario`); `presets` names the common
ones. What the client sent is in `upstream.requests(id)` (`.body` parsed, `.raw_body` as
bytes, `.round` answered) or `upstream.bodies(id)`. The fake refuses, with the real
APIs' 400s, histories they would refuse (a tool result without its call, a call without
its result, a thinking block whose signature does not match...).
"""

from __future__ import annotations

from tests.fake_upstream.scenarios import (
    Failure,
    RecordedRequest,
    Round,
    Scenario,
    ToolCallSpec,
    thinking_signature,
)
from tests.fake_upstream.server import DEFAULT_SCENARIO_ID, FakeUpstream

__all__ = [
    "DEFAULT_SCENARIO_ID",
    "Failure",
    "FakeUpstream",
    "RecordedRequest",
    "Round",
    "Scenario",
    "ToolCallSpec",
    "thinking_signature",
]
