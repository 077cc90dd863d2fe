"""OpenAI Chat Completions: request validation, error bodies and streaming chunks."""

from __future__ import annotations

import secrets
import string
import time
from typing import Any

from tests.fake_upstream.http11 import Response
from tests.fake_upstream.scenarios import Failure, Scenario, count_words, last_user_text
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
    return None


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
        usage: tuple[int, int],
    ) -> None:
        self._framer = framer
        self._usage = usage
        self._finish_reason = scenario.finish_reason or DEFAULT_FINISH_REASON
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

    def empty_delta(self) -> bytes:
        return self._chunk(b'{"content":""}')

    def finish(self) -> list[bytes]:
        events = [self._chunk(b"{}", json_string(self._finish_reason))]
        if self._include_usage:
            prompt_tokens, completion_tokens = self._usage
            usage = compact_json(
                {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                }
            )
            events.append(self._framer.data_event(self._head + b'[],"usage":' + usage + b"}"))
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


def event_source(
    framer: SseFramer, body: dict[str, Any], scenario: Scenario, usage: tuple[int, int]
) -> OpenAIStream:
    return OpenAIStream(framer, body, scenario, usage)


def complete_response(
    body: dict[str, Any], scenario: Scenario, tokens: list[str], usage: tuple[int, int]
) -> Response:
    """The non-streaming `chat.completion`, for clients that send stream: false."""
    prompt_tokens, completion_tokens = usage
    payload = {
        "id": f"chatcmpl-{_random_id(29)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "".join(tokens),
                    "refusal": None,
                },
                "logprobs": None,
                "finish_reason": scenario.finish_reason or DEFAULT_FINISH_REASON,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    return Response.json(200, payload)
