"""Reading and validating request bodies: bad input is a clear 400, never a 500."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from chat.errors import ChatError, ErrorCode


def bad_request(message: str) -> ChatError:
    return ChatError(ErrorCode.BAD_REQUEST, message)


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


def optional_uuid(payload: dict[str, Any], field: str) -> uuid.UUID | None:
    value = payload.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{field} must be a string.")
    try:
        return uuid.UUID(value)
    except ValueError as error:
        raise bad_request(f"{field} is not a valid id.") from error


def optional_bool(payload: dict[str, Any], field: str) -> bool:
    value = payload.get(field, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"{field} must be true or false.")
    return value


def message_text(payload: dict[str, Any]) -> str:
    text = payload.get("message")
    if text is None:
        raise bad_request("message is required.")
    if not isinstance(text, str):
        raise bad_request("message must be a string.")
    if not text.strip():
        raise bad_request("message must not be empty.")
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    if len(text) > limit:
        raise ChatError(
            ErrorCode.TOO_LARGE, f"message is {len(text)} characters; the limit is {limit}."
        )
    if "\x00" in text:
        raise bad_request("message must not contain NUL characters.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        # JSON can smuggle in lone surrogates ("\ud800"), which no database stores.
        raise bad_request("message is not valid Unicode text.") from error
    return text


@dataclass(frozen=True, slots=True)
class AnswerOptions:
    model: str | None
    stream: bool
    # A resumable stream's answer survives its client leaving (browser flow); otherwise a
    # disconnect stops the answer.
    resumable: bool


def answer_options(payload: dict[str, Any]) -> AnswerOptions:
    model = payload.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise bad_request("model must be a model name (see GET /api/v1/models).")
    return AnswerOptions(
        model=model.strip() if model else None,
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
