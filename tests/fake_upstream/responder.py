"""One parsed request in, the scenario's response out: routing, rejections, streams."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Protocol

from tests.fake_upstream import anthropic_wire, openai_wire
from tests.fake_upstream.http11 import Connection, Request, Response, encode_head
from tests.fake_upstream.plan import Ending, EventSource, Plan, build_plan
from tests.fake_upstream.registry import Registry
from tests.fake_upstream.scenarios import Failure, RecordedRequest, Round, Scenario
from tests.fake_upstream.sse import SseFramer, writes_for_batch

DEFAULT_SCENARIO_ID = "default"

# Long enough for the client to see each hostile fragment in its own read.
_HOSTILE_WRITE_GAP = 0.001

_API_ROUTE = re.compile(
    r"^(?:/s/(?P<scenario_id>[^/]+))?"
    r"(?P<endpoint>/v1/messages|/v1/chat/completions|/chat/completions)$"
)


class ProviderWire(Protocol):
    """What the responder needs from a provider module (`openai_wire` etc.)."""

    NAME: str
    REQUEST_ID_HEADER: str

    def new_request_id(self) -> str: ...
    def not_found(self, message: str) -> Response: ...
    def invalid_json(self) -> Response: ...
    def check_auth(self, headers: dict[str, str], required_key: str | None) -> Response | None: ...
    def validate(self, headers: dict[str, str], body: dict[str, Any]) -> Response | None: ...
    def failure_response(self, failure: Failure) -> Response: ...
    def wants_stream(self, body: dict[str, Any]) -> bool: ...
    def prompt_text(self, body: dict[str, Any]) -> str: ...
    def input_words(self, body: dict[str, Any]) -> int: ...
    def tool_rounds_done(self, body: dict[str, Any]) -> int: ...
    def event_source(
        self,
        framer: SseFramer,
        body: dict[str, Any],
        scenario: Scenario,
        answer: Round,
        usage: tuple[int, int],
    ) -> EventSource: ...
    def complete_response(
        self,
        body: dict[str, Any],
        scenario: Scenario,
        answer: Round,
        usage: tuple[int, int],
    ) -> Response: ...


_PROVIDERS: dict[str, ProviderWire] = {
    "/chat/completions": openai_wire,
    "/v1/chat/completions": openai_wire,
    "/v1/messages": anthropic_wire,
}


class Responder:
    """Answers requests on behalf of the scenarios and records what happened."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    async def serve(self, connection: Connection, request: Request) -> bool:
        """Answer one request; True if the connection may carry another one."""
        close = request.wants_close
        if request.path == "/health":
            await connection.send_response(
                Response(200, b"ok", "text/plain; charset=utf-8"), close=close
            )
            return True
        route = _API_ROUTE.match(request.path)
        if route is None:
            response = openai_wire.error_response(
                404, f"Invalid URL ({request.method} {request.path})"
            )
            await connection.send_response(response, close=close)
            return True
        if request.method != "POST":
            response = openai_wire.error_response(
                405, f"Method {request.method} not allowed; use POST"
            )
            response.headers.append(("allow", "POST"))
            await connection.send_response(response, close=close)
            return True

        provider = _PROVIDERS[route["endpoint"]]
        scenario_id = route["scenario_id"] or DEFAULT_SCENARIO_ID
        return await self._serve_model_call(connection, request, provider, scenario_id)

    async def _serve_model_call(
        self,
        connection: Connection,
        request: Request,
        provider: ProviderWire,
        scenario_id: str,
    ) -> bool:
        body = _parse_json_object(request.body)
        recorded = RecordedRequest(
            scenario_id=scenario_id,
            provider=provider.NAME,
            path=request.path,
            headers=dict(request.headers),
            body=body if body is not None else {},
            opened_at=request.received_at,
            connection_id=connection.connection_id,
            raw_body=request.body,
        )
        self._registry.record(recorded)
        scenario = self._registry.scenario(scenario_id)
        request_id = (scenario.request_id if scenario else None) or provider.new_request_id()
        request_id_header = (provider.REQUEST_ID_HEADER, request_id)

        if scenario is None:
            unknown = provider.not_found(f"Unknown fake-upstream scenario {scenario_id!r}")
            return await self._reject(connection, recorded, unknown, request_id_header)
        if body is None:
            invalid = provider.invalid_json()
            return await self._reject(connection, recorded, invalid, request_id_header)
        # The real APIs authenticate before they validate; a scripted failure only
        # applies to a request that would otherwise have been served.
        rejection = provider.check_auth(request.headers, scenario.require_api_key)
        rejection = rejection or provider.validate(request.headers, body)
        if rejection is None and (failure := self._registry.take_failure(scenario_id)):
            rejection = provider.failure_response(failure)
        if rejection is not None:
            return await self._reject(connection, recorded, rejection, request_id_header)

        round_index = provider.tool_rounds_done(body)
        self._registry.update(recorded, round=round_index)
        answer = scenario.round_for(round_index, provider.prompt_text(body))
        usage = scenario.usage_for(provider.input_words(body), answer)
        close = request.wants_close
        if not provider.wants_stream(body):
            connection.start_watching()
            if await connection.pause(scenario.ttft):
                return self._client_left(connection, recorded, tokens_sent=0)
            response = provider.complete_response(body, scenario, answer, usage)
            response.headers.append(request_id_header)
            return await self._send_whole(
                connection, recorded, response, close=close, tokens_sent=answer.piece_count()
            )
        framer = SseFramer(crlf=scenario.crlf, no_space_after_colon=scenario.no_space_after_colon)
        source = provider.event_source(framer, body, scenario, answer, usage)
        plan = build_plan(source, scenario, framer)
        head = _event_stream_head(request_id_header, close=close)
        return await self._stream(connection, recorded, head, plan, scenario.chunking)

    async def _reject(
        self,
        connection: Connection,
        recorded: RecordedRequest,
        rejection: Response,
        request_id_header: tuple[str, str],
    ) -> bool:
        rejection.headers.append(request_id_header)
        close = recorded.headers.get("connection", "").lower() == "close"
        return await self._send_whole(connection, recorded, rejection, close=close)

    async def _send_whole(
        self,
        connection: Connection,
        recorded: RecordedRequest,
        response: Response,
        *,
        close: bool,
        tokens_sent: int = 0,
    ) -> bool:
        # Recorded before sending, so it is visible by the time the client sees it.
        self._registry.update(recorded, status=response.status)
        try:
            await connection.send_response(response, close=close)
        except ConnectionError:
            connection.mark_peer_closed()
            return self._client_left(connection, recorded, tokens_sent=0)
        finally:
            await connection.stop_watching()
        self._registry.close(recorded, tokens_sent=tokens_sent, completed=True)
        return True

    async def _stream(
        self,
        connection: Connection,
        recorded: RecordedRequest,
        head: bytes,
        plan: Plan,
        chunking: str,
    ) -> bool:
        hostile = chunking == "hostile"
        tokens_sent = 0
        connection.start_watching()
        try:
            self._registry.update(recorded, status=200)
            await connection.send(head)
            for batch in plan.batches:
                if batch.pause_before > 0:
                    # Publish progress before idling so tests can observe it mid-stream.
                    self._registry.update(recorded, tokens_sent=tokens_sent)
                    if await connection.pause(batch.pause_before):
                        return self._client_left(connection, recorded, tokens_sent)
                for data, tokens_completed in writes_for_batch(
                    batch.events, batch.token_flags, chunking
                ):
                    await connection.send_chunk(data)
                    tokens_sent += tokens_completed
                    if hostile:
                        await asyncio.sleep(_HOSTILE_WRITE_GAP)
            if plan.ending is Ending.CUT:
                connection.close_without_terminating()
                self._registry.close(recorded, tokens_sent=tokens_sent, completed=False)
                return False
            if plan.ending is Ending.HANG:
                self._registry.update(recorded, tokens_sent=tokens_sent)
                await connection.peer_closed.wait()
                return self._client_left(connection, recorded, tokens_sent)
            await connection.send_last_chunk()
            self._registry.close(recorded, tokens_sent=tokens_sent, completed=True)
        except ConnectionError:
            connection.mark_peer_closed()
            return self._client_left(connection, recorded, tokens_sent)
        finally:
            # No-op unless nothing above closed the record (e.g. stop() cancelled us).
            self._registry.close(recorded, tokens_sent=tokens_sent)
        await connection.stop_watching()
        return True

    def _client_left(
        self, connection: Connection, recorded: RecordedRequest, tokens_sent: int
    ) -> bool:
        self._registry.close(
            recorded,
            closed_at=connection.peer_closed_at,
            tokens_sent=tokens_sent,
            client_closed_early=True,
        )
        return False


def _event_stream_head(request_id_header: tuple[str, str], *, close: bool) -> bytes:
    return encode_head(
        200,
        [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("transfer-encoding", "chunked"),
            ("cache-control", "no-cache"),
            ("connection", "close" if close else "keep-alive"),
            request_id_header,
        ],
    )


def _parse_json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None
