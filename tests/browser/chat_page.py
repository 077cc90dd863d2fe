"""What a person does on the chat page, and what they see, for the browser tests."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Locator, Page, expect

from chat.models import Message
from tests.fake_upstream import FakeUpstream, Scenario
from tests.fake_upstream.scenarios import split_words_keeping_spaces

# Installed in the page before an answer streams: after every DOM change under #messages,
# note the animation frame, the answer's visible text and its bubble's geometry.
RECORDER = """
() => {
  window.__frame = 0
  const tick = () => { window.__frame++; requestAnimationFrame(tick) }
  requestAnimationFrame(tick)
  window.__samples = []
  const messages = document.getElementById('messages')
  new MutationObserver(() => {
    const answer = [...messages.querySelectorAll('.message--assistant')].pop()
    const body = answer?.querySelector('.message__body')
    const first = body?.querySelector('.md-blocks > :first-child')
    window.__samples.push({
      frame: window.__frame,
      time: performance.now(),
      streaming: Boolean(answer?.classList.contains('is-streaming')),
      text: body ? body.innerText : '',
      height: body ? body.getBoundingClientRect().height : 0,
      firstTop: first ? first.getBoundingClientRect().top - body.getBoundingClientRect().top : null,
    })
  }).observe(messages, { childList: true, subtree: true, characterData: true, attributes: true })
}
"""

CONVERSATION_URL = re.compile(r"/c/[0-9a-f-]{36}/$")


# Long enough to be stopped part way: 12 s of words.
LONG_ANSWER_WORDS = [f"part{i} " for i in range(80)]


def long_answer() -> Scenario:
    return Scenario(tokens=LONG_ANSWER_WORDS, token_delay=0.15)


def tokens_of(text: str) -> list[str]:
    """The text as word tokens, the way a model streams it."""
    return split_words_keeping_spaces(text)


class ChatPage:
    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url

    async def open(self, path: str = "/") -> None:
        await self.page.goto(self.base_url + path)
        # chat.js is a module (deferred): wait until it has wired the composer.
        await expect(self.input).to_be_editable()

    @property
    def input(self) -> Locator:
        return self.page.locator("#composer-input")

    @property
    def send_button(self) -> Locator:
        return self.page.locator("#send-button")

    @property
    def stop_button(self) -> Locator:
        return self.page.locator("#stop-button")

    @property
    def answers(self) -> Locator:
        return self.page.locator("#messages .message--assistant")

    @property
    def answer(self) -> Locator:
        return self.answers.last

    @property
    def answer_body(self) -> Locator:
        return self.answer.locator(".message__body")

    async def send(self, text: str) -> None:
        await self.input.fill(text)
        await self.input.press("Enter")

    async def wait_finished(self, status: str = "complete") -> None:
        await expect(self.answer).to_have_attribute("data-status", status)

    async def record(self) -> None:
        await self.page.evaluate(RECORDER)

    async def samples(self) -> list[dict[str, Any]]:
        return await self.page.evaluate("window.__samples")

    async def conversation_id(self) -> str:
        await expect(self.page).to_have_url(CONVERSATION_URL)
        return self.page.url.rstrip("/").rsplit("/", 1)[-1]


async def ask_for_the_long_answer(chat: ChatPage) -> None:
    """Opens the chat and asks; returns once a few words of `long_answer()` are shown."""
    await chat.open()
    await chat.send("Talk for a long time")
    await expect(chat.answer_body).to_contain_text("part2")


async def expect_stopped_for_real(chat: ChatPage, upstream: FakeUpstream, scenario_id: str) -> str:
    """The long answer ended `stopped`, says so, and was saved so: the model's request was
    cancelled on the server, not merely ignored by the page. Returns the text shown."""
    await chat.wait_finished("stopped")
    await expect(chat.answer.locator(".message__notice")).to_have_text("Stopped")
    recorded = await upstream.await_closed(scenario_id)
    assert recorded.client_closed_early
    assert recorded.tokens_sent < len(LONG_ANSWER_WORDS)
    shown = await chat.answer_body.inner_text()
    assert LONG_ANSWER_WORDS[-1].strip() not in shown
    saved = await Message.objects.aget(pk=await chat.answer.get_attribute("data-message-id"))
    assert saved.status == "stopped"
    assert saved.content.strip() == shown.strip()
    return shown
