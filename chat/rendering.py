"""Markdown rendered while an answer streams, at a cost linear in its length.

Rendering the whole message again on every token costs O(n²) over an answer. Instead the
text is cut into top-level blocks as it arrives: a block is complete once a blank line is
followed by an unindented line (or its top-level code fence closes), because nothing later
can change how it renders. Each complete block is rendered once and sent once, to be
appended; only the open block at the end (the "tail") is rendered again on updates. Lines
are scanned once each, fence-aware, so a blank line inside ``` code never splits it.

Rendering block by block gives the same HTML as rendering the whole text, except where
markdown reaches across blocks (reference-style link definitions). So when the answer ends,
the page swaps in one full render of the saved text, done once.
"""

from __future__ import annotations

import re

from chat.markdown import render_markdown

FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
LIST_ITEM = re.compile(r"^(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)")
LIST_MARKER_STARTS = frozenset("-+*0123456789")


class StreamRenderer:
    """Feed an answer's text in pieces; take the HTML of completed blocks and of the tail."""

    def __init__(self) -> None:
        # Text from the start of the open block; completed blocks are dropped from it.
        self._text = ""
        # Where the next unscanned line starts, within _text.
        self._scanned = 0
        self._completed: list[str] = []
        # The open fence's marker character and length, while inside a fenced code block.
        self._fence: tuple[str, int] | None = None
        self._fence_top_level = False
        self._after_blank = False
        self._block_is_list = False
        self._tail_html: str | None = ""

    @property
    def tail_text(self) -> str:
        return self._text

    def feed(self, piece: str) -> None:
        if not piece:
            return
        self._text += piece
        self._tail_html = None
        while True:
            newline = self._text.find("\n", self._scanned)
            if newline < 0:
                break
            line_start, self._scanned = self._scanned, newline + 1
            self._scan_line(self._text[line_start:newline].rstrip("\r"), line_start)
        self._scan_line_start()

    def take_completed_html(self) -> str:
        """The HTML of blocks completed since the last call, each rendered exactly once."""
        blocks, self._completed = self._completed, []
        return "".join(render_markdown(block) for block in blocks)

    def skip_completed(self) -> None:
        """Forget completed blocks unrendered: the reader already has them (a resume)."""
        self._completed = []

    def tail_html(self) -> str:
        """The open block rendered; cached until more text arrives."""
        if self._tail_html is None:
            self._tail_html = render_markdown(self._text) if self._text.strip() else ""
        return self._tail_html

    def _scan_line(self, line: str, line_start: int) -> None:
        if self._fence is not None:
            self._scan_fenced_line(line)
            return
        if not line.strip():
            self._after_blank = True
            return
        unindented = line[0] not in " \t"
        is_list_item = unindented and LIST_ITEM.match(line) is not None
        # A loose list stays one block: split apart, its items would render as tight lists
        # and the final full render would then change the spacing (a visible jump).
        if self._after_blank and unindented and not (self._block_is_list and is_list_item):
            self._complete(line_start)
            line_start = 0
        if line_start == 0:
            self._block_is_list = is_list_item
        self._after_blank = False
        fence = FENCE.match(line)
        if fence and not (fence.group(2)[0] == "`" and "`" in fence.group(3)):
            self._fence = (fence.group(2)[0], len(fence.group(2)))
            self._fence_top_level = not fence.group(1)

    def _scan_line_start(self) -> None:
        """Close the block before a new line as soon as its first character settles it.

        Models write a paragraph as one long line: waiting for its end would keep the
        paragraph before it in the tail all that time.
        """
        start = self._text[self._scanned : self._scanned + 1]
        if self._fence is not None or not self._after_blank or not start.strip():
            return
        # After a list, a digit or a marker may begin another item of the same list.
        if self._block_is_list and start in LIST_MARKER_STARTS:
            return
        self._complete(self._scanned)

    def _scan_fenced_line(self, line: str) -> None:
        assert self._fence is not None
        marker, length = self._fence
        closing = FENCE.match(line)
        if (
            closing
            and closing.group(2)[0] == marker
            and len(closing.group(2)) >= length
            and not closing.group(3).strip()
        ):
            self._fence = None
            # A top-level fence ends its block: nothing after it can change how it renders.
            if self._fence_top_level:
                self._complete(self._scanned)

    def _complete(self, end: int) -> None:
        """Everything before `end` is a finished block; the open block starts at `end`."""
        block = self._text[:end]
        if block.strip():
            self._completed.append(block)
        self._text = self._text[end:]
        self._scanned -= end
        self._after_blank = False
        self._block_is_list = False
        self._tail_html = None
