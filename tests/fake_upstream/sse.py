"""Server-sent-events framing and the byte-level chunking strategies.

Kept free of any provider knowledge: the wire modules hand over JSON payloads and this
module decides how the bytes look (line endings, "data:" spacing) and how they are cut
into writes (one per event, coalesced, or deliberately hostile fragments).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

# Fragment sizes cycled through by the hostile chunker between its targeted cuts.
# Irregular on purpose so fragment boundaries drift across every part of a line.
_HOSTILE_FRAGMENT_SIZES: tuple[int, ...] = (3, 17, 1, 29, 8, 41, 2, 13)

_UTF8_CONTINUATION_MASK = 0xC0
_UTF8_CONTINUATION_BITS = 0x80
_UTF8_LEAD_MIN = 0xC0
_CR = 0x0D
_LF = 0x0A


class SseFramer:
    """Turns payloads into complete SSE events, with pre-encoded prefixes for speed."""

    def __init__(self, *, crlf: bool, no_space_after_colon: bool) -> None:
        self.eol: bytes = b"\r\n" if crlf else b"\n"
        separator = b":" if no_space_after_colon else b": "
        # Public so hot paths can fold them into their own pre-encoded templates.
        self.data_prefix: bytes = b"data" + separator
        self.data_suffix: bytes = self.eol + self.eol
        self.event_prefix: bytes = b"event" + separator
        self.comment: bytes = b": keep-alive" + self.eol + self.eol

    def data_event(self, payload: bytes) -> bytes:
        """`data: <payload>` followed by the blank line that ends the event."""
        return self.data_prefix + payload + self.data_suffix

    def named_event(self, name: bytes, payload: bytes) -> bytes:
        """`event: <name>` then `data: <payload>` then the blank line."""
        return self.event_prefix + name + self.eol + self.data_prefix + payload + self.data_suffix


def compact_json(value: Any) -> bytes:
    """JSON the way both providers send it: no spaces, raw UTF-8 (not \\u escapes).

    Half of a surrogate pair (a scenario cutting an emoji between two fragments) has no
    UTF-8 form: then everything non-ASCII is escaped, as servers that escape all do.
    """
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode()


@lru_cache(maxsize=4096)
def json_string(text: str) -> bytes:
    """A JSON string literal; cached since scenarios stream the same tokens again."""
    return compact_json(text)


def hostile_cut_points(data: bytes) -> list[int]:
    """Offsets at which to cut `data` so that a naive client parser breaks.

    Cuts land between "\\r" and "\\n", right after the lead byte of every multi-byte
    UTF-8 character, between the two newlines ending an event, and otherwise at
    irregular small intervals so that cuts also fall inside "data:" prefixes and JSON.
    """
    cuts: set[int] = set()
    for offset in range(1, len(data)):
        previous, current = data[offset - 1], data[offset]
        split_line_ending = previous == _CR and current == _LF
        split_blank_line = previous == _LF and current in (_LF, _CR)
        split_character = (
            previous >= _UTF8_LEAD_MIN
            and current & _UTF8_CONTINUATION_MASK == _UTF8_CONTINUATION_BITS
        )
        if split_line_ending or split_blank_line or split_character:
            cuts.add(offset)
    offset, size_index = 0, 0
    while True:
        offset += _HOSTILE_FRAGMENT_SIZES[size_index % len(_HOSTILE_FRAGMENT_SIZES)]
        size_index += 1
        if offset >= len(data):
            break
        cuts.add(offset)
    return sorted(cuts)


def hostile_fragments(data: bytes) -> list[bytes]:
    """`data` cut at `hostile_cut_points`; the fragments concatenate back to `data`."""
    bounds = [0, *hostile_cut_points(data), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds) if end > start]


def writes_for_batch(
    events: Sequence[bytes],
    token_flags: Sequence[bool],
    chunking: str,
) -> Iterator[tuple[bytes, int]]:
    """Yield (bytes to write, number of token events completed by this write).

    `events` are sent back to back with no pause in between, so coalescing them or
    re-cutting them does not change the timing a scenario asked for.
    """
    if chunking == "event":
        for event, is_token in zip(events, token_flags, strict=True):
            yield event, int(is_token)
        return
    joined = b"".join(events)
    if chunking == "coalesced":
        yield joined, sum(token_flags)
        return
    # Hostile: count a token as sent once the write containing its last byte is out.
    token_ends: list[int] = []
    end = 0
    for event, is_token in zip(events, token_flags, strict=True):
        end += len(event)
        if is_token:
            token_ends.append(end)
    written, next_token = 0, 0
    for fragment in hostile_fragments(joined):
        written += len(fragment)
        completed = 0
        while next_token < len(token_ends) and token_ends[next_token] <= written:
            next_token += 1
            completed += 1
        yield fragment, completed
