"""Markdown rendered while it streams: each finished block once, in time linear in length."""

from __future__ import annotations

import random
import re

import pytest

from chat import rendering
from chat.markdown import render_markdown
from chat.providers.demo import answer_tokens
from chat.rendering import StreamRenderer

# A word and the whitespace after it: how models stream text.
WORD = re.compile(r"\S+\s*")


def stream(text: str, pieces: list[str] | None = None) -> tuple[StreamRenderer, list[str]]:
    """Feed `text` piece by piece as the page's feed does; the HTML sent for each piece."""
    renderer = StreamRenderer()
    appended: list[str] = []
    for piece in pieces if pieces is not None else list(text):
        renderer.feed(piece)
        appended.append(renderer.take_completed_html())
    return renderer, appended


def page_html(renderer: StreamRenderer, appended: list[str]) -> str:
    return "".join(appended) + renderer.tail_html()


def test_the_streamed_page_matches_a_full_render_of_the_demo_answer() -> None:
    tokens = answer_tokens("What can you do?")
    renderer, appended = stream("", tokens)
    assert page_html(renderer, appended) == render_markdown("".join(tokens))


@pytest.mark.parametrize("seed", range(5))
def test_any_split_of_the_text_gives_the_same_page(seed: int) -> None:
    text = "".join(answer_tokens("split me"))
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(text)), 60))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    renderer, appended = stream("", pieces)
    assert page_html(renderer, appended) == render_markdown(text)


def test_each_finished_block_is_rendered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered: list[str] = []

    def counting_render(text: str) -> str:
        rendered.append(text)
        return render_markdown(text)

    monkeypatch.setattr(rendering, "render_markdown", counting_render)
    paragraphs = [f"Paragraph {i} has a few words in it.\n\n" for i in range(20)]
    renderer = StreamRenderer()
    for paragraph in paragraphs:
        for word in WORD.findall(paragraph):
            renderer.feed(word)
            renderer.take_completed_html()
    finished = [text for text in rendered if text.startswith("Paragraph")]
    assert len(finished) == len(set(finished)) == 19  # the last one is still open
    assert renderer.tail_text.startswith("Paragraph 19")


def test_rendering_cost_grows_linearly_with_the_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rendering the tail after every token, as often as the feed could: twice the text
    costs about twice the work, not four times (what re-rendering everything costs)."""
    rendered_chars = 0

    def counting_render(text: str) -> str:
        nonlocal rendered_chars
        rendered_chars += len(text)
        return ""

    monkeypatch.setattr(rendering, "render_markdown", counting_render)

    def cost(paragraph_count: int) -> int:
        nonlocal rendered_chars
        rendered_chars = 0
        renderer = StreamRenderer()
        for i in range(paragraph_count):
            for word in WORD.findall(f"Paragraph {i} has some words, and **bold** ones.\n\n"):
                renderer.feed(word)
                renderer.take_completed_html()
                renderer.tail_html()
        return rendered_chars

    assert cost(400) / cost(200) < 2.2


def test_blank_lines_inside_a_code_fence_do_not_split_it() -> None:
    text = "Intro.\n\n```python\nx = 1\n\n\ny = 2\n```\nAfter.\n"
    renderer, appended = stream(text)
    blocks = [html for html in appended if html]
    assert blocks[0] == "<p>Intro.</p>\n"
    # The whole fence is one block, finished as soon as it closes.
    assert blocks[1].count("<pre") == 1
    assert "y" in blocks[1]
    assert renderer.tail_text == "After.\n"


def test_an_open_code_fence_renders_as_code_while_it_streams() -> None:
    renderer, _ = stream("```python\ndef f():\n    ret")
    assert '<span class="k">def</span>' in renderer.tail_html()
    assert "<pre" in renderer.tail_html()


def test_a_loose_list_stays_one_block() -> None:
    # Split apart, its items would render as tight lists and change spacing at the end.
    text = "1. one\n\n2. two\n\n3. three\n\nAfter.\n\n"
    _, appended = stream(text)
    blocks = [html for html in appended if html]
    assert blocks[0].count("<ol>") == 1
    assert blocks[0].count("<li>") == 3


def test_indented_continuations_stay_with_their_block() -> None:
    text = "- item\n\n  more of the item\n\nNext.\n\n"
    _, appended = stream(text)
    blocks = [html for html in appended if html]
    assert "more of the item" in blocks[0]
    assert blocks[0].count("<li>") == 1


@pytest.mark.parametrize("seen", [1, 5, 17, 30, 44])
def test_a_resumed_renderer_continues_exactly_where_the_page_was(seen: int) -> None:
    """A reader that saw `seen` tokens keeps its blocks and tail; the resumed feed re-reads
    those tokens silently and sends only what comes after, and the page ends up whole."""
    tokens = answer_tokens("resume me")
    before = StreamRenderer()
    page = ""
    for token in tokens[:seen]:
        before.feed(token)
        page += before.take_completed_html()
    tail = before.tail_html()

    resumed = StreamRenderer()
    for token in tokens[:seen]:
        resumed.feed(token)
        resumed.skip_completed()
    for token in tokens[seen:]:
        resumed.feed(token)
        page += resumed.take_completed_html()
        tail = resumed.tail_html()
    assert page + tail == render_markdown("".join(tokens))


def test_windows_line_endings_split_like_unix_ones() -> None:
    renderer, appended = stream("One.\r\n\r\nTwo.")
    assert "".join(appended) == "<p>One.</p>\n"
    assert renderer.tail_html() == "<p>Two.</p>\n"
