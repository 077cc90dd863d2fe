"""Watching an answer arrive: it grows step by step, rendered, and Stop really stops it."""

from __future__ import annotations

import itertools

from playwright.async_api import Page, expect

from tests.browser.chat_page import (
    ChatPage,
    ask_for_the_long_answer,
    expect_stopped_for_real,
    long_answer,
    tokens_of,
)
from tests.conftest import MakeModel
from tests.fake_upstream import FakeUpstream, Scenario
from tests.live_server import LiveServer

WORDS = [f"word{i} " for i in range(24)]


async def test_visible_text_grows_step_by_step_while_the_answer_streams(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=WORDS, token_delay=0.08))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.record()
    await chat.send("Count for me")
    await chat.wait_finished()

    await expect(chat.answer_body).to_have_text("".join(WORDS).strip())
    samples = [s for s in await chat.samples() if s["streaming"] and s["text"].strip()]
    lengths = [len(s["text"]) for s in samples]
    # Many intermediate states, each longer than the last: never all at once at the end.
    assert len(set(lengths)) >= 8, lengths
    assert lengths == sorted(lengths)
    assert samples[-1]["time"] - samples[0]["time"] > 0.8 * 1000
    assert all("word0" in s["text"] for s in samples)


async def test_fast_tokens_are_painted_at_most_once_per_animation_frame(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    # Far more tokens per second than frames: unbatched, several writes would share a frame.
    many = [f"t{i} " for i in range(400)]
    await make_model(Scenario(tokens=many, token_delay=0.002))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.record()
    await chat.send("Quick")
    await chat.wait_finished()

    samples = await chat.samples()
    frames = [s["frame"] for s in samples]
    assert len(frames) == len(set(frames)), "two DOM writes happened in one frame"
    # And the answer still arrived in pieces, not in one write.
    assert len([s for s in samples if s["streaming"] and s["text"]]) >= 3


async def test_rendering_while_streaming_does_not_make_the_page_jump(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    text = (
        "First paragraph of the answer, a sentence long.\n\n"
        "1. one\n2. two\n3. three\n\n"
        "```python\nx = 1\ny = 2\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "Last words of the answer come here at the end."
    )
    await make_model(Scenario(tokens=tokens_of(text), token_delay=0.04))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.record()
    await chat.send("Show me everything")
    await chat.wait_finished()

    samples = [s for s in await chat.samples() if s["height"]]
    heights = [s["height"] for s in samples]
    # The answer only ever grows: nothing collapses and re-expands, even at the final swap.
    assert all(b >= a - 0.5 for a, b in itertools.pairwise(heights)), heights
    # Once the first block is on screen it never moves.
    tops = {round(s["firstTop"], 1) for s in samples if s["firstTop"] is not None}
    assert len(tops) == 1, tops


async def test_a_typing_indicator_shows_until_the_first_token(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=["Here ", "it ", "is."], ttft=1.0, token_delay=0.05))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("Think first")

    # The question shows at once, and the answer's bubble says the model is typing.
    question = page.locator("#messages .message--user .message__text")
    await expect(question).to_have_text("Think first")
    await expect(chat.answer.locator(".typing")).to_be_visible()
    await expect(chat.answer_body).to_have_text("Here it is.")
    await expect(chat.answer.locator(".typing")).to_be_hidden()


async def test_stop_halts_the_stream_and_the_partial_text_stays_marked_stopped(
    page: Page, server: LiveServer, make_model: MakeModel, upstream: FakeUpstream
) -> None:
    model = await make_model(long_answer())
    chat = ChatPage(page, server.url)
    await ask_for_the_long_answer(chat)
    await expect(chat.send_button).to_be_hidden()
    await chat.stop_button.click()
    # The box has the focus back, ready for the next question.
    await expect(chat.input).to_be_focused()

    shown = await expect_stopped_for_real(chat, upstream, model.scenario_id)
    assert shown.startswith("part0 part1 part2")
    # And it stays that way after a reload.
    await page.reload()
    await expect(chat.answer.locator(".message__notice")).to_have_text("Stopped")
    await expect(chat.answer_body).to_have_text(shown)
    await expect(chat.send_button).to_be_visible()


MARKDOWN_WITH_INJECTIONS = """## Heading two

Some *emphasis*, a [safe link](https://example.com/docs) and `inline code`.

- first item
- second item

| Name | Value |
|------|------:|
| a    | 1     |

```python
def answer() -> int:
    return 42
```

<script>window.__pwned = "script"</script>

<img src="x" onerror="window.__pwned = 'img'">

<a href="javascript:window.__pwned='raw-link'">raw link</a>

[click me](javascript:window.__pwned='link')

The answer keeps going for a while after the code block, so that the page can be seen
rendering it before the end: one two three four five six seven eight nine ten eleven.
"""


async def test_markdown_renders_with_highlighting_and_model_html_never_runs(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=tokens_of(MARKDOWN_WITH_INJECTIONS), token_delay=0.04))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("Format something")

    # Rendered while streaming, not only at the end: the highlighted code block shows up
    # while the answer is still being written.
    streaming_code = page.locator(".message--assistant.is-streaming .code-block .highlight .k")
    await expect(streaming_code.first).to_have_text("def")
    await chat.wait_finished()

    body = chat.answer_body
    await expect(body.locator("h2")).to_have_text("Heading two")
    await expect(body.locator("em")).to_have_text("emphasis")
    await expect(body.locator("li")).to_have_text(["first item", "second item"])
    await expect(body.locator("td")).to_have_text(["a", "1"])
    await expect(body.locator("code").filter(has_text="inline code")).to_be_visible()
    safe_link = body.get_by_role("link", name="safe link")
    await expect(safe_link).to_have_attribute("href", "https://example.com/docs")
    await expect(safe_link).to_have_attribute("rel", "noopener noreferrer nofollow")
    await expect(body.locator(".code-block .highlight .nf")).to_have_text("answer")
    await expect(body.locator(".code-block .code-block__lang")).to_have_text("python")

    # The model's HTML is shown as text; nothing of it runs or becomes an element.
    await expect(body).to_contain_text('<script>window.__pwned = "script"</script>')
    await expect(body).to_contain_text('<img src="x" onerror=')
    assert await page.locator("#messages script, #messages img").count() == 0
    assert await body.get_by_role("link", name="click me").count() == 0
    assert await body.get_by_role("link", name="raw link").count() == 0
    await body.get_by_text("click me").click()
    assert await page.evaluate("window.__pwned") is None
    # The same after a reload, where the server renders the saved message.
    await page.reload()
    await expect(chat.answer_body.locator(".code-block .highlight .k").first).to_have_text("def")
    assert await page.locator("#messages script, #messages img").count() == 0
    assert await page.evaluate("window.__pwned") is None


