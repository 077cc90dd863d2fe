"""Reasoning written inside the answer as `<think>…</think>` (DeepSeek-R1, QwQ and others
behind servers without a reasoning parser), split from the answer as it streams.

Only a block that opens the content counts: a `<think>` later in an answer is text the
model is writing about. A tag may arrive cut across chunks ("<thi", "nk>"), so the end of
a chunk that could be the start of a tag is held back until the next chunk decides it.
"""

from __future__ import annotations

from enum import Enum, auto

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


class _State(Enum):
    START = auto()  # nothing but whitespace so far: a think block may still open
    THINKING = auto()  # inside the block
    AFTER = auto()  # just closed: the blank lines before the answer are dropped
    TEXT = auto()  # the answer; everything is text from here on


def _held_tag_start(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a proper start of `tag`."""
    for length in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-length:]):
            return length
    return 0


class ThinkTagSplitter:
    """Feed content chunks; get back (is_reasoning, text) pieces in order."""

    __slots__ = ("_state", "_held")

    def __init__(self) -> None:
        self._state = _State.START
        self._held = ""

    def feed(self, chunk: str) -> list[tuple[bool, str]]:
        if self._state is _State.TEXT:  # the common case, once the answer runs
            return [(False, chunk)] if chunk else []
        pieces: list[tuple[bool, str]] = []
        text, self._held = self._held + chunk, ""
        while text:
            if self._state is _State.START:
                stripped = text.lstrip()
                if stripped.startswith(OPEN_TAG):
                    self._state, text = _State.THINKING, stripped[len(OPEN_TAG) :]
                elif not stripped or OPEN_TAG.startswith(stripped):
                    self._held, text = text, ""
                else:
                    self._state = _State.TEXT
                    pieces.append((False, text))
                    text = ""
            elif self._state is _State.THINKING:
                end = text.find(CLOSE_TAG)
                if end >= 0:
                    pieces.append((True, text[:end]))
                    self._state, text = _State.AFTER, text[end + len(CLOSE_TAG) :]
                else:
                    held = _held_tag_start(text, CLOSE_TAG)
                    pieces.append((True, text[: len(text) - held]))
                    self._held, text = text[len(text) - held :], ""
            elif self._state is _State.AFTER:
                text = text.lstrip()
                if text:
                    self._state = _State.TEXT
                    pieces.append((False, text))
                    text = ""
            else:
                pieces.append((False, text))
                text = ""
        return [(is_reasoning, piece) for is_reasoning, piece in pieces if piece]

    def finish(self) -> list[tuple[bool, str]]:
        """At the end of the content: what was held back is what it looked like."""
        held, self._held = self._held, ""
        if not held:
            return []
        # A block never closed is all reasoning; a tag never completed is text.
        return [(self._state is _State.THINKING, held)]
