"""OpenAI Chat Completions: request validation, error bodies and streaming chunks."""

from __future__ import annotations

import itertools
import secrets
import string
import time
from typing import Any

from tests.fake_upstream.checks import openai_request_error
from tests.fake_upstream.http11 import Response
from tests.fake_upstream.scenarios import Failure, Round, Scenario, count_words, last_user_text
from tests.fake_upstream.sse import SseFramer, compact_json, json_string

NAME = "openai"
REQUEST_ID_HEADER = "x-request-id"
SYSTEM_FINGERPRINT = "fp_fake"
DEFAULT_FINISH_REASON = "stop"
MIDSTREAM_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"

_ID_ALPHABET = string.ascii_letters + string.digits

# (error type, error code, default message) per status, as the real API words them.
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country not supported.",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again later.",
    ),
    500: ("server_error", None, MIDSTREAM_ERROR_MESSAGE),
    502: ("server_error", None, "Bad gateway."),
    503: (
        "server_error",
        None,
        "The engine is currently overloaded, please try again later.",
    ),
    504: ("server_error", None, "Gateway timeout."),
}


def _random_id(length: int) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def new_request_id() -> str:
    return f"req_{secrets.token_hex(16)}"


def error_response(
    status: int,
    message: str,
    *,
    error_type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    payload = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    return Response.json(status, payload, headers)


def failure_response(failure: Failure) -> Response:
    error_type, code, default_message = _ERRORS.get(
        failure.status,
        (
            "server_error" if failure.status >= 500 else "invalid_request_error",
            None,
            "Error.",
        ),
    )
    headers: list[tuple[str, str]] = []
    if failure.retry_after is not None:
        headers.append(("retry-after", failure.retry_after))
    if failure.retry_after_ms is not None:
        headers.append(("retry-after-ms", failure.retry_after_ms))
    return error_response(
        failure.status,
        failure.message or default_message,
        error_type=error_type,
        code=code,
        headers=headers,
    )


def not_found(message: str) -> Response:
    return error_response(404, message, code="not_found")


def invalid_json() -> Response:
    return error_response(
        400,
        "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload.",
    )


def check_auth(headers: dict[str, str], required_key: str | None) -> Response | None:
    if required_key is None:
        return None
    scheme, _, key = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return error_response(
            401,
            "You didn't provide an API key. You need to provide your API key "
            "in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    if key.strip() != required_key:
        return error_response(
            401,
            f"Incorrect API key provided: {key.strip()[:6]}...",
            code="invalid_api_key",
        )
    return None


def validate(headers: dict[str, str], body: dict[str, Any]) -> Response | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return error_response(400, "you must provide a model parameter", param="model")
    if "messages" not in body:
        return error_response(400, "Missing required parameter: 'messages'.", param="messages")
    if not isinstance(body["messages"], list):
        return error_response(
            400,
            "Invalid type for 'messages': expected an array.",
            param="messages",
            code="invalid_type",
        )
    error = openai_request_error(body)
    return error_response(400, error) if error else None


def wants_stream(body: dict[str, Any]) -> bool:
    return body.get("stream") is True


def prompt_text(body: dict[str, Any]) -> str:
    return last_user_text(body["messages"])


def input_words(body: dict[str, Any]) -> int:
    return count_words(body["messages"])


class OpenAIStream:
    """The `chat.completion.chunk` events of one response, from pre-encoded parts."""

    def __init__(
        self,
        framer: SseFramer,
        body: dict[str, Any],
        scenario: Scenario,
        answer: Round,
        usage: tuple[int, int],
    ) -> None:
        self._framer = framer
        self._answer = answer
        self._usage = usage
        self._reasoning_tokens = scenario.reasoning_tokens
        self._finish_reason = scenario.finish_reason or finish_reason(answer)
        self._empty_deltas = scenario.empty_deltas
        stream_options = body.get("stream_options")
        self._include_usage = (
            isinstance(stream_options, dict) and stream_options.get("include_usage") is True
        )
        # Everything up to the value of "choices" is identical in every chunk.
        self._head = (
            b'{"id":'
            + json_string(f"chatcmpl-{_random_id(29)}")
            + b',"object":"chat.completion.chunk","created":%d,"model":' % int(time.time())
            + json_string(body["model"])
            + b',"system_fingerprint":"'
            + SYSTEM_FINGERPRINT.encode()
            + b'","choices":'
        )
        self._tail = b',"usage":null}' if self._include_usage else b"}"
        self._token_open = framer.data_prefix + self._head + b'[{"index":0,"delta":{"content":'
        self._token_close = (
            b'},"logprobs":null,"finish_reason":null}]' + self._tail + framer.data_suffix
        )

    def _chunk(self, delta: bytes, finish_reason: bytes = b"null") -> bytes:
        choice = (
            b'[{"index":0,"delta":'
            + delta
            + b',"logprobs":null,"finish_reason":'
            + finish_reason
            + b"}]"
        )
        return self._framer.data_event(self._head + choice + self._tail)

    def prelude(self) -> list[bytes]:
        role_delta = (
            b'{"role":"assistant"}' if self._empty_deltas else b'{"role":"assistant","content":""}'
        )
        return [self._chunk(role_delta)]

    def token(self, text: str) -> bytes:
        return self._token_open + json_string(text) + self._token_close

    def body(self) -> list[tuple[bytes, bool]]:
        answer = self._answer
        events: list[tuple[bytes, bool]] = []
        if answer.reasoning_field == "think":
            events.extend((self.token(piece), True) for piece in think_tagged(answer.reasoning))
        else:
            field = json_string(answer.reasoning_field)
            events.extend(
                (self._chunk(b"{" + field + b":" + json_string(piece) + b"}"), True)
                for piece in answer.reasoning
            )
        events.extend((self.token(text), True) for text in answer.tokens)
        events.extend(self._tool_call_events())
        return events

    def _tool_call_events(self) -> list[tuple[bytes, bool]]:
        """Per call: a first fragment with id and name, then the arguments in pieces."""
        per_call: list[list[tuple[bytes, bool]]] = []
        for index, call in enumerate(self._answer.tool_calls):
            first = {
                "index": index,
                "id": call.id or f"call_{_random_id(24)}",
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            events = [(self._chunk(compact_json({"content": None, "tool_calls": [first]})), False)]
            for fragment in call.argument_fragments():
                piece = {"index": index, "function": {"arguments": fragment}}
                events.append((self._chunk(compact_json({"tool_calls": [piece]})), True))
            per_call.append(events)
        if not self._answer.interleave_calls:
            return [event for events in per_call for event in events]
        # Round robin: every call's first fragment, then a piece of each in turn.
        interleaved = itertools.zip_longest(*per_call)
        return [event for turn in interleaved for event in turn if event is not None]

    def empty_delta(self) -> bytes:
        return self._chunk(b'{"content":""}')

    def finish(self) -> list[bytes]:
        events = [self._chunk(b"{}", json_string(self._finish_reason))]
        if self._include_usage:
            prompt_tokens, completion_tokens = self._usage
            usage: dict[str, Any] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
            if self._reasoning_tokens is not None:
                usage["completion_tokens_details"] = {"reasoning_tokens": self._reasoning_tokens}
            events.append(
                self._framer.data_event(self._head + b'[],"usage":' + compact_json(usage) + b"}")
            )
        events.append(self._framer.data_event(b"[DONE]"))
        return events

    def midstream_error(self) -> list[bytes]:
        payload = {
            "error": {
                "message": MIDSTREAM_ERROR_MESSAGE,
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
        return [self._framer.data_event(compact_json(payload))]


def think_tagged(reasoning: list[str]) -> list[str]:
    """Reasoning as content inside <think> tags, each tag cut across two pieces."""
    if not reasoning:
        return []
    pieces = ["<th", "ink>" + reasoning[0], *reasoning[1:]]
    pieces[-1] += "</thi"
    return [*pieces, "nk>\n\n"]


def finish_reason(answer: Round) -> str:
    return "tool_calls" if answer.tool_calls else DEFAULT_FINISH_REASON


def event_source(
    framer: SseFramer,
    body: dict[str, Any],
    scenario: Scenario,
    answer: Round,
    usage: tuple[int, int],
) -> OpenAIStream:
    return OpenAIStream(framer, body, scenario, answer, usage)


def complete_response(
    body: dict[str, Any], scenario: Scenario, answer: Round, usage: tuple[int, int]
) -> Response:
    """The non-streaming `chat.completion`, for clients that send stream: false."""
    prompt_tokens, completion_tokens = usage
    text = "".join(answer.tokens)
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if answer.reasoning:
        reasoning = "".join(answer.reasoning)
        if answer.reasoning_field == "think":
            message["content"] = f"<think>{reasoning}</think>\n\n{text}"
        else:
            message[answer.reasoning_field] = reasoning
    if answer.tool_calls:
        message["content"] = message["content"] or None
        message["tool_calls"] = [
            {
                "id": call.id or f"call_{_random_id(24)}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in answer.tool_calls
        ]
    payload = {
        "id": f"chatcmpl-{_random_id(29)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": scenario.finish_reason or finish_reason(answer),
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    return Response.json(200, payload)


def tool_rounds_done(body: dict[str, Any]) -> int:
    """Assistant messages with tool calls since the last user message."""
    rounds = 0
    for message in reversed(body["messages"]):
        if not isinstance(message, dict) or message.get("role") == "user":
            break
        if message.get("role") == "assistant" and message.get("tool_calls"):
            rounds += 1
    return rounds
