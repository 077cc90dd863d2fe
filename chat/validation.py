"""Checking what a client sends, for every transport: bad input is a clear BAD_REQUEST.

Fields of a decoded JSON object (an HTTP body, a WebSocket command); nothing here knows
how they arrived.
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from django.conf import settings

from chat.errors import ChatError, ErrorCode


def bad_request(message: str) -> ChatError:
    return ChatError(ErrorCode.BAD_REQUEST, message)


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


def required_uuid(payload: dict[str, Any], field: str) -> uuid.UUID:
    value = optional_uuid(payload, field)
    if value is None:
        raise bad_request(f"{field} is required.")
    return value


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


def model_name(payload: dict[str, Any]) -> str | None:
    """The `model` a client chose, or None for the conversation's (or the site's) default."""
    model = payload.get("model")
    if model is None:
        return None
    if not isinstance(model, str) or not model.strip():
        raise bad_request("model must be a model name (see GET /api/v1/models).")
    return model.strip()


# An answer has thousands of events at most: nine digits are plenty, and the bound keeps
# int() away from Python's limit on digits (a ValueError, not a clear 400).
MAX_SEQ_DIGITS = 9


def parse_seq(raw: str, name: str) -> int:
    """A sequence number a client sent (ASCII digits only: str.isdigit() takes '²')."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_SEQ_DIGITS):
        raise bad_request(f"{name} must be a whole number.")
    return int(raw)


def checked_seq(value: object, name: str) -> int:
    """A sequence number from JSON: a whole number, not a bool, within bounds."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise bad_request(f"{name} must be a whole number.")
    if value >= 10**MAX_SEQ_DIGITS:
        raise bad_request(f"{name} is too large.")
    return value


class FeedPosition(NamedTuple):
    """Where a conversation feed resumes: after event `seq` of answer `message_id`."""

    message_id: str
    seq: int


def parse_feed_position(value: str) -> FeedPosition | None:
    """A feed's Last-Event-ID, '<message id>:<seq>'; None without one.

    Only the form is checked here: whether the answer is the caller's, in this
    conversation, is chat.ownership.feed_position's question.
    """
    if not value:
        return None
    message_id, _, seq = value.rpartition(":")
    try:
        canonical = str(uuid.UUID(message_id))
    except ValueError as error:
        raise bad_request("Last-Event-ID must be '<message id>:<seq>'.") from error
    return FeedPosition(canonical, parse_seq(seq, "Last-Event-ID"))
