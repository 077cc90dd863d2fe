"""Reading and validating request bodies: bad input is a clear 400, never a 500."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from chat.validation import bad_request, message_text, model_name, optional_bool, optional_uuid


def json_body(request: HttpRequest) -> dict[str, Any]:
    # request.body raises RequestDataTooBig past DATA_UPLOAD_MAX_MEMORY_SIZE (413).
    raw = request.body
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise bad_request("The body must be valid JSON.") from error
    if not isinstance(payload, dict):
        raise bad_request("The body must be a JSON object.")
    return payload


@dataclass(frozen=True, slots=True)
class AnswerOptions:
    model: str | None
    stream: bool
    # A resumable stream's answer survives its client leaving (browser flow); otherwise a
    # disconnect stops the answer.
    resumable: bool


def answer_options(payload: dict[str, Any]) -> AnswerOptions:
    return AnswerOptions(
        model=model_name(payload),
        stream=optional_bool(payload, "stream"),
        resumable=optional_bool(payload, "resumable"),
    )


@dataclass(frozen=True, slots=True)
class ChatPayload:
    message: str
    conversation_id: uuid.UUID | None
    options: AnswerOptions


def chat_payload(request: HttpRequest) -> ChatPayload:
    payload = json_body(request)
    return ChatPayload(
        message=message_text(payload),
        conversation_id=optional_uuid(payload, "conversation_id"),
        options=answer_options(payload),
    )


def optional_json_body(request: HttpRequest) -> dict[str, Any]:
    """A JSON object body, or {} for an empty body."""
    return json_body(request) if request.body.strip() else {}
