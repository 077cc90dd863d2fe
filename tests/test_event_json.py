"""Event.json is exactly json.dumps of the event, fast path for tokens included."""

from __future__ import annotations

import json

import pytest

from chat.events import Event, EventType


def dumps(event_type: str, data: dict[str, object]) -> str:
    return json.dumps({"type": event_type, **data}, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    "token",
    [
        "tok12 ",
        "",
        "héllo 👋🏽 世界",
        'a "quote" and a \\ backslash',
        "\x00\x1f\n\t\r",
        "\u2028\u2029",
    ],
)
def test_token_events_encode_exactly_as_json_dumps(token: str) -> None:
    data = {"token": token, "done": False}
    assert Event(2, EventType.TOKEN, data).json == dumps("token", data)


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        (EventType.TOKEN, {"done": False, "token": "keys the other way round"}),
        (EventType.TOKEN, {"token": "x", "done": False, "extra": 1}),
        (EventType.START, {"conversation_id": "c", "message_id": "m", "model": "demo"}),
        (EventType.DONE, {"done": True, "usage": {"input_tokens": 1, "output_tokens": None}}),
        (EventType.ERROR, {"done": True, "error": "Ünïcode", "retry_after": 1.5}),
    ],
)
def test_other_events_encode_exactly_as_json_dumps(
    event_type: EventType, data: dict[str, object]
) -> None:
    assert Event(1, event_type, data).json == dumps(event_type, data)


def test_a_token_event_still_shows_its_data() -> None:
    event = Event(3, EventType.TOKEN, {"token": "hi", "done": False})
    assert event.data == {"token": "hi", "done": False}
    assert Event.from_json(3, event.json).data == event.data
