"""The one event vocabulary every transport carries (see docs/api.md)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    START = "start"
    TOKEN = "token"
    MESSAGE = "message"
    DONE = "done"
    ERROR = "error"


TERMINAL_TYPES = frozenset({EventType.DONE, EventType.ERROR})


class Event:
    """One event of one generation. `seq` counts from 1 within the generation.

    The JSON form is computed once and shared by every subscriber and transport.
    """

    __slots__ = ("seq", "type", "data", "_json")

    def __init__(self, seq: int, type: str, data: dict[str, Any], json_text: str | None = None):
        self.seq = seq
        self.type = type
        self.data = data
        self._json = json_text

    @property
    def json(self) -> str:
        if self._json is None:
            self._json = json.dumps(
                {"type": self.type, **self.data}, ensure_ascii=False, separators=(",", ":")
            )
        return self._json

    def tagged_json(self, message_id: str) -> str:
        """The JSON with the answer's id and the sequence number, for feeds that carry the
        events of several answers (a conversation's feed, the WebSocket)."""
        return f'{{"message_id":"{message_id}","seq":{self.seq},{self.json[1:]}'

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_TYPES

    @classmethod
    def from_json(cls, seq: int, json_text: str) -> Event:
        data = json.loads(json_text)
        event_type = data.pop("type")
        return cls(seq, event_type, data, json_text)

    def __repr__(self) -> str:
        return f"Event({self.seq}, {self.json})"
