"""Every event's data, built in one place: live by the Generation, and again from the
saved message when an answer's log is gone (chat.engine.replay).

An answer's events are `start`, `token`s, then `closing`: the saved `message` and one
terminal event, `done` or `error`. Kinds the next answers bring (reasoning, tool calls
and results) get a builder here beside these, and a part in `closing`'s message.
"""

from __future__ import annotations

from typing import Any, Protocol

from chat.errors import ErrorCode
from chat.events import Event, EventType
from chat.models import Message

Data = dict[str, Any]
Payload = tuple[EventType, Data]


class Ending(Protocol):
    """How an answer ended: a live FinalState, or a saved Message (the same fields)."""

    @property
    def status(self) -> str: ...
    @property
    def content(self) -> str: ...
    @property
    def finish_reason(self) -> str: ...
    @property
    def input_tokens(self) -> int | None: ...
    @property
    def output_tokens(self) -> int | None: ...
    @property
    def ttft_ms(self) -> int | None: ...
    @property
    def duration_ms(self) -> int | None: ...
    @property
    def error_code(self) -> str: ...
    @property
    def error_message(self) -> str: ...


def start(
    *, conversation_id: str, message_id: str, user_message_id: str | None, model: str
) -> Payload:
    return EventType.START, {
        "conversation_id": conversation_id,
        "message_id": message_id,
        "user_message_id": user_message_id,
        "model": model,
    }


def token(text: str) -> Payload:
    return EventType.TOKEN, {"token": text, "done": False}


def closing(
    ending: Ending,
    *,
    conversation_id: str,
    message_id: str,
    saved: bool = True,
    retry_after: float | None = None,
) -> list[Payload]:
    """The saved `message`, then `done`, or `error` if the answer failed.

    `saved`: whether the final write happened (live: it can fail). `retry_after` is only
    known live: by the time a log has expired, a provider's wait is long past.
    """
    message: Data = {
        "message_id": message_id,
        "content": ending.content,
        "status": str(ending.status),
    }
    if not ending.error_code:
        done = _done(ending, conversation_id=conversation_id, message_id=message_id)
        return [(EventType.MESSAGE, message), (EventType.DONE, done)]
    error: Data = {
        "done": True,
        "error": ending.error_message,
        "error_code": ending.error_code,
        "message_id": message_id,
        "partial_content_saved": saved and bool(ending.content),
    }
    if retry_after is not None:
        error["retry_after"] = retry_after
    return [(EventType.MESSAGE, message), (EventType.ERROR, error)]


def _done(ending: Ending, *, conversation_id: str, message_id: str) -> Data:
    input_tokens, output_tokens = ending.input_tokens, ending.output_tokens
    total = None
    if input_tokens is not None or output_tokens is not None:
        total = (input_tokens or 0) + (output_tokens or 0)
    return {
        "done": True,
        "finish_reason": ending.finish_reason,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        "total_tokens": total,
        "response_time": round((ending.duration_ms or 0) / 1000, 3),
        "ttft_ms": ending.ttft_ms,
        "conversation_id": conversation_id,
        "message_id": message_id,
    }


STREAM_FAILED = "The server could not continue this stream; reconnect to resume."


def stream_failure(message_id: str | None = None) -> Payload:
    """The `error` that ends a stream whose server side failed (not the answer: it goes on,
    and a client that reconnects resumes it)."""
    data: Data = {"done": True, "error": STREAM_FAILED, "error_code": ErrorCode.INTERNAL.value}
    if message_id is not None:
        data["message_id"] = message_id
    return EventType.ERROR, data


def numbered(payloads: list[Payload], after: int) -> list[Event]:
    return [Event(after + i, kind, data) for i, (kind, data) in enumerate(payloads, start=1)]


def condensed(answer: Message, after: int, user_message_id: str | None) -> list[Event]:
    """A finished answer from the database, numbered after `after`: from the start, its
    `start` and its whole text as one `token`; then `closing`."""
    conversation_id, message_id = str(answer.conversation_id), str(answer.pk)
    payloads: list[Payload] = []
    if after == 0:
        payloads.append(
            start(
                conversation_id=conversation_id,
                message_id=message_id,
                user_message_id=user_message_id,
                model=answer.model_name,
            )
        )
        if answer.content:
            payloads.append(token(answer.content))
    payloads += closing(answer, conversation_id=conversation_id, message_id=message_id)
    return numbered(payloads, after)