async def test_auto_scroll_follows_the_answer_until_the_reader_scrolls_up(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    lines = [f"Line {i} of a long answer.\n\n" for i in range(80)]
    await make_model(Scenario(tokens=lines, token_delay=0.05))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("A long one, please")
    messages = page.locator("#messages")
    distance_to_bottom = "e => e.scrollHeight - e.scrollTop - e.clientHeight"
    await expect(chat.answer_body).to_contain_text("Line 20")
    assert await messages.evaluate(distance_to_bottom) < 48

    # The reader scrolls up to read: the page stops following and offers a way back.
    await messages.hover()
    await page.mouse.wheel(0, -600)
    await expect(page.locator("#jump-to-latest")).to_be_visible()
    position = await messages.evaluate("e => e.scrollTop")
    await expect(chat.answer_body).to_contain_text("Line 40")
    assert await messages.evaluate("e => e.scrollTop") == position

    await page.locator("#jump-to-latest").click()
    await chat.wait_finished()
    assert await messages.evaluate(distance_to_bottom) < 48


async def test_escape_in_the_message_box_stops_the_answer_as_the_stop_button_says(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    await make_model(Scenario(tokens=WORDS, token_delay=0.15))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("Go on")
    await expect(chat.answer_body).to_contain_text("word2")
    # The shortcut is on the button, for eyes and for assistive technology.
    await expect(chat.stop_button).to_have_text("Stop Esc", use_inner_text=True)
    await expect(chat.stop_button).to_have_attribute("aria-keyshortcuts", "Escape")
    await expect(chat.stop_button).to_have_accessible_name("Stop")

    await expect(chat.input).to_be_focused()
    await page.keyboard.press("Escape")
    await chat.wait_finished("stopped")
    assert "word23" not in await chat.answer_body.inner_text()
    await expect(chat.input).to_be_focused()


# The streaming cursor's box and the end of the answer's last line of text, measured in one
# go (a later paint could move both).
CURSOR_AND_TEXT_END = """
(answer) => {
  const cursor = answer.querySelector('.stream-cursor').getBoundingClientRect()
  const body = answer.querySelector('.message__body')
  const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT)
  let last = null
  while (walker.nextNode()) if (walker.currentNode.data.trim()) last = walker.currentNode
  const range = document.createRange()
  range.setStart(last, last.data.trimEnd().length)
  const end = [...range.getClientRects()].pop()
  return {cursor: [cursor.left, cursor.top, cursor.height], end: [end.right, end.top, end.height],
          animation: getComputedStyle(answer.querySelector('.stream-cursor')).animationName}
}
"""


async def test_a_blinking_cursor_marks_the_end_of_a_streaming_answer(
    page: Page, server: LiveServer, make_model: MakeModel
) -> None:
    text = "A first paragraph.\n\n- an item\n- another item\n\nAnd the last words " * 2
    await make_model(Scenario(tokens=tokens_of(text), token_delay=0.08))
    chat = ChatPage(page, server.url)
    await chat.open()
    await chat.send("Type slowly")
    cursor = chat.answer.locator(".stream-cursor")
    for words in ("first paragraph", "another item", "last words"):
        await expect(chat.answer_body).to_contain_text(words)
        await expect(cursor).to_be_visible()
        seen = await chat.answer.evaluate(CURSOR_AND_TEXT_END)
        (left, top, height), (right, line_top, line_height) = seen["cursor"], seen["end"]
        # Right after the last character, on its line.
        assert 0 <= left - right < 8, seen
        assert abs(top - line_top) < 2 and abs(height - line_height) < 2, seen
        assert seen["animation"] == "stream-cursor"
    await chat.wait_finished()
    await expect(cursor).to_have_count(0)
