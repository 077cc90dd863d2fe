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

# json.dumps(..., ensure_ascii=False, separators=(",", ":")) builds an encoder per call;
# one shared encoder and json's own string quoting give the very same text, cheaper.
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_quote_json_string = json.encoder.encode_basestring
_TOKEN_KEYS = ("token", "done")


def event_json(event_type: str, data: dict[str, Any]) -> str:
    """An event's JSON: its data, led by `type`."""
    return _encode_json({"type": event_type, **data})


class Event:
    """One event of one generation. `seq` counts from 1 within the generation.

    The JSON form is computed once and shared by every subscriber and transport. A token
    event keeps only its text (`data` is made on access, a fresh dict each time): an
    answer's log holds one per token for as long as the log lives, and a dict apiece was
    most of their memory and of the objects the garbage collector walks.
    """

    __slots__ = ("seq", "type", "_data", "_token", "_json")

    def __init__(self, seq: int, type: str, data: dict[str, Any], json_text: str | None = None):
        self.seq = seq
        self.type = type
        self._json = json_text
        if (
            type == EventType.TOKEN
            and tuple(data) == _TOKEN_KEYS
            and data["done"] is False
            and isinstance(data["token"], str)
        ):
            self._token: str | None = data["token"]
            self._data: dict[str, Any] | None = None
        else:
            self._token = None
            self._data = data

    @property
    def data(self) -> dict[str, Any]:
        if self._data is not None:
            return self._data
        return {"token": self._token, "done": False}

    @property
    def json(self) -> str:
        if self._json is None:
            if self._token is not None:
                # One per relayed chunk: the hot path, written out.
                text = _quote_json_string(self._token)
                self._json = '{"type":"token","token":' + text + ',"done":false}'
            else:
                self._json = event_json(self.type, self.data)
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
