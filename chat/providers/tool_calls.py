"""Tool calls as they stream: arguments put together from fragments, and parsed once.

Malformed arguments are the model's mistake, not the stream's: the call completes with
the raw text and an error, and the engine tells the model.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from chat.providers.base import ProviderEvent, ToolCallDelta, ToolCallDone, ToolCallStart

_SURROGATE = re.compile("[\ud800-\udfff]")
_HIGH_SURROGATES = ("\ud800", "\udbff")


def new_call_id() -> str:
    """For servers that send a call without an id: the results must name their call."""
    return f"call_{uuid.uuid4().hex[:24]}"


def mend_surrogates(text: str) -> str:
    """Join UTF-16 surrogate pairs into characters; a lone half becomes U+FFFD.

    A server escaping non-ASCII as \\uXXXX can cut an emoji between its two halves, one
    per fragment; left alone they could not be encoded as UTF-8 anywhere downstream.
    """
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def completed_call(call_id: str, name: str, arguments: str) -> ToolCallDone:
    text = arguments if arguments.strip() else "{}"
    try:
        parsed = json.loads(text)
    except ValueError as error:
        return ToolCallDone(call_id, name, text, None, f"The arguments are not valid JSON: {error}")
    if not isinstance(parsed, dict):
        return ToolCallDone(call_id, name, text, None, "The arguments must be a JSON object.")
    return ToolCallDone(call_id, name, text, parsed)


class StreamedCall:
    """One call: announced once its name is known, its arguments streamed, then done."""

    __slots__ = ("id", "from_server", "name", "started", "_parts", "_high_surrogate")

    def __init__(self, call_id: str, name: str = "") -> None:
        self.from_server = bool(call_id)
        self.id = call_id or new_call_id()
        self.name = name
        self.started = False
        self._parts: list[str] = []
        self._high_surrogate = ""

    def start(self) -> list[ProviderEvent]:
        """ToolCallStart, then the arguments that came before it as one delta."""
        if self.started:
            return []
        self.started = True
        events: list[ProviderEvent] = [ToolCallStart(self.id, self.name)]
        if self._parts:
            events.append(ToolCallDelta(self.id, "".join(self._parts)))
        return events

    def add(self, fragment: str) -> list[ProviderEvent]:
        text, self._high_surrogate = self._high_surrogate + fragment, ""
        if text and _HIGH_SURROGATES[0] <= text[-1] <= _HIGH_SURROGATES[1]:
            # Maybe the first half of a pair whose second half is in the next fragment.
            text, self._high_surrogate = text[:-1], text[-1]
        text = mend_surrogates(text)
        if not text:
            return []
        self._parts.append(text)
        return [ToolCallDelta(self.id, text)] if self.started else []

    def finish(self) -> list[ProviderEvent]:
        events = self.start()
        if self._high_surrogate:
            self._high_surrogate = ""
            self._parts.append("\ufffd")
            events.append(ToolCallDelta(self.id, "\ufffd"))
        events.append(completed_call(self.id, self.name, "".join(self._parts)))
        return events


def _arguments_text(function: dict[str, Any]) -> str:
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        return arguments
    if isinstance(arguments, dict | list):  # a few servers send the object itself
        return json.dumps(arguments, ensure_ascii=False)
    return ""


class OpenAIToolCalls:
    """`delta.tool_calls` fragments put back together by `index`.

    The id and name come once, in a call's first fragment; its arguments follow in pieces,
    and several calls' pieces may interleave. Only the end of the stream says the calls are
    complete, so they are all finished there.
    """

    __slots__ = ("_by_index", "_calls")

    def __init__(self) -> None:
        self._by_index: dict[int, StreamedCall] = {}
        self._calls: list[StreamedCall] = []

    def __bool__(self) -> bool:
        return bool(self._calls)

    def feed(self, fragments: Any) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        if not isinstance(fragments, list):
            return events
        for position, fragment in enumerate(fragments):
            if not isinstance(fragment, dict):
                continue
            index = fragment.get("index")
            if not isinstance(index, int):
                index = position  # servers that omit the index send whole calls in order
            function = fragment.get("function")
            if not isinstance(function, dict):
                function = {}
            raw_id = fragment.get("id")
            call_id = raw_id if isinstance(raw_id, str) else ""
            call = self._by_index.get(index)
            if call is None or (call_id and call.from_server and call_id != call.id):
                # A new id at a known index is a new call (servers that reuse index 0).
                call = self._by_index[index] = StreamedCall(call_id)
                self._calls.append(call)
            elif call_id and not call.from_server and not call.started:
                call.id, call.from_server = call_id, True
            name = function.get("name")
            if isinstance(name, str) and name and not call.name:
                call.name = name
                events.extend(call.start())
            events.extend(call.add(_arguments_text(function)))
        return events

    def finish(self) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        for call in self._calls:
            events.extend(call.finish())
        self._by_index.clear()
        self._calls.clear()
        return events
